"""The sqlite3 recording path (remote_support/journal_sqlite.py) stores exactly what the SQLAlchemy
Journal stores: the same runs recorded through both writers give byte-identical tables."""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from journal_support import REPO
from remote_support import journal as jmod
from remote_support import journal_sqlite
from remote_support.journal import OUTPUT_LIMIT, Journal
from remote_support.journal_sqlite import SQLiteJournal, open_journal
from remote_support.results import HostResult, RunResult, Status, StepResult
from remote_support.secrets import MASK, MASKED, SecretRef

BASE = datetime(2026, 11, 30, 23, 59, 58, 7, tzinfo=timezone.utc)


def fixed_clock(monkeypatch) -> None:
    """The same sequence of `now`s and run-id suffixes for each writer, so their rows can be compared."""
    ticks = itertools.count()

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return (BASE + timedelta(seconds=1.234567 * next(ticks))).astimezone(tz)

    for module in (jmod, journal_sqlite):
        monkeypatch.setattr(module, "datetime", Clock)
    suffixes = itertools.count(0x1000)
    monkeypatch.setattr(secrets, "token_hex", lambda n: f"{next(suffixes):04x}")


def step(name, status=Status.CHANGED, **kw) -> StepResult:
    kw.setdefault("command", f"run {name}")
    kw.setdefault("rc", 0 if status in (Status.OK, Status.CHANGED) else 1)
    return StepResult(name=name, status=status, **kw)


def host(name, status, steps, reason="", started=1_764_547_200.123456, ended=1_764_547_203.654321) -> HostResult:
    return HostResult(name, status, tuple(steps), reason, started, ended)


def backup(config: str) -> StepResult:
    return step("backup", Status.OK, command="show running-config",
                data={"config": config, "config_backup": {"sha256": "x", "lines": config.count("\n")}})


def record_runs(j, late: str = "late-s3cret") -> list[str]:
    """Everything the recording path does: planned, unplanned and re-recorded hosts, in-flight marks,
    secrets, NULs and lone surrogates, long output (blobs), config versions, notes, finish with pending hosts."""
    MASK.add("s3cr3t-value")
    first = j.start_run(kind="exec", name="uname -a; echo s3cr3t-value", command="uname -a; echo s3cr3t-value",
                        params={"password": "hunter2", "x": "a\x00b", "nested": {"api_token": "t0k", "n": 3},
                                "ref": SecretRef("env:DB_PASSWORD"), "flag": True, "none": None,
                                "plain": late},
                        inventory=["inv/prod.yml", "lab"], pattern="web:db", check=False, diff=True,
                        ticket="INC-7", operator="alice", hosts=["web1", "web2", "db1", "sw1", "web1"],
                        tool_version="0.1.0", request={"kind": "exec", "what": "uname", "forks": 50})
    j.mark_changing(first, "web1")
    j.mark_changing(first, "web1")  # the first mark stays
    long = "line of output\n" * (OUTPUT_LIMIT // 10)
    j.record_host(first, host("web1", Status.CHANGED, [
        step("one", stdout=long, stderr="warn s3cr3t-value\n", duration=0.1234567, attempts=2),
        step("two", Status.FAILED, stdout="bad \udcff byte\x00", reason="exit 1", ignored=True,
             data={"changed": True, "password": "p", "list": [1, "s3cr3t-value"]}, diff="--- a\n+++ b\n"),
    ]), facts={"os": "Debian", "root_password": "x", "ip": ["10.0.0.1"]})
    j.record_host(first, host("web1", Status.OK, [step("again", Status.OK, stdout=long)], reason="re-run"))
    j.record_host(first, host("extra", Status.UNREACHABLE, [], reason="ssh: connection refused"),
                  facts={"reachable": False})
    j.record_host(first, host("sw1", Status.OK, [backup("hostname sw1\nsnmp community s3cr3t-value\n"),
                                                  step("show", Status.OK, command=None, rc=None)], started=0.0))
    j.mark_changing(first, "web2")
    j.add_note(first, "run with --insecure: noted")
    MASK.add(late)  # declared secret by a step while running: masked in the run's row at the end
    j.finish_run(first, RunResult(hosts=(host("web2", Status.CHANGED, [step("late")]),), interrupted=False,
                                  aborted_reason="max-fail reached"))
    second = j.start_run(kind="task", name="net-backup", command=None, params={}, inventory=[], pattern="all",
                         check=True, diff=False, ticket=None, operator=None, hosts=["sw1", "sw2"],
                         tool_version="0.1.0", parent_run=first)
    j.record_host(second, host("sw1", Status.OK, [backup("hostname sw1\nsnmp community s3cr3t-value\n")]))
    j.record_host(second, host("sw2", Status.OK, [backup("hostname sw2\n"), backup("hostname sw2\nvlan 2\n")]))
    j.finish_run(second, RunResult(hosts=(), interrupted=True, aborted_reason=""))
    return [first, second]


def dump(path) -> dict[str, list[tuple]]:
    """Every row of every table, each value as SQLite quotes it (type and bytes)."""
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                   "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out = {}
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f"quote({c})" for c in columns)
            try:
                rows = conn.execute(f"SELECT {quoted} FROM {table} ORDER BY rowid").fetchall()
            except sqlite3.OperationalError:  # a WITHOUT ROWID table (FTS5's index): by every column
                rows = conn.execute(f"SELECT {quoted} FROM {table} ORDER BY {', '.join(map(str, range(1, len(columns) + 1)))}").fetchall()
            out[table] = [tuple(columns)] + rows
        return out
    finally:
        conn.close()


