"""show and config steps on emulated Cisco IOS switches, through the real runner and executor."""

from __future__ import annotations

import time

from netlab_support import NETLAB_SIZE, netlab_hosts
from remote_support.connections import connect
from remote_support.connections.base import ConnectOptions
from remote_support.results import Status
from task_support import run_task, steps_of, write_task


def running_config(host) -> str:
    connection = connect(host, ConnectOptions())
    connection.open()
    try:
        return connection.get_config()
    finally:
        connection.close()


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
