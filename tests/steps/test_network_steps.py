"""show, config, backup and compliance steps on emulated Cisco IOS switches, through the real runner and executor."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from netlab_support import NETLAB_SIZE, netlab_hosts, running_config
from remote_support.cli.config import config as config_cli
from remote_support.errors import TemplateError
from remote_support.journal import Journal
from remote_support.report import render_html
from remote_support.results import Status
from remote_support.steps.compliance import evaluate, golden_rules
from remote_support.steps.netbackup import clean_config
from task_support import run_task, steps_of, write_task


def test_show_with_parse(netlab, tmp_path):
    task = write_task(tmp_path, """
        name: show version
        steps:
          - name: version
            show: {commands: show version, parse: true}
            register: v
          - name: check
            assert:
              that: "v.parsed[0].hostname == inventory_hostname"
          - name: two
            show: {commands: [show version, show vlan]}
    """)
    run = run_task(task, netlab_hosts(netlab, [2]))
    steps = steps_of(run)
    assert run.hosts[0].status is Status.OK, run.hosts[0].reason
    assert steps["version"].data["parsed"][0]["version"].startswith("12.2")
    assert set(steps["two"].data["outputs"]) == {"show version", "show vlan"}


def test_config_check_mode_pushes_nothing_then_real_run(netlab, tmp_path):
    host = netlab_hosts(netlab, [3])[0]
    task = write_task(tmp_path, """
        name: vlan
        steps:
          - name: vlan
            config:
              lines: ["vlan 420", "name VOICE"]
    """)
    check = run_task(task, [host], check=True, diff=True)
    step = steps_of(check)["vlan"]
    assert step.status is Status.CHANGED, step.reason
    assert "+vlan 420" in step.diff and "+name VOICE" in step.diff
    assert "vlan 420" not in running_config(host)

    real = run_task(task, [host])
    assert steps_of(real)["vlan"].status is Status.CHANGED, steps_of(real)["vlan"].reason
    assert "vlan 420\n name VOICE" in running_config(host)

    again = run_task(task, [host])
    assert steps_of(again)["vlan"].status is Status.OK  # already there: nothing pushed


def test_config_invalid_line_fails_naming_it(netlab, tmp_path):
    task = write_task(tmp_path, """
        name: bad
        steps:
          - name: bad
            config:
              lines: ["vlan 430", "spanning-tree frobnicate"]
              save: false
    """)
    run = run_task(task, netlab_hosts(netlab, [4]))
    step = steps_of(run)["bad"]
    assert step.status is Status.FAILED
    assert "'spanning-tree frobnicate'" in step.reason and "% Invalid input" in step.reason


def test_ten_devices_in_parallel(netlab, tmp_path):
    task = write_task(tmp_path, """
        name: fleet
        steps:
          - name: before
            show: show running-config
          - name: vlan
            config:
              lines: ["vlan 440", "name FLEET"]
          - name: after
            show: show running-config
            register: after
          - name: verify
            assert:
              that: "'name FLEET' in after.stdout"
    """)
    started = time.monotonic()
    run = run_task(task, netlab_hosts(netlab, range(NETLAB_SIZE)), forks=NETLAB_SIZE)
    elapsed = time.monotonic() - started
    print(f"\n{NETLAB_SIZE} switches: connect, show, config, save, verify in {elapsed:.2f}s")
    assert [h.status for h in run.hosts] == [Status.CHANGED] * NETLAB_SIZE, [h.reason for h in run.hosts]


# ------------------------------------------------------------------ backup, compliance

def journaled(journal: Journal, task, hosts, **kwargs):
    """Run a task and record it in ``journal`` as the CLI does; returns (run id, RunResult)."""
    run_id = journal.start_run(kind="task", name=str(task), command=None, params={}, inventory=[], pattern="all",
                               check=False, diff=False, ticket=None, operator=None, hosts=[h.name for h in hosts],
                               tool_version="test")
    result = run_task(task, hosts, **kwargs)
    for host in result.hosts:
        journal.record_host(run_id, host)
    journal.finish_run(run_id, result)
    return run_id, result


BACKUP = """
    name: backup
    steps:
      - name: backup
        backup: {}
