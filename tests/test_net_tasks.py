"""The shipped network tasks (tasks/net-*.yml with templates/) through the real runner, netmiko and SSH.

On the session netlab (emulated Cisco IOS switches), except the fleet test, which starts its own lab of
FLEET_SIZE switches on a network of its own. `show interfaces status` and `show ip interface brief` are
not in the emulator's command set: net-interface-status is checked against recorded outputs of real
IOS devices, parsed with the same ntc-templates the step uses.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from netlab_support import NETLAB_VENV, netlab_hosts, running_config
from remote_support.inventory import load_inventory
from remote_support.journal import Journal
from remote_support.lab.netlab import NetLab
from remote_support.results import Status
from remote_support.steps.netshow import parse_output
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

ROOT = Path(__file__).resolve().parents[1]
NET_TASKS = ["net-backup", "net-compliance", "net-interface-status", "net-vlan"]
FLEET_NETWORK = os.environ.get("RS_TEST_NETLAB_FLEET_NETWORK", "127.48.0.0")
FLEET_SIZE = 50


def task(name: str) -> Path:
    return ROOT / "tasks" / f"{name}.yml"


def journaled(journal: Journal, task_path, hosts, **kwargs):
    run_id = journal.start_run(kind="task", name=Path(task_path).stem, command=None, params={}, inventory=[],
                               pattern="all", check=False, diff=False, ticket=None, operator=None,
                               hosts=[h.name for h in hosts], tool_version="test")
    result = run_task(task_path, hosts, **kwargs)
    for host in result.hosts:
        journal.record_host(run_id, host)
    journal.finish_run(run_id, result)
    return run_id, result


@pytest.mark.parametrize("name", NET_TASKS)
def test_net_task_loads_describes_itself_and_supports_network_devices(name):
    loaded = load_task(task(name))
    assert loaded.name and loaded.description.strip()
    assert loaded.connections == (("network",) if name == "net-interface-status" else ("network", "netconf"))
    for param in loaded.params:
        assert param.description, f"{name}: parameter {param.name} has no description"


def test_net_vlan_check_mode_then_add_assign_ports_then_remove(netlab, tmp_path):
    host = netlab_hosts(netlab, [9])[0]
    params = {"vlan_id": "470", "vlan_name": "PRINTERS", "ports": "FastEthernet0/5,FastEthernet0/6"}
    check = run_task(task("net-vlan"), [host], check=True, diff=True, extra_vars=params)
    step = steps_of(check)["add the VLAN and assign ports"]
    assert step.status is Status.CHANGED, step.reason
    assert "+vlan 470" in step.diff and "+ switchport access vlan 470" in step.diff
    assert "vlan 470" not in running_config(host)

    real = run_task(task("net-vlan"), [host], extra_vars=params)
    assert real.hosts[0].status is Status.CHANGED, real.hosts[0].reason
    config = running_config(host)
    assert "vlan 470\n name PRINTERS" in config
    for port in ("FastEthernet0/5", "FastEthernet0/6"):
        section = config.split(f"interface {port}\n", 1)[1].split("!", 1)[0]
        assert "switchport access vlan 470" in section and "switchport mode access" in section
    again = run_task(task("net-vlan"), [host], extra_vars=params)
    assert again.hosts[0].status is Status.OK, steps_of(again)["add the VLAN and assign ports"].reason

    removed = run_task(task("net-vlan"), [host], extra_vars={"vlan_id": "470", "state": "absent"})
    assert steps_of(removed)["remove the VLAN"].status is Status.CHANGED, removed.hosts[0].reason
    assert "\nvlan 470\n" not in running_config(host)
    gone = run_task(task("net-vlan"), [host], extra_vars={"vlan_id": "470", "state": "absent"})
    assert gone.hosts[0].status is Status.OK and steps_of(gone)["remove the VLAN"].status is Status.SKIPPED


def test_net_vlan_refuses_bad_parameters(netlab):
    host = netlab_hosts(netlab, [9])[0]
    run = run_task(task("net-vlan"), [host], extra_vars={"vlan_id": "5000", "ports": "Fa0/1;reload"})
    step = steps_of(run)["check parameters"]
    assert step.status is Status.FAILED and "vlan_id must be 2 to 4094" in step.reason


def test_mixed_inventory_linux_hosts_and_switches_in_one_run(lab, netlab, tmp_path):
    linux = lab_hosts(lab, [0, 1], connection="ssh")
    switches = netlab_hosts(netlab, [0, 1])
    hosts = [linux[0], switches[0], linux[1], switches[1]]
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as journal:
        _, run = journaled(journal, task("net-backup"), hosts)
        assert [h.status for h in run.hosts] == [Status.SKIPPED, Status.OK, Status.SKIPPED, Status.OK]
        assert "supports network, netconf hosts, not ssh" in run.hosts[0].steps[0].reason
        for switch in switches:
            assert [v.version for v in journal.config_versions(switch.name)] == [1]
        assert journal.config_versions(linux[0].name) == []

    both = write_task(tmp_path, """
        name: mixed
        steps:
          - name: kernel
            command: uname -s
            changed_when: false
            when: connection == 'ssh'
          - name: version
            show: {commands: show version, parse: true}
            when: connection == 'network'
          - name: backup
            backup: {}
            when: connection == 'network'
    """)
    run = run_task(both, hosts)
    assert [h.status for h in run.hosts] == [Status.OK] * 4, [h.reason for h in run.hosts]
    assert steps_of(run, 0)["kernel"].stdout.strip() == "Linux"
    assert steps_of(run, 1)["version"].data["parsed"][0]["hostname"] == switches[0].name
    assert steps_of(run, 1)["backup"].data["config_backup"]["lines"] > 10


@pytest.fixture(scope="module")
def fleet(remote_support_home, tmp_path_factory):
    """FLEET_SIZE switches of their own, on FLEET_NETWORK; stopped by PID at the end."""
    lab = NetLab(tmp_path_factory.mktemp("netlab-fleet"), network=FLEET_NETWORK, venv=NETLAB_VENV)
    try:
        lab.up(FLEET_SIZE)
        yield lab
    finally:
        lab.down()


def test_net_backup_and_compliance_on_fifty_devices_in_parallel(fleet, tmp_path):
    hosts = list(load_inventory([str(fleet.inventory_path)]).hosts.values())
    assert len(hosts) == FLEET_SIZE
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as journal:
        started = time.monotonic()
        _, run = journaled(journal, task("net-backup"), hosts, forks=FLEET_SIZE)
        elapsed = time.monotonic() - started
        print(f"\nnet-backup: {FLEET_SIZE} switches, journal included, in {elapsed:.2f}s")
        assert [h.status for h in run.hosts] == [Status.OK] * FLEET_SIZE, [h.reason for h in run.hosts]
        for h in hosts:
            version = journal.config_version(h.name)
            assert version.version == 1 and f"hostname {h.name}\n" in version.text

        # change a third of them, back up again: exactly those get a second version
        changed = hosts[::3]
        vlan = write_task(tmp_path, """
            name: vlan
            steps:
              - name: vlan
                config: {lines: ["vlan 480", " name FLEET"]}
        """)
        assert [h.status for h in run_task(vlan, changed, forks=FLEET_SIZE).hosts] == [Status.CHANGED] * len(changed)
        _, run = journaled(journal, task("net-backup"), hosts, forks=FLEET_SIZE)
        assert [h.status for h in run.hosts] == [Status.OK] * FLEET_SIZE
        counts = {h.name: len(journal.config_versions(h.name)) for h in hosts}
        assert counts == {h.name: 2 if h in changed else 1 for h in hosts}
        assert "+vlan 480\n" in journal.config_diff(changed[-1].name)

    compliance = run_task(task("net-compliance"), [replace(h, vars={**h.vars, "ntp_servers": ["192.0.2.99"]})
                                                    for h in hosts], forks=FLEET_SIZE)
    assert [h.status for h in compliance.hosts] == [Status.FAILED] * FLEET_SIZE
    rules = {r["name"]: r["passed"] for r in steps_of(compliance, 3)["check compliance"].data["rules"]}
    assert rules["ntp server 192.0.2.99"] is False and rules["no SNMP community public"] is True


# real IOS output (a Catalyst 2960, 15.2), as `show interfaces status` / `show ip interface brief` print it
SHOW_INTERFACES_STATUS = """\

