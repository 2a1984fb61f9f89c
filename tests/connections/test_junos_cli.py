"""The Junos CLI commit path (netmiko juniper_junos) against a peer answering with a real device's recorded outputs.

fake-switches' Juniper models speak NETCONF only (tested in test_netconf.py and test_multivendor.py);
tests/junos_cli_peer.py is a real SSH server whose shell replies as a recorded Junos 20.4 EX switch did.
"""

from __future__ import annotations

import pytest

from junos_cli_peer import JunosCLIPeer
from lab_support import LAB_NETWORK
from remote_support.inventory import Host
from remote_support.results import Status
from task_support import run_task, steps_of, write_task

ADDRESS = LAB_NETWORK.rsplit(".", 1)[0] + ".250"  # in the test lab's network, above its hosts


@pytest.fixture
def junos(tmp_path):
    with JunosCLIPeer(ADDRESS, "s3cret-cli") as peer:
        known = tmp_path / "known_hosts"
        known.write_text(peer.known_hosts_line())
        host = Host(name="ex-01", vars={
            "address": ADDRESS, "port": peer.port, "user": "admin", "password": "s3cret-cli",
            "connection": "network", "device_type": "juniper_junos", "config_format": "set",
            "known_hosts_file": str(known)}, groups=())
        yield peer, host


def config(tmp_path, lines, name="config.yml", **extra):
    import yaml

    args = yaml.safe_dump({"lines": lines, **extra}, default_flow_style=True, width=10_000).strip()
    return write_task(tmp_path, f"""
        name: config
        steps:
          - name: config
            config: {args}
    """, name=name)


def test_check_mode_is_commit_check_then_rollback(junos, tmp_path):
    peer, host = junos
    step = steps_of(run_task(config(tmp_path, ["set vlans DATA vlan-id 40"]), [host], check=True, diff=True))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert "commit check passed" in step.reason and "+set vlans DATA vlan-id 40" in step.diff
    assert "commit check" in peer.commands and "rollback 0" in peer.commands
    assert not any(c.startswith("commit and-quit") for c in peer.commands)
    assert "set vlans DATA vlan-id 40" not in peer.running


def test_commit_then_idempotent(junos, tmp_path):
    peer, host = junos
    task = config(tmp_path, ["set vlans DATA vlan-id 40"])
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert "commit and-quit" in peer.commands and "set vlans DATA vlan-id 40" in peer.running
    again = steps_of(run_task(task, [host]))["config"]
    assert again.status is Status.OK, again.reason
    assert peer.commands.count("commit and-quit") == 1


def test_commit_confirmed(junos, tmp_path):
    peer, host = junos
    step = steps_of(run_task(config(tmp_path, ["set vlans TEMP vlan-id 41"], confirmed=5), [host]))["config"]
    assert step.status is Status.CHANGED, step.reason
    assert "commit confirmed 5 and-quit" in peer.commands
    assert "rolled back in 5 minutes" in step.stdout


def test_a_rejected_line_rolls_back_and_names_it(junos, tmp_path):
    peer, host = junos
    task = config(tmp_path, ["set vlans X vlan-id 42", "set frobnicate the switch"])
    step = steps_of(run_task(task, [host]))["config"]
    assert step.status is Status.FAILED
    assert "'set frobnicate the switch'" in step.reason and "syntax error." in step.reason, step.reason
    assert "rollback 0" in peer.commands and not any(c.startswith("commit") for c in peer.commands)
    assert "set vlans X vlan-id 42" not in peer.running


def test_a_failed_commit_check_fails_check_mode(junos, tmp_path):
    peer, host = junos
    step = steps_of(run_task(config(tmp_path, ["set vlans BAD vlan-id 5000"]), [host], check=True))["config"]
    assert step.status is Status.FAILED
    assert "error: configuration check-out failed" in step.reason, step.reason
    assert "rollback 0" in peer.commands and "set vlans BAD vlan-id 5000" not in peer.running


@pytest.mark.slow  # 11 s: netmiko waits a fixed 10 s for the configuration prompt
def test_a_netmiko_failure_is_a_failed_step_with_the_devices_words(junos, tmp_path):
    """Not an internal error without a step record: netmiko's exception becomes the step's reason.

    netmiko waits a fixed 10 s for `Entering configuration mode`; the reason says so, not the 30 s limit.
    """
    peer, host = junos
    peer.locked_by = "ops"
    run = run_task(config(tmp_path, ["set vlans DATA vlan-id 40"]), [host])
    step = steps_of(run)["config"]
    assert run.hosts[0].status is Status.FAILED and step.status is Status.FAILED
    assert "waited for the pattern '(?s:Entering configuration mode" in step.reason, step.reason
    assert "the limit was 30s" in step.reason and "no answer after 30" not in step.reason
    assert "the device said: error: configuration database locked by:" in step.reason, step.reason