"""


def test_backup_keeps_versions_only_on_change_with_history_and_diff(netlab, tmp_path):
    host = netlab_hosts(netlab, [5])[0]
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    task = write_task(tmp_path, BACKUP)
    vlan = write_task(tmp_path, """
        name: vlan
        steps:
          - name: vlan
            config: {lines: ["vlan 450", " name BACKUPTEST"]}
    """, name="vlan.yml")
    with Journal.open(url) as journal:
        first, run = journaled(journal, task, [host])
        step = steps_of(run)["backup"]
        assert step.status is Status.OK, step.reason
        assert step.data["config"].startswith("version ") and "Current configuration" not in step.data["config"]
        second, _ = journaled(journal, task, [host])  # nothing changed on the device
        assert [v.run_id for v in journal.config_versions(host.name)] == [first]
        recorded = journal.get_run(second).hosts[0].steps[0].data["config_backup"]
        assert (recorded["version"], recorded["changed"]) == (1, False)
        assert run_task(vlan, [host]).hosts[0].status is Status.CHANGED
        third, _ = journaled(journal, task, [host])
        assert [v.version for v in journal.config_versions(host.name)] == [2, 1]
        diff = journal.config_diff(host.name)
        assert "+vlan 450\n" in diff and "+ name BACKUPTEST\n" in diff and f"run {third})" in diff

    cli = CliRunner()
    history = cli.invoke(config_cli, ["history", host.name, "--journal", url])
    assert history.exit_code == 0, history.output
    assert re.search(rf"^\s+2\s+\S+ \S+\s+{third}", history.output, re.M)
    assert re.search(rf"^\s+1\s+\S+ \S+\s+{first}", history.output, re.M)
    for argv in (["diff", host.name], ["diff", host.name, "1", "2"], ["diff", host.name, "1", "-1"]):
        shown = cli.invoke(config_cli, [*argv, "--journal", url])
        assert shown.exit_code == 0 and "+vlan 450" in shown.output, (argv, shown.output)
    shown = cli.invoke(config_cli, ["show", host.name, "1", "--journal", url])
    assert shown.exit_code == 0 and "vlan 450" not in shown.output and "hostname sw-006" in shown.output
    missing = cli.invoke(config_cli, ["diff", "sw-none", "--journal", url])
    assert missing.exit_code != 0 and "no config of sw-none" in str(missing.exception)


def test_backup_on_a_linux_host_says_it_needs_a_network_device(lab, tmp_path):
    from task_support import lab_hosts

    run = run_task(write_task(tmp_path, BACKUP), lab_hosts(lab, [0]))
    step = steps_of(run)["backup"]
    assert step.status is Status.FAILED and "need a network device" in step.reason


def test_clean_config_drops_volatile_lines():
    raw = ("\r\nBuilding configuration...\r\n\r\nCurrent configuration : 388 bytes\r\n"
           "! Last configuration change at 10:01:02 UTC Tue Nov 24 2026 by admin\r\nversion 15.2\r\nhostname a\r\n\r\n")
    assert clean_config(raw) == "version 15.2\nhostname a\n"
    assert clean_config(raw, [r"^hostname "]) == "version 15.2\n"


COMPLIANT_TEMPLATE = """\
hostname {{ inventory_hostname }}
vlan {{ mgmt_vlan }}
 name MGMT