Port      Name               Status       Vlan       Duplex  Speed Type
Fa0/1     PRINTER-2F         connected    20         a-full  a-100 10/100BaseTX
Fa0/2     UNUSED             disabled     999          auto   auto 10/100BaseTX
Fa0/3                        notconnect   1            auto   auto 10/100BaseTX
Gi0/1     UPLINK-CORE        connected    trunk      a-full a-1000 10/100/1000BaseTX
"""
SHOW_IP_INTERFACE_BRIEF = """\
Interface              IP-Address      OK? Method Status                Protocol
Vlan1                  unassigned      YES NVRAM  administratively down down
Vlan20                 10.20.0.2       YES NVRAM  up                    up
FastEthernet0/1        unassigned      YES unset  up                    up
FastEthernet0/2        unassigned      YES unset  administratively down down
"""


def test_net_interface_status_parses_real_ios_outputs():
    loaded = load_task(task("net-interface-status"))
    commands = [s.args["commands"] for s in loaded.steps if s.args.get("parse")]
    assert commands == ["show interfaces status", "show ip interface brief"]
    status = parse_output("cisco_ios", commands[0], SHOW_INTERFACES_STATUS)
    assert [(r["port"], r["status"], r["vlan_id"]) for r in status] == [
        ("Fa0/1", "connected", "20"), ("Fa0/2", "disabled", "999"), ("Fa0/3", "notconnect", "1"),
        ("Gi0/1", "connected", "trunk")]
    ip = parse_output("cisco_ios", commands[1], SHOW_IP_INTERFACE_BRIEF)
    assert [(r["interface"], r["ip_address"], r["status"]) for r in ip][:2] == [
        ("Vlan1", "unassigned", "administratively down"), ("Vlan20", "10.20.0.2", "up")]
    summary = next(s for s in loaded.steps if s.name == "summary")
    from remote_support.templating import Templar

    text = Templar().render(summary.args["success_msg"], {"status": {"parsed": status}, "ip": {"parsed": ip}},
                            where="summary")
    assert " ".join(text.split()) == "2 of 4 port(s) connected; 1 interface(s) with an IP address"
