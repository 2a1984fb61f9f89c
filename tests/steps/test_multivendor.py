"""show, backup/diff, config (check and real), a rejected line and compliance on every lab switch model.

The multi-vendor lab (``multilab`` in netlab_support.py): fake-switches' Cisco IOS, Arista EOS, Brocade
FastIron and Dell OS6 models over their CLI (netmiko), and its Juniper model over NETCONF (ncclient), with
the emulator's gaps patched by the lab launcher (remote_support/lab/netlab.py). Which is tested how:

- IOS, EOS, FastIron, OS6: netmiko over SSH on the emulator, parsed with ntc-templates where a template
  exists (IOS/EOS/FastIron ``show version``; OS6 has none);
- Junos: NETCONF on the emulator (``connection: netconf``): commit check, commit, backups in the curly
  form and in ``set`` lines. The Junos CLI commit path (netmiko ``juniper_junos``) has no emulator; its
  error recognition and config reading are tested on recorded outputs in tests/steps/test_netplatform.py.
"""

from __future__ import annotations

import pytest

from netlab_support import MULTI_MODELS, model_host, running_config
from remote_support.journal import Journal
from remote_support.results import Status
from task_support import run_task, steps_of, write_task

#: per model: a VLAN as the platform writes it, the line the running config shows for it, and a line
#: the device rejects with the text it rejects it with
PLATFORM = {
    "ios": (["vlan {n}", " name MV{n}"], "name MV{n}", "spanning-tree frobnicate", "% Invalid input"),
    "eos": (["vlan {n}", "name MV{n}"], "name MV{n}", "frobnicate", "% Invalid input"),
    "fastiron": (["vlan {n} name MV{n}"], "vlan {n} name MV{n}", "frobnicate", "Invalid input -> frobnicate"),
    "os6": (["vlan {n}", "name MV{n}", "exit"], "name MV{n}", "frobnicate", "% Invalid input"),
    "junos": (["set vlans MV{n} vlan-id {n}"], "vlan-id {n};", "set frobnicate the switch", "error: syntax error"),
}


def vlan_lines(model: str, number: int) -> list[str]:
    return [line.format(n=number) for line in PLATFORM[model][0]]


def config_task(tmp_path, lines: list[str], name: str = "config.yml", **extra):
    import yaml

    args = yaml.safe_dump({"lines": lines, **extra}, default_flow_style=True, width=10_000).strip()
    return write_task(tmp_path, f"""
        name: config
        steps:
          - name: config
            config: {args}
    """, name=name)