"""

RULES = [
    {"name": "unused interfaces shut", "section": "^interface ", "when_matches": "^description UNUSED",
     "require": "shutdown"},
    {"forbid": "^snmp-server community public( |$)"},
    {"require_regex": "^vlan \\d+$"},
]


def compliance_task(tmp_path, rules=RULES, template="golden-lab.j2", name="compliance.yml"):
    import yaml

    return write_task(tmp_path, f"""
        name: compliance
        vars: {{mgmt_vlan: 460}}
        steps:
          - name: compliance
            compliance:
              template: {template}
              rules: {yaml.safe_dump(rules, default_flow_style=True, width=10_000).strip()}
    """, name=name, templates={"golden-lab.j2": COMPLIANT_TEMPLATE})


def test_compliance_passes_then_fails_naming_rule_and_lines(netlab, tmp_path):
    host = netlab_hosts(netlab, [6])[0]
    task = compliance_task(tmp_path)
    before = steps_of(run_task(task, [host]))["compliance"]
    assert before.status is Status.FAILED  # vlan 460 is not there yet
    rules = {r["name"]: r for r in before.data["rules"]}
    assert rules["vlan 460"] == {"name": "vlan 460", "kind": "template golden-lab.j2", "passed": False,
                                 "offending": ["vlan 460", " name MGMT"], "checked": 1}
    assert rules["hostname sw-007"]["passed"] and rules["unused interfaces shut"]["passed"]
    assert "1 of 5 rule(s) failed: vlan 460" in before.reason

    setup = write_task(tmp_path, """
        name: setup
        steps:
          - name: setup
            config:
              lines: ["vlan 460", " name MGMT", "interface FastEthernet0/7", " description UNUSED", " shutdown"]
    """, name="setup.yml")
    assert run_task(setup, [host]).hosts[0].status is Status.CHANGED
    passing = steps_of(run_task(task, [host]))["compliance"]
    assert passing.status is Status.OK, passing.reason
    assert passing.data["compliance"] == {"passed": 5, "failed": 0, "rules": 5, "template": "golden-lab.j2",
                                          "compliant": True}
    assert next(r for r in passing.data["rules"] if r["name"] == "unused interfaces shut")["checked"] == 1

    unshut = write_task(tmp_path, """
        name: unshut
        steps:
          - name: unshut
            config:
              lines: ["interface FastEthernet0/8", " description UNUSED"]
    """, name="unshut.yml")
    assert run_task(unshut, [host]).hosts[0].status is Status.CHANGED
    failing = steps_of(run_task(task, [host]))["compliance"]
    assert failing.status is Status.FAILED
    shut = next(r for r in failing.data["rules"] if r["name"] == "unused interfaces shut")
    assert shut["passed"] is False and shut["offending"] == ["interface FastEthernet0/8: missing shutdown"]
    assert "not compliant: 1 of 5 rule(s) failed: unused interfaces shut" == failing.reason


def test_shipped_net_compliance_fails_a_bare_switch_and_the_report_shows_the_table(netlab, tmp_path):
    from pathlib import Path

    task = Path(__file__).resolve().parents[2] / "tasks" / "net-compliance.yml"
    hosts = netlab_hosts(netlab, [7, 8])
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as journal:
        run_id, run = journaled(journal, task, hosts)
        assert [h.status for h in run.hosts] == [Status.FAILED, Status.FAILED]
        rules = {r["name"]: r for r in steps_of(run)["check compliance"].data["rules"]}
        assert not rules["ntp server 192.0.2.10"]["passed"] and not rules["ip ssh version 2"]["passed"]
        assert not rules["login banner set"]["passed"]
        assert rules["no SNMP community public"]["passed"] and rules["unused interfaces shut"]["passed"]
        page = render_html(journal.get_run(run_id, full_output=True))
    assert '<h2 id="compliance">Compliance</h2>' in page
    assert page.count('<table class="rules">') == 2
    assert "<td>ntp server 192.0.2.10</td>" in page and "login banner set" in page
    assert re.search(r'<td><a href="#host-1">sw-008</a></td><td>check compliance</td>\s*<td><span class="status '
                     r's-failed">fail</span></td>', page)


def test_shipped_golden_template_and_rules_pass_a_compliant_config():
    from pathlib import Path

    import yaml

    from remote_support.steps.compliance import load_rules
    from remote_support.templating import Templar

    root = Path(__file__).resolve().parents[2] / "templates"
    golden = Templar([root]).render_file("golden-ios.j2", {"ntp_servers": ["192.0.2.10"], "domain_name": "corp.example",
                                                           "syslog_servers": ["192.0.2.20"]})
    config = """\
version 15.2
service timestamps log datetime msec localtime
service password-encryption
hostname acc-sw-01
ip domain-name corp.example
ip ssh version 2
interface GigabitEthernet1/0/1
 description UPLINK
