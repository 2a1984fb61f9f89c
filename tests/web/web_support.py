"""Fixtures of the web view tests: a journal with recorded runs, accounts, and the server as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from remote_support.journal import Journal
from remote_support.journal_people import People
from remote_support.results import HostResult, Status, StepResult

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
#: recorded text that must reach every page escaped
HOSTILE = '<script>alert("xss")</script><img src=x onerror=alert(1)>'

USERS = {"viewer": (0, False), "alice": (1, False), "bob": (2, False), "lead": (3, True), "lead2": (3, True)}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def add_users(journal: Journal) -> People:
    people = People(journal)
    for name, (level, approver) in USERS.items():
        people.add_user(name, PASSWORD, level=level, approver=approver)
    return people


def record_sample(journal: Journal, *, ticket: str = "INC-1001") -> list[str]:
    """Two runs of a ticket on two hosts (one failed step with a lockout message, one hostile text), a note,
    an escalation and two config versions of a switch."""
    first = journal.start_run(kind="task", name="unlock-user", command="/tasks/unlock-user.yml",
                              params={"user": "jdoe"}, inventory=["inv.yml"], pattern="pc-042", check=False,
                              diff=False, ticket=ticket, operator="alice", hosts=["pc-042"], tool_version="t")
    journal.record_host(first, HostResult("pc-042", Status.FAILED, (
        StepResult("read the lock status", Status.OK, command="faillock --user jdoe", rc=0,
                   stdout=f"jdoe locked {HOSTILE}\n"),
        StepResult("smb check", Status.FAILED, command="smbclient -L fs01", rc=1,
                   stderr="session setup failed: NT_STATUS_ACCOUNT_LOCKED_OUT\n", reason="rc 1"),
        StepResult("fetch the auth log", Status.CHANGED, data={"src": "/var/log/auth.log", "dest": "/srv/evidence/auth.log",
                                                               "size": 2048, "checksum": "ab" * 32})),
        "step 2 failed", time.time() - 0.01, time.time()))
    journal.finish_run(first, _result(journal, first))
    journal.add_note(first, f"user called back {HOSTILE}", author="alice")
    second = journal.start_run(kind="task", name="net-backup", command="/tasks/net-backup.yml", params={},
                               inventory=["inv.yml"], pattern="sw-1", check=False, diff=False, ticket=ticket,
                               operator="bob", hosts=["sw-1"], tool_version="t")
    rules = [{"name": "no telnet", "kind": "forbid", "passed": True, "offending": []},
             {"name": "ssh v2", "kind": "require", "passed": False, "offending": ["ip ssh version 2"]}]
    for config in ("hostname sw-1\nvlan 10\n", "hostname sw-1\nvlan 10\nvlan 20\n"):
        journal.record_host(second, HostResult("sw-1", Status.OK, (
            StepResult("backup", Status.OK, data={"config_backup": {"device": "sw-1"}, "config": config}),
            StepResult("compliance", Status.FAILED, ignored=True, reason="1 of 2 rules failed",
                       data={"rules": rules, "compliance": {"passed": 1, "failed": 1, "total": 2}})),
            "", time.time() - 0.01, time.time()))
    journal.finish_run(second, _result(journal, second))
    journal.add_escalation(second, "L3", "vlan 20 appeared, please check", author="bob")
    return [first, second]


def _result(journal, run_id):
    from remote_support.results import RunResult

    record = journal.get_run(run_id)
    return RunResult(hosts=tuple(record.hosts))


class Server:
    """`remote-support serve` as a child process on a free loopback port, stopped by PID."""

    def __init__(self, journal_url: str, inventory: str | None = None, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "remote_support", "serve", "--listen", f"127.0.0.1:{self.port}",
                "--journal", journal_url]
        if inventory:
            args += ["-i", inventory]
        self.log = open(Path(journal_url.replace("sqlite:///", "")).with_suffix(".serve.log"), "w+")
        self.process = subprocess.Popen(args, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO)})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve did not listen within 30 s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