SHOW = {
    "ios": ("show version", True, lambda rows, host: rows[0]["hostname"] == host.name),
    "eos": ("show version", True, lambda rows, host: rows[0]["image"] == "4.20.8M"),
    "fastiron": ("show version", True, lambda rows, host: rows[0]["sw_version"] == ["08.0.30eT203"]),
    "os6": ("show vlan", False, None),
    "junos": ("show configuration", False, None),
}


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_show_and_parse_on_every_model(multilab, tmp_path, model):
    host = model_host(multilab, model, 1)
    command, parse, check = SHOW[model]
    task = write_task(tmp_path, f"""
        name: show
        steps:
          - name: show
            show: {{commands: "{command}", parse: {str(parse).lower()}}}
    """)
    step = steps_of(run_task(task, [host]))["show"]
    assert step.status is Status.OK, step.reason
    if parse:
        assert check(step.data["parsed"], host), step.data["parsed"]
    if model == "os6":
        assert "VLAN   Name" in step.stdout
        parsed = steps_of(run_task(write_task(tmp_path, """
            name: show
            steps:
              - name: show
                show: {commands: show vlan, parse: true}
        """, name="parse.yml"), [host]))["show"]
        assert parsed.status is Status.FAILED and "cannot parse 'show vlan' for dell_os6" in parsed.reason


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_config_check_then_real_then_idempotent_on_every_model(multilab, tmp_path, model):
    host = model_host(multilab, model)
    shown = PLATFORM[model][1].format(n=610)
    task = config_task(tmp_path, vlan_lines(model, 610))
    before = running_config(host)
    check = steps_of(run_task(task, [host], check=True, diff=True))["config"]
    assert check.status is Status.CHANGED, check.reason
    assert any(line.startswith("+") and shown.strip() in line for line in check.diff.splitlines()), check.diff
    assert running_config(host) == before  # check mode changed nothing on the device
    if model == "junos":
        assert "commit check passed" in check.reason
    real = steps_of(run_task(task, [host]))["config"]
    assert real.status is Status.CHANGED, real.reason
    assert shown in running_config(host)
    again = steps_of(run_task(task, [host]))["config"]
    assert again.status is Status.OK, (again.reason, again.data)


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_a_rejected_line_fails_naming_it_and_nothing_is_saved(multilab, tmp_path, model):
    host = model_host(multilab, model)
    bad, error = PLATFORM[model][2:]
    task = config_task(tmp_path, [*vlan_lines(model, 620), bad])
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.FAILED, step.reason
    assert error in step.reason and bad.split()[-1] in step.reason, step.reason
    log = step.data.get("session_log", "")
    assert "write mem" not in log and "copy running-config" not in log  # not saved after the rejection
    if model == "junos":
        assert "MV620" not in running_config(host)  # nothing of a failed commit is applied


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_backup_versions_and_diff_on_every_model(multilab, tmp_path, model):
    host = model_host(multilab, model, 1)
    backup = write_task(tmp_path, """
        name: backup
        steps:
          - name: backup
            backup: {}
    """, name="backup.yml")
    change = config_task(tmp_path, vlan_lines(model, 630), name="change.yml")
    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    if model == "junos":  # the emulated Junos starts empty: nothing to back up yet
        assert run_task(config_task(tmp_path, vlan_lines(model, 631), name="first.yml"), [host]).hosts[0].status \
            is Status.CHANGED
    with Journal.open(url) as journal:
        for _ in range(2):  # the second backup of an unchanged device keeps no new version
            run = run_task(backup, [host])
            assert run.hosts[0].status is Status.OK, run.hosts[0].reason
            run_id = journal.start_run(kind="task", name="backup", command=None, params={}, inventory=[],
                                       pattern="all", check=False, diff=False, ticket=None, operator=None,
                                       hosts=[host.name], tool_version="test")
            journal.record_host(run_id, run.hosts[0])
            journal.finish_run(run_id, run)
        assert len(journal.config_versions(host.name)) == 1
        assert run_task(change, [host]).hosts[0].status is Status.CHANGED
        run = run_task(backup, [host])
        run_id = journal.start_run(kind="task", name="backup", command=None, params={}, inventory=[],
                                   pattern="all", check=False, diff=False, ticket=None, operator=None,
                                   hosts=[host.name], tool_version="test")
        journal.record_host(run_id, run.hosts[0])
        journal.finish_run(run_id, run)
        assert len(journal.config_versions(host.name)) == 2
        diff = journal.config_diff(host.name)
    shown = PLATFORM[model][1].format(n=630)
    assert any(line.startswith("+") and shown.strip() in line for line in diff.splitlines()), diff
    if model == "junos":
        assert "vlans {" in run.hosts[0].steps[0].data["config"]  # the curly form


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_compliance_on_every_model(multilab, tmp_path, model):
    host = model_host(multilab, model)
    assert run_task(config_task(tmp_path, vlan_lines(model, 640), name="setup.yml"), [host]).hosts[0].status \
        in (Status.CHANGED, Status.OK)
    golden = "\n".join(vlan_lines(model, 640)) + "\n"
    lacking = "\n".join(vlan_lines(model, 641)) + "\n"
    task = write_task(tmp_path, """
        name: compliance
        steps:
          - name: good
            compliance: {template: good.j2}
          - name: bad
            compliance: {template: bad.j2}
            ignore_errors: true
    """, name="compliance.yml", templates={"good.j2": golden, "bad.j2": lacking})
    steps = steps_of(run_task(task, [host]))
    assert steps["good"].status is Status.OK, steps["good"].reason
    assert steps["bad"].status is Status.FAILED
    failed = [r for r in steps["bad"].data["rules"] if not r["passed"]]
    assert failed and any("641" in line for line in failed[0]["offending"]), failed


# ------------------------------------------------------------------ Dell OS6: flat config semantics

def test_os6_a_line_present_in_another_section_is_still_pushed(multilab, tmp_path):
    """The old indentation parser saw `shutdown` anywhere in the flat config and skipped the change."""
    host = model_host(multilab, "os6", 1)
    first = config_task(tmp_path, ["interface tengigabitethernet 0/0/1", "shutdown", "exit"], name="a.yml")
    assert steps_of(run_task(first, [host]))["config"].status in (Status.CHANGED, Status.OK)
    second = config_task(tmp_path, ["interface tengigabitethernet 0/0/2", "shutdown", "exit"], name="b.yml")
    step = steps_of(run_task(second, [host], check=True, diff=True))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert step.data["missing"] == ["interface tengigabitethernet 0/0/2", " shutdown"]
    # the diff shows the new block inside the config, before the closing `exit` of `configure`
    body = [line for line in step.diff.splitlines()[2:] if not line.startswith("@@")]
    after = [line[1:] for line in body if line[:1] in " +"]
    assert after[-4:] == ["interface tengigabitethernet 0/0/2", "shutdown", "exit", "exit"], step.diff
    assert [line for line in body if line.startswith("-")] == []
    real = steps_of(run_task(second, [host]))["config"]
    assert real.status is Status.CHANGED, real.reason
    config = running_config(host)
    assert "interface tengigabitethernet 0/0/2\nshutdown\nexit" in config


