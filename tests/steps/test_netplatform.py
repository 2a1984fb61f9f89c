"""The per-platform configuration model (steps/netplatform.py, hier_config) and device error lines, on recorded texts.

No device needed: the texts below are outputs of real devices (IOS, EOS, Junos CLI, FastIron, Dell OS6,
NX-OS) as they show them; the lab's emulators are exercised in test_multivendor.py. The Junos CLI path
(netmiko ``juniper_junos``, which no emulator here offers) is checked here: reading ``show configuration``
in both forms and recognising its errors.
"""

from __future__ import annotations

import pytest

from remote_support.connections.junos import configuration_element, curly_to_set, set_to_xml, xml_to_curly
from remote_support.connections.netdevice import _offending_line, cli_errors
from remote_support.steps.compliance import evaluate, golden_rules
from remote_support.steps.netbackup import clean_config
from remote_support.steps.netconfig import missing_lines
from remote_support.steps.netplatform import (ConfigSyntaxError, check_lines, diff_texts, missing, platform_for,
                                              push_lines)

IOS = """\
Building configuration...

Current configuration : 1203 bytes
!
version 15.2
hostname acc-sw-01
!
vlan 420
 name OTHER
!
interface GigabitEthernet1/0/1
 description UPLINK
 switchport mode trunk
!
interface GigabitEthernet1/0/2
 shutdown
!
line vty 0 4
 transport input ssh
!
end
"""

# `show running-config` of a Dell N4032F (OS6 6.3): flat, every block ended by exit
OS6 = """\
!Current Configuration:
!System Description "Dell Networking N4032F, 6.3.3.10, Linux 3.7.10-e500mc"
!System Software Version 6.3.3.10
!
configure
vlan 10,20
exit
vlan 10
name "Data"
exit
hostname "dist-sw-02"
interface Te1/0/1
description "UNUSED"
switchport access vlan 10
exit
interface Te1/0/2
shutdown
exit
exit
"""

# `show configuration` of a Junos 20.4 EX switch
JUNOS = """\
## Last commit: 2026-11-30 10:01:22 UTC by admin
version 20.4R3.8;
system {
    host-name ex-01;
    services {
        ssh;
    }
}
interfaces {
    ge-0/0/1 {
        description uplink;
        unit 0 {
            family ethernet-switching {
                vlan {
                    members VOICE;
                }
            }
        }
    }
}
vlans {
    VOICE {
        vlan-id 30;
    }
}
"""

# Junos CLI answers (configuration mode), as a session shows them
JUNOS_SYNTAX_ERROR = """\
set interfaces ge-0/0/1 frobnicate
                        ^
syntax error.

[edit]
admin@ex-01# """
JUNOS_COMMIT_CHECK_FAILED = """\
commit check
[edit interfaces ge-0/0/1 unit 0 family ethernet-switching vlan]
  'members VOICEX'
    No vlan matches vlan tag 0 for interface ge-0/0/1.0
error: configuration check-out failed

[edit]
admin@ex-01# """
FASTIRON_REJECTED = "SSH@icx-01(config)#vlan 30 nme VOICE\nInvalid input -> nme VOICE\nType ? for a list\n"
FASTIRON_PORT_ERROR = "SSH@icx-01(config-vlan-30)#no untagged ethe 1/1/4\nError: ports ethe 1/1/4 are not untagged " \
                      "members of vlan 30\n"
OS6_REJECTED = "console(config)#vlan 5000\n\n          Failure Information\n---\n   VLAN             Error\n" \
               "VLAN 5000      ERROR: VLAN ID is out of range\n"
NXOS_REJECTED = "n9k(config)# feature frobnicate\n                      ^\n% Invalid command at '^' marker.\n"
EOS_REJECTED = "eos-01(config)#vlan 5000\n% Invalid input\n"


# ------------------------------------------------------------------ idempotent line checks

