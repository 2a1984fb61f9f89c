"""kill/process (steps/process.py) on real lab hosts: the processes are the test's own (started here, with
a unique name or command line), and whatever is left is killed by PID at the end."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task


@pytest.fixture
def started():
    """Start processes for the test; each is killed by its PID and reaped afterwards."""
    processes: list[subprocess.Popen] = []

    def start(argv: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def gone(process: subprocess.Popen) -> bool:
    return process.poll() is not None


def kill_task(tmp_path, selector: str, extra: str = "", name: str = "task.yml"):
    return write_task(tmp_path, f"""
        name: kill
        steps:
          - name: kill
            kill: {{{selector}{extra}}}
            become: true
        """, name=name)


def test_kill_by_pattern_waits_until_gone_then_is_ok(lab, tmp_path, started):
    seconds = f"{secrets.randbelow(10**6) + 10**6}.{secrets.randbelow(1000)}"
    first, second = started(["sleep", seconds]), started(["sleep", seconds])
    bystander = started(["sleep", seconds + "1"])
    task = kill_task(tmp_path, f"pattern: '^sleep {seconds}$'")
    host = lab_hosts(lab, [74])

    run = run_task(task, host, check=True, diff=True)
    step = steps_of(run)["kill"]
    assert step.status is Status.CHANGED and step.reason.startswith("check mode: would send TERM to 2 process(es)")
    assert sorted(step.data["pids"]) == sorted([first.pid, second.pid])
    assert f"sleep {seconds}" in step.diff
    assert not gone(first) and not gone(second)

    run = run_task(task, host)
    step = steps_of(run)["kill"]
    assert step.status is Status.CHANGED, step.reason
    assert step.reason.endswith("all gone")
    first.wait(5), second.wait(5)
    assert first.returncode == -15 and second.returncode == -15
    assert not gone(bystander)
    run = run_task(task, host)
    assert steps_of(run)["kill"].status is Status.OK
    assert steps_of(run)["kill"].reason == f"no process matches pattern '^sleep {seconds}$'"


def test_kill_by_name_and_user_a_process_that_ignores_term_fails_unless_forced(lab, tmp_path, started):
    name = f"rsk{secrets.token_hex(4)}"
    binary = Path(f"/tmp/{name}")
    shutil.copy("/bin/sleep", binary)
    try:
        stubborn = started(["sh", "-c", f"trap '' TERM; exec {binary} 1000"])
        host = lab_hosts(lab, [75])
        other_user = run_task(kill_task(tmp_path, f"name: {name}, user: nobody"), host)
        assert steps_of(other_user)["kill"].status is Status.OK, "root's process is not nobody's"

        run = run_task(kill_task(tmp_path, f"name: {name}, user: root", ", timeout: 1", "t1.yml"), host)
        step = steps_of(run)["kill"]
        assert step.status is Status.FAILED and step.reason.startswith(f"still running 1s after TERM: {stubborn.pid}")
        assert "force: true" in step.reason and not gone(stubborn)

        run = run_task(kill_task(tmp_path, f"name: {name}", ", timeout: 1, force: true", "t2.yml"), host)
        step = steps_of(run)["kill"]
        assert step.status is Status.CHANGED, step.reason
        assert step.data["killed"] == [stubborn.pid] and "1 needed KILL" in step.reason
        stubborn.wait(5)
        assert stubborn.returncode == -9
    finally:
        binary.unlink(missing_ok=True)


@pytest.mark.parametrize("args, message", [
    ("{signal: TERM}", "exactly one of name"),
    ("{name: a, pattern: b}", "has both"),
    ("{pattern: '.*'}", "matches every process"),
    ("{name: sshd, signal: BOOM}", "is not a signal"),
])
def test_bad_kill_arguments_are_refused_at_load(tmp_path, args, message):
    task = write_task(tmp_path, f"name: bad\nsteps:\n  - process: {args}\n")
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert message in str(error.value) and "task.yml:3" in str(error.value)


def test_pid_1_is_never_a_target(lab, tmp_path):
    """Only in check mode: were the guard broken, a real run would end this machine's init."""
    init = Path("/proc/1/comm").read_text().strip()
    run = run_task(kill_task(tmp_path, f"name: {init!r}"), lab_hosts(lab, [76]), check=True)
    step = steps_of(run)["kill"]
    assert 1 not in step.data["pids"]
    assert step.status is Status.OK or " 1 " not in f" {step.reason} "