def test_os6_section_rule_does_not_pass_vacuously(multilab, tmp_path):
    host = model_host(multilab, "os6", 1)
    setup = config_task(tmp_path, ["interface tengigabitethernet 1/0/1", 'description "UNUSED"', "exit"])
    assert steps_of(run_task(setup, [host]))["config"].status in (Status.CHANGED, Status.OK)
    task = write_task(tmp_path, """
        name: compliance
        steps:
          - name: compliance
            compliance:
              rules:
                - {name: unused ports shut, section: "^interface ", when_matches: "UNUSED", require: shutdown}
    """, name="rules.yml")
    step = steps_of(run_task(task, [host]))["compliance"]
    assert step.status is Status.FAILED, step.data
    rule = step.data["rules"][0]
    assert rule["checked"] == 1 and rule["offending"] == ["interface tengigabitethernet 1/0/1: missing shutdown"]


def test_os6_indented_input_is_pushed_flat_and_a_nested_section_is_refused(multilab, tmp_path):
    host = model_host(multilab, "os6", 1)
    task = config_task(tmp_path, ["vlan 650", " name INDENTED"], name="indented.yml")
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert "vlan 650\nname INDENTED\nexit" in running_config(host)
    before = running_config(host)
    nested = config_task(tmp_path, ["interface tengigabitethernet 1/0/2", " vlan 651"], name="nested.yml")
    refused = steps_of(run_task(nested, [host]))["config"]
    assert refused.status is Status.FAILED and "nothing pushed" in refused.reason
    assert "sections do not nest" in refused.reason
    assert running_config(host) == before


def test_junos_refuses_lines_that_are_not_set_statements_before_pushing(multilab, tmp_path):
    host = model_host(multilab, "junos")
    task = config_task(tmp_path, ["vlans { X { vlan-id 5; } }"], name="curly.yml")
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.FAILED and "nothing pushed" in step.reason and "`set ...`" in step.reason


def test_commit_confirmed_is_refused_where_there_is_no_commit(multilab, tmp_path):
    host = model_host(multilab, "ios", 1)
    before = running_config(host)
    step = steps_of(run_task(config_task(tmp_path, ["vlan 670"], confirmed=5), [host]))["config"]
    assert step.status is Status.FAILED and "needs a device configured by commit" in step.reason
    assert running_config(host) == before


def test_junos_backup_in_set_form_and_commit_confirmed(multilab, tmp_path):
    host = model_host(multilab, "junos", 1, config_format="set")
    task = config_task(tmp_path, ["set vlans CONFIRMED vlan-id 660"], name="confirmed.yml", confirmed=5)
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert "commit confirmed 5" in step.command
    config = running_config(host)
    assert "set vlans CONFIRMED vlan-id 660" in config.splitlines()


#: ports to put in the VLAN; none on EOS (the emulator knows no `switchport mode access`) and Junos (its
#: emulated ethernet-switching drops the NETCONF session on an access-port member)
PORTS = {"ios": "FastEthernet0/9", "eos": "", "fastiron": "ethernet 1/3", "os6": "tengigabitethernet 1/0/2",
         "junos": ""}


@pytest.mark.parametrize("model", MULTI_MODELS)
def test_shipped_net_vlan_writes_each_platforms_lines(multilab, model):
    from pathlib import Path

    task = Path(__file__).resolve().parents[2] / "tasks" / "net-vlan.yml"
    host = model_host(multilab, model, 1)
    params = {"vlan_id": "690", "vlan_name": "SHIPPED", "ports": PORTS[model]}
    check = run_task(task, [host], check=True, diff=True, extra_vars=params)
    step = steps_of(check)["add the VLAN and assign ports"]
    assert step.status is Status.CHANGED, step.reason
    real = run_task(task, [host], extra_vars=params)
    assert real.hosts[0].status is Status.CHANGED, real.hosts[0].reason
    again = run_task(task, [host], extra_vars=params)
    assert again.hosts[0].status is Status.OK, steps_of(again)["add the VLAN and assign ports"].data


def test_lab_up_refuses_an_unknown_switch_model_listing_the_known_ones(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "remote_support", "lab", "up", "0", "--switches", "2",
                             "--switch-models", "ios,nexus"], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "REMOTE_SUPPORT_HOME": str(tmp_path)}, timeout=60)
    assert result.returncode == 5, result.stderr
    assert "unknown switch model(s) 'nexus'" in result.stderr and "ios, eos, fastiron, os6, junos" in result.stderr
    assert not (tmp_path / "netlab").exists()  # refused before anything started