def test_both_writers_store_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_SUPPORT_HOME", str(tmp_path / "home"))
    dumps, ids = [], []
    for name, fast in (("sqlalchemy", False), ("sqlite3", True)):
        path = tmp_path / f"{name}.sqlite"
        Journal.open(f"sqlite:///{path}").close()  # the schema, by the product's migrations
        j = open_journal(f"sqlite:///{path}") if fast else Journal.open(f"sqlite:///{path}")
        fixed_clock(monkeypatch)
        assert isinstance(j, SQLiteJournal) is fast
        with j:
            ids.append(record_runs(j, late=f"late-s3cret-{name}"))  # new to MASK in each pass
        dumps.append(dump(path))
    assert ids[0] == ids[1]
    reference, fast = dumps
    assert set(reference) == set(fast)
    for table in reference:
        assert fast[table] == reference[table], table
    # the scenario reached what it claims to: blobs, config versions, notes, masked secrets, in-flight marks
    rows = {table: len(content) - 1 for table, content in reference.items()}  # less the column names
    assert rows["blobs"] == 1 and rows["config_backups"] == 3 and rows["notes"] == 1 and rows["steps"] == 7
    assert rows["search_index"] == 8  # 7 steps and the note (the re-recorded host's first steps taken out)
    everything = repr(reference)
    assert "s3cr3t-value" not in everything and "hunter2" not in everything and MASKED in everything
    assert "late-s3cret" not in everything and "late-s3cret" not in repr(fast)
    changing = reference["run_hosts"][0].index("changing_at")
    assert sum(1 for row in reference["run_hosts"][1:] if row[changing] != "NULL") == 2  # web1 and web2


def test_the_fast_journal_reads_back_through_the_full_one(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_SUPPORT_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    Journal.open(url).close()
    with open_journal(url) as j:
        assert isinstance(j, SQLiteJournal)
        first, _ = record_runs(j)
        record = j.get_run(first)  # not a recording method: served by a full Journal on the same file
    assert record.status == "unreachable" and {h.host for h in record.hosts} == {"web1", "web2", "db1", "sw1", "extra"}
    assert [h.status for h in record.hosts if h.host == "db1"] == [Status.SKIPPED]


def test_a_run_on_a_current_journal_never_imports_sqlalchemy(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    Journal.open(url).close()
    code = ("import sys\nfrom remote_support.journal_sqlite import open_journal\n"
            "from remote_support.results import HostResult, RunResult, Status\n"
            f"j = open_journal({url!r})\n"
            "r = j.start_run(kind='exec', name='x', command='x', params={}, inventory=[], pattern='all', check=False,"
            " diff=False, ticket=None, operator=None, hosts=['a'], tool_version='0')\n"
            "j.mark_changing(r, 'a')\nj.record_host(r, HostResult('a', Status.OK, (), '', 1.0, 2.0))\n"
            "j.finish_run(r, RunResult(hosts=()))\nj.close()\n"
            "print(type(j).__name__, 'sqlalchemy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "REMOTE_SUPPORT_HOME": str(tmp_path)})
    assert out.stdout.split() == ["SQLiteJournal", "False"]


def test_what_needs_more_than_recording_opens_the_full_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_SUPPORT_HOME", str(tmp_path / "home"))
    new = tmp_path / "new.sqlite"
    with open_journal(f"sqlite:///{new}") as j:  # a new file: the migrations create it
        assert isinstance(j, Journal) and j.version() == jmod.SCHEMA_VERSION
    old = tmp_path / "old.sqlite"
    Journal.open(f"sqlite:///{old}").close()
    conn = sqlite3.connect(old)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(jmod.JournalError, match="newer remote-support"):  # the full Journal's words
        open_journal(f"sqlite:///{old}")
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database at all")
    with pytest.raises(jmod.JournalError, match="not a remote-support journal"):
        open_journal(f"sqlite:///{bad}")
    # a run of a controller that is gone: the full Journal marks it interrupted on open
    current = tmp_path / "current.sqlite"
    with Journal.open(f"sqlite:///{current}") as j:
        run_id = j.start_run(kind="exec", name="x", command="x", params={}, inventory=[], pattern="all",
                             check=False, diff=False, ticket=None, operator=None, hosts=["a"], tool_version="0")
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    conn = sqlite3.connect(current)
    conn.execute("UPDATE runs SET pid = ?, pid_token = '' WHERE id = ?", (child.pid, run_id))
    conn.commit()
    conn.close()
    with open_journal(f"sqlite:///{current}") as j:
        assert isinstance(j, Journal) and j.get_run(run_id).status == Status.INTERRUPTED.value
    with open_journal(f"sqlite:///{current}") as j:  # nothing left to recover: the fast path
        assert isinstance(j, SQLiteJournal)
    # results waiting in the spool: merged by the full Journal
    from remote_support import spool

    spool_dir = spool.spool_dir()
    spool_dir.mkdir(parents=True)
    (spool_dir / "x.jsonl").write_text("")
    with open_journal(f"sqlite:///{current}") as j:
        assert isinstance(j, Journal)
    # options in the URL are SQLAlchemy's to read
    with open_journal(f"sqlite:///{current}?timeout=5") as j:
        assert isinstance(j, Journal)