def test_ios_lines_are_looked_for_in_their_section():
    assert missing_lines(IOS, ["interface GigabitEthernet1/0/2", " shutdown"]) == []
    # `shutdown` exists, but not in Gi1/0/1: the change is needed
    assert missing_lines(IOS, ["interface GigabitEthernet1/0/1", " shutdown"]) == [
        "interface GigabitEthernet1/0/1", " shutdown"]
    # lines typed flat, as on the CLI, are found inside the section the device shows them in
    assert missing_lines(IOS, ["vlan 420", "name OTHER"]) == []
    assert missing_lines(IOS, ["vlan 420", "name VOICE"]) == ["vlan 420", " name VOICE"]
    assert missing_lines(IOS, ["no vlan 420"]) == ["no vlan 420"]
    assert missing_lines(IOS, ["interface GigabitEthernet1/0/2", " shutdown", " exit", "end"]) == []
    assert missing_lines(IOS, ["no vlan 999"]) == []


def test_os6_flat_blocks_are_sections():
    os6 = platform_for("dell_os6")
    assert missing_lines(OS6, ["interface Te1/0/2", "shutdown", "exit"], "dell_os6") == []
    # the old parser found `shutdown` at the top of the flat config and reported this as present
    assert missing_lines(OS6, ["interface Te1/0/1", "shutdown", "exit"], "dell_os6") == [
        "interface Te1/0/1", " shutdown"]
    assert missing_lines(OS6, ['hostname "dist-sw-02"'], "dell_os6") == []
    # indented input means the same, and is pushed flat with exit after each block
    wanted = ["vlan 30", " name VOICE", "interface Te1/0/3", " shutdown"]
    tree = missing(os6, OS6, wanted)
    assert push_lines(os6, tree) == ["vlan 30", "name VOICE", "exit", "interface Te1/0/3", "shutdown", "exit"]


def test_junos_curly_and_set_forms_compare_as_set_lines():
    assert missing_lines(JUNOS, ["set vlans VOICE vlan-id 30", "set system services ssh"], "juniper_junos") == []
    assert missing_lines(JUNOS, ["set vlans DATA vlan-id 40"], "juniper_junos") == ["set vlans DATA vlan-id 40"]
    as_set = "\n".join(curly_to_set(JUNOS))
    assert "set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members VOICE" in as_set.splitlines()
    assert missing_lines(as_set, ["set vlans VOICE vlan-id 30"], "juniper_junos") == []
    assert missing_lines(JUNOS, ["delete vlans VOICE"], "juniper_junos") == ["delete vlans VOICE"]
    assert missing_lines(JUNOS, ["delete vlans NONE"], "juniper_junos") == []


def test_junos_xml_round_trip():
    lines = ["set vlans VOICE vlan-id 30", 'set vlans VOICE description "voice and video"',
             "set interfaces ge-0/0/2 disable", "set protocols rstp interface ge-0/0/1 edge",
             "set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members VOICE"]
    xml = set_to_xml(lines)
    assert "<vlans><vlan><name>VOICE</name><vlan-id>30</vlan-id>" in xml
    assert "<interface><name>ge-0/0/2</name><disable/></interface>" in xml
    curly = xml_to_curly(configuration_element(xml))
    assert "vlans {\n    VOICE {\n        vlan-id 30;\n        description \"voice and video\";" in curly
    assert sorted(curly_to_set(curly)) == sorted(lines)
    assert '<vlan operation="delete"><name>OLD</name></vlan>' in set_to_xml(["delete vlans OLD"])


# ------------------------------------------------------------------ diffs: missing lines in their section

def test_ios_diff_shows_lines_in_their_section_and_new_sections_before_end():
    ios = platform_for("cisco_ios")
    tree = missing(ios, IOS, ["interface GigabitEthernet1/0/1", " shutdown", "ntp server 192.0.2.10"])
    before, after = diff_texts(ios, IOS, tree)
    assert before == IOS
    assert " switchport mode trunk\n shutdown\n!\ninterface GigabitEthernet1/0/2" in after
    assert after.endswith(" transport input ssh\n!\nntp server 192.0.2.10\nend\n")  # not after `end`


