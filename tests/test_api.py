"""The application layer: a run from Python, resume and retry repeating the recorded request exactly,
and the two failure words (unreachable: no session; failed: the host answered and said no)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from remote_support import api
from remote_support.api import RunRequest
from remote_support.errors import UsageError
from remote_support.journal import Journal
from remote_support.results import Status


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture()
def journal_path(tmp_path):
    return tmp_path / "journal.sqlite"


def test_python_use_as_the_readme_shows(lab, journal_path, tmp_path):
    """README "Use it from Python": open an inventory, run a task on a pattern, read the results."""
    task = tmp_path / "uptime.yml"
    task.write_text(textwrap.dedent("""\
        name: What runs here
        steps:
          - name: who and how long
            command: "id -un; uptime"
            changed_when: false
        """))
    names = [h.name for h in lab.status()[:3]]
    run = api.prepare(RunRequest(kind="task", what=str(task), inventory=(str(lab.inventory_path),),
                                 pattern=",".join(names), ticket="INC-9", journal=str(journal_path)))
    assert [h.name for h in run.hosts] == names
    result = run.execute()
    assert result.exit_code == 0
    for host in result.hosts:
        assert host.status is Status.OK and host.steps[0].stdout.startswith(lab.user)
    record = Journal.open(str(journal_path)).get_run(run.id)
    assert record.ticket == "INC-9" and record.request["pattern"] == ",".join(names)
    assert [h.host for h in record.hosts] == names and all(h.status == "ok" for h in record.hosts)


def test_the_api_does_not_import_the_cli_or_rich():
    code = ("import sys, remote_support.api; "
            "print(sorted(m for m in sys.modules if m.startswith(('rich', 'click', 'remote_support.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_request_round_trips_through_its_record_with_every_option():
    request = RunRequest(kind="task", what="restart-service", inventory=("a.yml", "b.ini"), pattern="web:!web-3",
                         variables={"service": "nginx", "new_password": "env:PW"}, check=True, diff=True,
                         tags=("t1",), skip_tags=("t2",), forks=7, serial="1,25%", max_fail_percentage=10.0,
                         become=True, become_user="svc", become_password="prompt", command_timeout=30.0,
                         connect_timeout=3.0, host_timeout=90.0, accept_new_host_keys=True, known_hosts=("kh",),
                         ssh_config="cfg", insecure=True, ticket="INC-1", operator="alice",
                         journal="postgresql://u:secretpw@db/j")
    record = json.loads(json.dumps(request.to_record()))
    assert "journal" not in record and "secretpw" not in json.dumps(record)
    again = RunRequest.from_record(record)
    assert again == dataclasses.replace(request, journal=None)


def test_a_literal_secret_in_extra_vars_is_refused_with_a_hint(lab, journal_path):
    request = RunRequest(kind="exec", what="true", inventory=(str(lab.inventory_path),),
                         pattern=lab.status()[0].name, variables={"api_token": "tok-123456"},
                         journal=str(journal_path))
    with pytest.raises(UsageError, match=r"-e api_token: .*give a reference.*env:NAME"):
        api.prepare(request)
    assert not journal_path.exists() or Journal.open(str(journal_path)).list_runs() == []


def test_resume_repeats_become_and_forks(lab, journal_path, tmp_path):
    """SIGKILL a `--become -f 3` run mid-way: the resumed part runs as root, three at a time."""
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal_path)}
    names = [h.name for h in lab.status()[70:82]]
    marks = Path("/tmp") / f"rs-api-resume-{os.getpid()}"
    marks.mkdir(mode=0o755)
    try:
        command = f"id -un > {marks}/$(uname -n).user; date +%s.%N > {marks}/$(uname -n).start; sleep 0.7"
        process = subprocess.Popen([sys.executable, "-m", "remote_support", "exec", ",".join(names), "-i",
                                    str(lab.inventory_path), "--become", "-f", "3", "--", command], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(marks.glob("*.user"))) < 4:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        time.sleep(1)
        journal = Journal.open(str(journal_path))
        [recorded] = journal.list_runs(limit=1)
        assert recorded.status == "interrupted"
        done_before = {h.host for h in journal.get_run(recorded.id).hosts if h.status == "ok"}
        assert done_before and len(done_before) < len(names)
        for path in marks.iterdir():
            path.unlink()
        in_flight = set(journal.in_flight(recorded.id))
        handle = api.resume(recorded.id, journal=journal, include_in_flight=True)
        assert handle.request.become and handle.request.forks == 3
        assert {h.name for h in handle.hosts} == set(names) - done_before
        result = handle.execute()
        assert result.exit_code == 0
        assert all(s.stdout.strip() == "" for h in result.hosts for s in h.steps)  # output went to the files
        users = {p.name[:-5]: p.read_text().strip() for p in marks.glob("*.user")}
        assert users == {name: "root" for name in set(names) - done_before}
        assert in_flight  # the kill came while commands ran: those hosts were noted as in flight
        # three at a time: no more than 3 hosts ever started within one sleep of each other
        starts = sorted(float(p.read_text()) for p in marks.glob("*.start"))
        assert max(sum(1 for t in starts if s <= t < s + 0.6) for s in starts) <= 3
        final = journal.get_run(recorded.id)
        assert final.status == "ok" and all(h.status == "ok" for h in final.hosts)
    finally:
        for path in marks.iterdir():
            path.unlink()
        marks.rmdir()


def test_retry_repeats_become(lab, journal_path, tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal_path)}
    flag = Path("/tmp") / f"rs-api-retry-{os.getpid()}"
    names = [h.name for h in lab.status()[83:86]]
    command = f"(test $(uname -n) != {names[1]} || test -e {flag}) && id -un"
    first = cli("exec", ",".join(names), "-i", str(lab.inventory_path), "--become", "--json", "--", command, env=env)
    assert first.returncode == 2, first.stderr
    flag.touch()
    try:
        again = cli("runs", "retry", json.loads(first.stdout)["id"], "--json", env=env)
    finally:
        flag.unlink()
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert [(h["host"], h["steps"][0]["stdout"].strip()) for h in data["hosts"]] == [(names[1], "root")]


def test_a_dropped_connection_is_unreachable_with_a_reason(lab, journal_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal_path)}
    name = lab.status()[87].name
    # the command kills the sshd process serving its own connection: the session is lost mid-command
    result = cli("exec", name, "-i", str(lab.inventory_path), "--json", "--", "echo before; kill -9 $PPID; sleep 5",
                 env=env)
    assert result.returncode == 4, result.stdout + result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "unreachable" and "connection lost" in host["reason"]
    assert "exit code None" not in result.stdout


def test_a_host_whose_facts_cannot_be_gathered_is_failed_not_unreachable(tmp_path, journal_path):
    inventory = tmp_path / "local.yml"
    inventory.write_text("hosts:\n  controller:\n    connection: local\n")
    task = tmp_path / "facts.yml"
    task.write_text("name: Facts\nsteps:\n  - name: gather\n    facts: {}\n")
    # the host answers, but its shell finds no `sh`: facts cannot be gathered
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal_path), "PATH": str(tmp_path / "empty")}
    result = cli("run", str(task), "-i", str(inventory), "--json", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "failed" and "cannot gather facts" in host["reason"]


def test_a_file_the_host_refuses_to_give_is_failed_not_unreachable(lab, journal_path, tmp_path):
    task = tmp_path / "fetch.yml"
    task.write_text(textwrap.dedent(f"""\
        name: Fetch a root-only file
        steps:
          - name: fetch shadow
            fetch: {{src: /etc/shadow, dest: {tmp_path / 'fetched'}}}
        """))
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal_path)}
    result = cli("run", str(task), "-i", str(lab.inventory_path), "-l", lab.status()[88].name, "--json", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "failed", host


def test_stop_from_another_thread_interrupts_the_run(lab, journal_path):
    names = [h.name for h in lab.status()[89:92]]
    run = api.prepare(RunRequest(kind="exec", what="sleep 30", inventory=(str(lab.inventory_path),),
                                 pattern=",".join(names), journal=str(journal_path))).start()
    time.sleep(2)
    run.stop()
    result = run.wait(timeout=30)
    assert result is not None and result.interrupted and result.exit_code == 99
    assert Journal.open(str(journal_path)).get_run(run.id).status == "interrupted"
