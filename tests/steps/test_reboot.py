"""reboot on a lab host whose "reboot" is simulated: the test plays the machine that goes down and comes back.

This machine cannot be rebooted, so the reboot command is a script that asks for a reboot by writing a file
of the test; a thread of the test sees it, stops that one host's sshd (by the PID in its pidfile), cuts the
host's SSH sessions, and a second later writes a new boot id and starts the sshd again, as a rebooted host
would come back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

HOST_INDEX = 40  # used by no other test of tests/steps: its sshd is restarted here


@pytest.fixture
def scratch(request):
    prefix = f"/tmp/rs-t-{request.node.name}"
    yield prefix
    for path in Path("/tmp").glob(Path(prefix).name + "*"):
        path.unlink(missing_ok=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``: an sshd's sessions and what runs in them."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        below = [child for child, parent in parents.items() if parent in frontier]
        found += below
        frontier = below
    return found


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class SimulatedMachine(threading.Thread):
    """Waits for a reboot request, then 'reboots' one lab host: its sshd goes away, and comes back with a new
    boot id."""

    def __init__(self, lab, host_name: str, request: Path, boot_id: Path, down_for: float = 1.0):
        super().__init__(daemon=True)
        self.lab = lab
        self.files = next(h for h in lab._state_hosts() if h.name == host_name)
        self.request = request
        self.boot_id = boot_id
        self.down_for = down_for
        self.old_pid = _read_pid(self.files.pidfile)
        self.new_pid: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            deadline = time.monotonic() + 30
            while not self.request.exists():
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            sessions = _descendants(self.old_pid)  # before the listener goes: then they are init's children
            self.lab._kill([self.old_pid])  # no new connections from here on
            for pid in sessions:  # and the open ones drop, as they do when a host goes down
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(self.down_for)
            self.boot_id.write_text("boot-2\n")
            self.new_pid = self.lab._start([self.files], 15.0)[self.files.name]
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_reboot_waits_for_the_host_to_come_back_with_a_new_boot_id(lab, tmp_path, scratch):
    host = lab_hosts(lab, [HOST_INDEX])[0]
    boot_id = Path(f"{scratch}-boot_id")
    boot_id.write_text("boot-1\n")
    request = Path(f"{scratch}-requested")
    reboot = Path(f"{scratch}-reboot.sh")
    reboot.write_text(f"touch {request}\nsleep 5\n")
    task = write_task(tmp_path, f"""
        name: reboot
        steps:
          - name: reboot
            reboot:
              reboot_command: sh {reboot}
              boot_id_command: cat {boot_id}
              reboot_timeout: 30
            become: true
          - name: after
            command: cat {boot_id}
        """)
    machine = SimulatedMachine(lab, host.name, request, boot_id)

    check = steps_of(run_task(task, [host], check=True))["reboot"]
    assert check.status is Status.SKIPPED and check.reason == "check mode: would reboot"
    assert boot_id.read_text() == "boot-1\n" and not request.exists()

    machine.start()
    run = run_task(task, [host])
    machine.join(20)
    assert machine.error is None, machine.error
    steps = steps_of(run)
    assert steps["reboot"].status is Status.CHANGED, steps["reboot"].reason
    assert steps["reboot"].data["boot_id"] == "boot-2" and steps["reboot"].data["previous_boot_id"] == "boot-1"
    assert steps["reboot"].data["elapsed"] >= 1.0  # it really was down for a second
    assert steps["after"].stdout == "boot-2\n"  # later steps run on the new connection
    assert machine.new_pid is not None and machine.new_pid != machine.old_pid
    assert _read_pid(machine.files.pidfile) == machine.new_pid


def test_reboot_that_never_happens_times_out(lab, tmp_path):
    host = lab_hosts(lab, [HOST_INDEX])[0]
    task = write_task(tmp_path, """
        name: reboot
        steps:
          - name: reboot
            reboot: {reboot_command: "true", reboot_timeout: 2}
            become: true
        """)
    started = time.monotonic()
    step = steps_of(run_task(task, [host]))["reboot"]
    assert step.status is Status.FAILED
    assert step.reason.startswith("timed out after 2s waiting for the host to come back (last: the boot id has "
                                  "not changed")
    assert time.monotonic() - started < 10


def test_reboot_command_that_fails_is_reported(lab, tmp_path):
    host = lab_hosts(lab, [HOST_INDEX])[0]
    task = write_task(tmp_path, """
        name: reboot
        steps:
          - name: reboot
            reboot: {reboot_command: "echo cannot reboot here >&2; exit 4"}
        """)
    step = steps_of(run_task(task, [host]))["reboot"]
    assert step.status is Status.FAILED
    assert step.reason == "the reboot command failed: cannot reboot here (exit code 4)"


@pytest.mark.parametrize("args, message", [
    ("{reboot_timeout: -1}", "reboot reboot_timeout must not be negative"),
    ("{timeout: 5}", "reboot has no argument 'timeout'"),
    ("{reboot_timeout: soon}", "'reboot_timeout' must be float"),
])
def test_reboot_bad_arguments(tmp_path, args, message):
    task = write_task(tmp_path, f"""
        name: reboot
        steps:
          - reboot: {args}
        """)
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:4" in str(error.value) and message in str(error.value)


def test_reboot_without_arguments_loads(tmp_path):
    task = write_task(tmp_path, """
        name: reboot
        steps:
          - reboot:
        """)
    step = load_task(task).steps[0]
    assert step.args["reboot_timeout"] == 600 and step.args["test_command"] == "whoami"