def test_os6_diff_adds_lines_before_the_block_exit():
    os6 = platform_for("dell_os6")
    tree = missing(os6, OS6, ["interface Te1/0/1", "shutdown", "exit", "vlan 30", "name VOICE", "exit"])
    _, after = diff_texts(os6, OS6, tree)
    assert 'description "UNUSED"\nswitchport access vlan 10\nshutdown\nexit\n' in after
    assert after.endswith("interface Te1/0/2\nshutdown\nexit\nvlan 30\nname VOICE\nexit\nexit\n")


def test_junos_diff_shows_the_statement_inside_its_block():
    junos = platform_for("juniper_junos")
    tree = missing(junos, JUNOS, ["set vlans DATA vlan-id 40"])
    before, after = diff_texts(junos, JUNOS, tree)
    assert "vlans {\n    VOICE {\n        vlan-id 30;\n    }\n    DATA {\n        vlan-id 40;\n    }\n}" in after
    assert "DATA" not in before


# ------------------------------------------------------------------ bad input: refused before pushing

@pytest.mark.parametrize("device_type, lines, message", [
    ("dell_os6", ['hostname "x"', " name VOICE"], "does not open a section on Dell OS6"),
    ("dell_os6", ["interface Te1/0/1", " vlan 30"], "sections do not nest"),
    ("cisco_ios", [" shutdown"], "indented but has no section line above it"),
    ("juniper_junos", ["vlans { VOICE { vlan-id 30; } }"], "Junos is configured with `set ...`"),
    ("juniper_junos", ["vlan 30"], "Junos is configured with `set ...`"),
])
def test_constructs_a_platform_cannot_express_are_refused(device_type, lines, message):
    with pytest.raises(ConfigSyntaxError, match=message):
        check_lines(platform_for(device_type), lines)
    check_lines(platform_for("dell_os6"), ["vlan 30", " name VOICE", "exit"])  # fine


# ------------------------------------------------------------------ compliance per platform

def test_os6_section_rules_see_the_flat_blocks():
    rule = {"name": "unused ports shut", "section": "^interface ", "when_matches": "UNUSED", "require": "shutdown"}
    result = evaluate(OS6, rule, "dell_os6")
    assert result["checked"] == 1 and result["offending"] == ["interface Te1/0/1: missing shutdown"]
    # read as IOS text, the flat config has no sections (and repeats `exit`): refused, not passed vacuously
    with pytest.raises(ConfigSyntaxError, match="is device_type cisco_ios right"):
        evaluate(OS6, rule, "cisco_ios")


def test_junos_section_rules_see_its_blocks():
    rule = {"name": "unused ports disabled", "section": "^interfaces ", "when_matches": "^description UNUSED",
            "require": "disable"}
    config = JUNOS.replace("        description uplink;\n", "        description UNUSED;\n")
    result = evaluate(config, rule, "juniper_junos")
    assert result["checked"] == 1 and result["offending"] == ["interfaces ge-0/0/1: missing disable"]
    assert evaluate(JUNOS, rule, "juniper_junos")["checked"] == 0
    assert evaluate(JUNOS, {"require": "set vlans VOICE vlan-id 30"}, "juniper_junos")["passed"]
    assert evaluate(JUNOS, {"forbid": "^set system services telnet"}, "juniper_junos")["passed"]


def test_golden_template_on_os6_and_junos():
    golden = golden_rules(OS6, 'vlan 10\nname "Data"\nexit\ninterface Te1/0/2\nshutdown\ndescription "X"\nexit\n',
                          "golden.j2", "dell_os6")
    assert [(r["name"], r["passed"], r["offending"]) for r in golden] == [
        ("vlan 10", True, []), ("interface Te1/0/2", False, ["interface Te1/0/2", ' description "X"'])]
    junos = golden_rules(JUNOS, "set system services ssh\nset system ntp server 192.0.2.10\n", "g.j2", "juniper_junos")
    assert [(r["passed"], r["offending"]) for r in junos] == [(True, []),
                                                            (False, ["set system ntp server 192.0.2.10"])]


