"""The journal through the CLI: every run recorded, queried, reported, resumed after SIGKILL, retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from remote_support.journal import Journal


def cli(*args: str, env=None, check: int | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                            timeout=300, env=env)
    if check is not None:
        assert result.returncode == check, result.stdout + result.stderr
    return result


@pytest.fixture()
def shared_dir():
    """A directory the lab user can write to (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="rs-journal-cli-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def journal_env(tmp_path):
    """A private journal file for one test, through the environment as a technician would set it."""
    path = tmp_path / "journal.sqlite"
    return {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(path)}, path


def test_exec_and_run_are_recorded_and_queryable(lab, journal_env, tmp_path):
    env, path = journal_env
    inventory = str(lab.inventory_path)
    name = lab.status()[60].name
    cli("exec", name, "-i", inventory, "--ticket", "INC-77", "--operator", "alice", "--", "echo hi", env=env,
        check=0)
    runs = json.loads(cli("runs", "list", "--ticket", "INC-77", "--json", env=env, check=0).stdout)
    assert len(runs) == 1 and runs[0]["operator"] == "alice" and runs[0]["status"] == "ok"
    run_id = runs[0]["id"]
    shown = cli("runs", "show", run_id[:13], env=env, check=0).stdout
    assert run_id in shown and "INC-77" in shown and "hi" in shown
    step = json.loads(cli("runs", "show", run_id, "--host", name, "--step", "1", "--json", env=env, check=0).stdout)
    assert step["stdout"] == "hi\n" and step["rc"] == 0
    history = json.loads(cli("hosts", "history", name, "--json", env=env, check=0).stdout)
    assert history[0]["run_id"] == run_id and history[0]["ticket"] == "INC-77"
    assert path.stat().st_mode & 0o777 == 0o600


def test_report_note_and_escalation_bundle(lab, journal_env, tmp_path):
    env, _ = journal_env
    name = lab.status()[61].name
    result = cli("exec", name, "-i", str(lab.inventory_path), "--json", "--", "echo '<script>x</script>'; exit 3",
                 env=env, check=2)
    run_id = json.loads(result.stdout)["id"]
    cli("runs", "note", run_id, "called the user back", env=env, check=0)
    html = tmp_path / "report.html"
    cli("report", run_id, "-o", str(html), env=env, check=0)
    page = html.read_text()
    assert name in page and "&lt;script&gt;" in page and "<script>x" not in page
    junit = tmp_path / "junit.xml"
    cli("report", run_id, "--format", "junit", "-o", str(junit), env=env, check=0)
    import xml.etree.ElementTree as ET
    assert int(ET.parse(junit).getroot().find(".//testsuite").get("failures") or
               ET.parse(junit).getroot().get("failures")) >= 1
    out = cli("runs", "escalate", run_id, "--to", "L3", "--note", "needs a disk check", "-o", str(tmp_path),
              env=env, check=0).stdout
    bundle = Path(out.strip().split("evidence: ")[1])
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
    assert any(n.endswith(".html") for n in names) and any(n.endswith(".json") for n in names)
    shown = cli("runs", "show", run_id, env=env, check=0).stdout
    assert "called the user back" in shown and "L3" in shown


def test_unknown_run_id_is_a_clear_error(journal_env):
    env, _ = journal_env
    result = cli("runs", "show", "nosuchrun", env=env)
    assert result.returncode == 5 and "unknown run id" in result.stderr and "Traceback" not in result.stderr


def test_sigkill_mid_run_then_resume_finishes_the_rest_without_running_any_host_twice(lab, journal_env,
                                                                                      shared_dir):
    env, path = journal_env
    marks = shared_dir
    # each host appends one line to its own file, then sleeps: 100 hosts, 10 at a time, about 5 s in all
    command = f"echo ran >> {marks}/$(uname -n); sleep 0.4"
    process = subprocess.Popen([sys.executable, "-m", "remote_support", "exec", "all", "-i",
                                str(lab.inventory_path), "-f", "10", "--", command], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(marks.iterdir())) < 30:
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    time.sleep(1)  # commands already sent finish on the hosts
    journal = Journal.open(str(path))  # opening recovers the dead run
    [run] = journal.list_runs(limit=1)
    record = journal.get_run(run.id)
    assert record.status == "interrupted"
    finished = {h.host for h in record.hosts if h.status == "ok"}
    ran_before = {p.name for p in marks.iterdir()}
    assert finished and finished <= ran_before  # every host the journal calls finished really ran
    assert len(finished) < 100
    in_flight = set(journal.in_flight(run.id))
    assert in_flight and not in_flight & finished  # the kill came while some commands ran
    # by default a resume runs the hosts that never started, and names the in-flight ones it leaves alone
    resumed = cli("runs", "resume", run.id, env=env, check=99)
    assert "not run again: " in resumed.stderr and all(h in resumed.stderr for h in in_flight)
    record = Journal.open(str(path)).get_run(run.id)
    assert {h.host for h in record.hosts if h.status != "ok"} == in_flight
    counts = {p.name: len(p.read_text().splitlines()) for p in marks.iterdir()}
    assert all(counts.get(h, 0) <= 1 for h in in_flight)  # not run a second time
    cli("runs", "resume", run.id, "--include-in-flight", env=env, check=0)
    record = Journal.open(str(path)).get_run(run.id)
    assert record.status == "ok" and len(record.hosts) == 100
    assert all(h.status == "ok" for h in record.hosts)
    counts = {p.name: len(p.read_text().splitlines()) for p in marks.iterdir()}
    assert len(counts) == 100
    assert all(n == 1 for host, n in counts.items() if host in finished)  # finished hosts never ran twice


def test_retry_reruns_only_failed_hosts_as_a_linked_run(lab, journal_env, shared_dir):
    env, path = journal_env
    entries = lab.status()[62:65]
    bad = entries[1].name
    flag = shared_dir / "fixed"
    pattern = ",".join(e.name for e in entries)
    command = f"test $(uname -n) != {bad} || test -e {flag}"
    first = json.loads(cli("exec", pattern, "-i", str(lab.inventory_path), "--json", "--", command, env=env,
                           check=2).stdout)["id"]
    flag.touch()
    cli("runs", "retry", first, env=env, check=0)
    runs = Journal.open(str(path)).list_runs(limit=5)
    retry = runs[0]
    assert retry.parent_run == first
    assert [h.host for h in Journal.open(str(path)).get_run(retry.id).hosts] == [bad]