interface GigabitEthernet1/0/2
 description UNUSED
 switchport access vlan 999
 shutdown
snmp-server community n0t-Publ1c RO
logging trap informational
logging host 192.0.2.20
banner motd ^C
Authorized access only
^C
line vty 0 4
 login local
 transport input ssh
ntp server 192.0.2.10
end
"""
    rules = load_rules(root / "golden-ios-rules.yml")
    results = golden_rules(config, golden, "golden-ios.j2") + [evaluate(config, r) for r in rules]
    assert [r["name"] for r in results if not r["passed"]] == []
    assert len(results) == 8 + len(yaml.safe_load((root / "golden-ios-rules.yml").read_text())["rules"])
    bad = config.replace("n0t-Publ1c", "public").replace(" shutdown\n", "").replace("transport input ssh",
                                                                                       "transport input telnet ssh")
    failed = {r["name"]: r["offending"] for r in (evaluate(bad, rule) for rule in rules) if not r["passed"]}
    assert failed == {"no SNMP community public": ["snmp-server community public RO"],
                      "no telnet on vty lines": ["line vty 0 4: transport input telnet ssh"],
                      "vty lines take SSH only": ["line vty 0 4: missing no line matches '^transport input ssh$'"],
                      "unused interfaces shut": ["interface GigabitEthernet1/0/2: missing shutdown"]}


def test_a_golden_template_that_does_not_render_fails_clearly(netlab, tmp_path):
    host = netlab_hosts(netlab, [6])[0]
    syntax = write_task(tmp_path / "syntax", """
        name: bad template
        steps:
          - name: compliance
            compliance: {template: broken.j2}
    """, templates={"broken.j2": "hostname {{ inventory_hostname\n"})
    with pytest.raises(TemplateError, match=r"broken\.j2"):
        run_task(syntax, [host])  # found before anything runs
    undefined = write_task(tmp_path / "undefined", """
        name: bad template
        steps:
          - name: compliance
            compliance: {template: "{{ golden }}"}
    """, templates={"undef.j2": "ntp server {{ ntp_server.primary }}\n"})
    run = run_task(undefined, [host], extra_vars={"golden": "undef.j2", "ntp_server": "x"})
    step = steps_of(run)["compliance"]
    assert step.status is Status.FAILED and "undef.j2" in step.reason and "primary" in step.reason


def test_a_rules_file_that_does_not_parse_fails_naming_file_and_line(netlab, tmp_path):
    from remote_support.errors import TaskError

    host = netlab_hosts(netlab, [6])[0]
    task = write_task(tmp_path, """
        name: bad rules
        steps:
          - name: compliance
            compliance: {rules: rules.yml}
    """, templates={"rules.yml": "rules:\n  - {require: 'ip ssh version 2'\n  - {forbid: x}\n"})
    step = steps_of(run_task(task, [host]))["compliance"]
    assert step.status is Status.FAILED
    assert re.search(r"rules file \S+templates/rules\.yml:\d+ does not parse as YAML", step.reason), step.reason
    (tmp_path / "templates" / "rules.yml").write_text("- {require: 'ip ssh version 2', forbid: telnet}\n")
    step = steps_of(run_task(task, [host]))["compliance"]
    assert step.status is Status.FAILED and "rule 1: a rule needs exactly one of" in step.reason
    (tmp_path / "templates" / "rules.yml").write_text("- {forbid: '(unclosed'}\n")
    step = steps_of(run_task(task, [host]))["compliance"]
    assert "is not a valid regex" in step.reason
    missing = write_task(tmp_path, """
        name: no rules
        steps:
          - name: compliance
            compliance: {rules: nowhere.yml}
    """, name="missing.yml")
    assert "rules file 'nowhere.yml' not found" in steps_of(run_task(missing, [host]))["compliance"].reason
    with pytest.raises(TaskError, match=r"unknown key\(s\) 'requires'"):
        compliance_task(tmp_path, rules=[{"requires": "x"}], name="inline.yml") and run_task(
            tmp_path / "inline.yml", [host])