def test_backup_drops_the_junos_commit_stamp():
    assert clean_config(JUNOS).startswith("version 20.4R3.8;\n")


# ------------------------------------------------------------------ device errors per platform

@pytest.mark.parametrize("device_type, output, line, error", [
    ("juniper_junos", JUNOS_SYNTAX_ERROR, "set interfaces ge-0/0/1 frobnicate", "syntax error."),
    ("juniper_junos", JUNOS_COMMIT_CHECK_FAILED, None, "error: configuration check-out failed"),
    ("brocade_fastiron", FASTIRON_REJECTED, "vlan 30 nme VOICE", "Invalid input -> nme VOICE"),
    ("ruckus_fastiron", FASTIRON_PORT_ERROR, "no untagged ethe 1/1/4",
     "Error: ports ethe 1/1/4 are not untagged members of vlan 30"),
    ("dell_os6", OS6_REJECTED, "vlan 5000", "VLAN 5000      ERROR: VLAN ID is out of range"),
    ("cisco_nxos", NXOS_REJECTED, "feature frobnicate", "% Invalid command at '^' marker."),
    ("arista_eos", EOS_REJECTED, "vlan 5000", "% Invalid input"),
])
def test_each_platforms_error_lines_are_recognised(device_type, output, line, error):
    errors = cli_errors(device_type)
    found = [m.group(0).strip() for m in errors.finditer(output)]
    assert found and found[0] == error.strip(), found
    if line:
        assert _offending_line(output, [line, "exit"], errors) == line
    # the same texts from another platform's CLI are not taken for errors there, where they are not
    if device_type.startswith(("brocade", "ruckus")):
        assert not list(cli_errors("cisco_ios").finditer(output))


def test_shipped_golden_templates_for_os6_and_junos():
    from pathlib import Path

    from remote_support.steps.compliance import load_rules
    from remote_support.templating import Templar

    root = Path(__file__).resolve().parents[2] / "templates"
    site = {"ntp_servers": ["192.0.2.10"], "syslog_servers": ["192.0.2.20"]}
    os6 = OS6.replace('description "UNUSED"\n', 'description "UNUSED"\nshutdown\n').replace("exit\nexit\n", "exit\nsntp server 192.0.2.10\nlogging 192.0.2.20\nexit\nip ssh server\n"
                      "line ssh\nlogin authentication default\nexit\nexit\n")
    junos = JUNOS.replace("        ssh;\n", "        ssh {\n            root-login deny;\n        }\n") \
        .replace("    host-name ex-01;\n", "    host-name ex-01;\n    ntp {\n        server 192.0.2.10;\n    }\n"
                 "    syslog {\n        host 192.0.2.20 {\n            any any;\n        }\n    }\n")
    for name, config, device_type in (("os6", os6, "dell_os6"), ("junos", junos, "juniper_junos")):
        golden = Templar([root]).render_file(f"golden-{name}.j2", site)
        rules = load_rules(root / f"golden-{name}-rules.yml")
        results = golden_rules(config, golden, f"golden-{name}.j2", device_type) + \
            [evaluate(config, rule, device_type) for rule in rules]
        assert [r["name"] for r in results if not r["passed"]] == [], (name, results)
    bad = os6.replace('description "UNUSED"\nshutdown\n', 'description "UNUSED"\n').replace("sntp server 192.0.2.10\n", "")
    golden = Templar([root]).render_file("golden-os6.j2", site)
    failed = [r["name"] for r in golden_rules(bad, golden, "g", "dell_os6") +
              [evaluate(bad, r, "dell_os6") for r in load_rules(root / "golden-os6-rules.yml")] if not r["passed"]]
    assert failed == ["sntp server 192.0.2.10", "unused interfaces shut"]
