"""The run journal, on SQLite and on a real PostgreSQL server (tests/journal_support.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from journal_support import REPO, journal, journal_url, postgres_server  # noqa: F401 (fixtures)
from remote_support.handover import escalate
from remote_support import journal as jmod
from remote_support.journal import (OUTPUT_LIMIT, SCHEMA_VERSION, Journal, JournalError, UnknownRunError)
from remote_support.results import HostResult, RunResult, Status, StepResult
from remote_support.secrets import MASK, MASKED, SecretRef


def start(journal: Journal, hosts=("web1", "web2", "db1"), **overrides) -> str:
    args = dict(kind="task", name="restart-nginx", command=None, params={"service": "nginx"},
                inventory=["inventories/prod.yml"], pattern="web:db", check=False, diff=True, ticket="INC-1042",
                operator="alice", hosts=list(hosts), tool_version="0.1.0")
    args.update(overrides)
    return journal.start_run(**args)


def step(name="restart", status=Status.CHANGED, **kw) -> StepResult:
    kw.setdefault("command", "systemctl restart nginx")
    kw.setdefault("rc", 0 if status in (Status.OK, Status.CHANGED) else 1)
    return StepResult(name=name, status=status, **kw)


def host(name, status=Status.CHANGED, steps=None, reason="") -> HostResult:
    now = time.time()
    return HostResult(name, status, tuple(steps if steps is not None else [step(status=status)]), reason,
                      now - 1.5, now)


def raw_engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def dead_pid() -> int:
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    return child.pid


def set_controller(url: str, run_id: str, pid: int, token: str = "") -> None:
    engine = raw_engine(url)
    with engine.begin() as conn:
        conn.execute(jmod.runs.update().where(jmod.runs.c.id == run_id).values(pid=pid, pid_token=token))
    engine.dispose()


# -- opening, schema, migrations

def test_new_journal_has_the_current_schema_and_matches_the_model(journal, journal_url):
    assert journal.version() == SCHEMA_VERSION
    engine = raw_engine(journal_url)
    inspector = sa.inspect(engine)
    for table in jmod.metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
        indexes = {i["name"] for i in inspector.get_indexes(table.name)}
        assert {i.name for i in table.indexes} <= indexes, table.name
    engine.dispose()


def test_default_journal_is_a_0600_wal_file_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_SUPPORT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("REMOTE_SUPPORT_JOURNAL", raising=False)
    with Journal.open() as journal:
        start(journal)
    path = tmp_path / "home" / "journal.sqlite"
    assert journal.where == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    engine = raw_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_environment_variable_and_plain_path_select_the_journal(tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTE_SUPPORT_JOURNAL", f"sqlite:///{tmp_path / 'team.sqlite'}")
    with Journal.open() as journal:
        assert journal.where == str(tmp_path / "team.sqlite")
    with Journal.open(str(tmp_path / "other.sqlite")) as journal:
        assert journal.where == str(tmp_path / "other.sqlite")


def test_migrates_a_version_1_journal(journal_url):
    engine = raw_engine(journal_url)
    started = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    with engine.begin() as conn:
        jmod.schema_version.create(conn)
        conn.execute(jmod.schema_version.insert().values(version=1))
        jmod.MIGRATIONS[0](conn)
        conn.execute(sa.text(
            "INSERT INTO runs (id, kind, name, command, params, inventory, pattern, check_mode, diff_mode, ticket,"
            " os_user, operator, controller, pid, pid_token, tool_version, status, exit_code, aborted_reason,"
            " started_at, ended_at) VALUES ('20260105-0930-abcd', 'exec', 'uptime', 'uptime', '{}', '[]', 'all',"
            " false, false, 'INC-1', 'bob', NULL, 'elsewhere', 1, '', '0.0.9', 'ok', 0, '', :t, :t)"),
            {"t": started.replace(tzinfo=None)})
        conn.execute(sa.text("INSERT INTO run_hosts (run_id, position, host, status, reason, started_at, ended_at,"
                             " duration) VALUES ('20260105-0930-abcd', 0, 'web1', 'ok', '', :t, :t, 0.5)"),
                     {"t": started.replace(tzinfo=None)})
        conn.execute(sa.text("INSERT INTO notes (run_id, created_at, author, text)"
                             " VALUES ('20260105-0930-abcd', :t, 'bob', 'checked')"), {"t": started.replace(tzinfo=None)})
    engine.dispose()

    with Journal.open(journal_url) as journal:
        assert journal.version() == SCHEMA_VERSION
        old = journal.get_run("20260105-0930-abcd")
        assert (old.status, old.parent_run, old.started_at, old.hosts[0].host) == ("ok", None, started, "web1")
        assert [(n.kind, n.text) for n in old.notes] == [("note", "checked")]
        assert [e.run_id for e in journal.host_history("web1")] == ["20260105-0930-abcd"]
        new = start(journal, hosts=["web1"], parent_run=old.id)
        assert journal.get_run(new).parent_run == old.id
        assert [e.run_id for e in journal.host_history("web1")] == [new, old.id]


def test_a_journal_from_a_newer_remote_support_is_refused(journal_url):
    Journal.open(journal_url).close()
    engine = raw_engine(journal_url)
    with engine.begin() as conn:
        conn.execute(jmod.schema_version.update().values(version=SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(JournalError, match=rf"written by a newer remote-support \(schema {SCHEMA_VERSION + 1}.*upgrade"):
        Journal.open(journal_url)


def test_a_file_that_is_not_a_journal_is_refused_by_name(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database\n" * 10)
    with pytest.raises(JournalError, match=rf"{text} is not a remote-support journal \(not a SQLite database\)"):
        Journal.open(f"sqlite:///{text}")
    assert text.read_text().startswith("hello")

    other = tmp_path / "other-app.sqlite"
    engine = raw_engine(f"sqlite:///{other}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    engine.dispose()
    with pytest.raises(JournalError, match=rf"{other} is not a remote-support journal \(it holds the tables invoices\)"):
        Journal.open(f"sqlite:///{other}")


def test_an_unreachable_postgresql_journal_names_host_port_and_what_to_check():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()  # nothing listens there now
    started = time.monotonic()
    with pytest.raises(JournalError) as caught:
        Journal.open(f"postgresql://rs:hunter2-pw@127.0.0.1:{number}/journal")
    message = str(caught.value)
    assert f"cannot be reached at 127.0.0.1:{number}" in message
    assert "running" in message and "--journal sqlite:///PATH" in message
    assert "hunter2-pw" not in message
    assert time.monotonic() - started < 10


def test_a_missing_postgresql_database_says_how_to_create_it(postgres_server):
    with pytest.raises(JournalError, match=r"does not exist.*createdb"):
        Journal.open(postgres_server.url("no_such_db"))


def test_a_bad_url_is_refused():
    with pytest.raises(JournalError, match="unsupported database 'mysql'"):
        Journal.open("mysql://u@h/db")


def _open_without_dac_override(url: str) -> subprocess.CompletedProcess[str]:
    """Journal.open(url) in a child that, even as root, is subject to file permissions."""
    code = ("import sys\nfrom remote_support.journal import Journal, JournalError\n"
            "try:\n    Journal.open(sys.argv[1])\nexcept JournalError as e:\n    print(e)\n    sys.exit(3)\n")
    argv = [sys.executable, "-c", code, url]
    if os.geteuid() == 0:
        argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"] + argv
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_read_only_location_is_refused_with_what_to_do(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    existing = tmp_path / "ro-file"
    existing.mkdir()
    Journal.open(f"sqlite:///{existing / 'journal.sqlite'}").close()
    (existing / "journal.sqlite").chmod(0o444)
    locked.chmod(0o555)
    try:
        for path in (locked / "journal.sqlite", locked / "sub" / "journal.sqlite", existing / "journal.sqlite"):
            result = _open_without_dac_override(f"sqlite:///{path}")
            assert result.returncode == 3, result.stderr
            assert f"journal {path} cannot be written" in result.stdout
            assert "--journal sqlite:///PATH" in result.stdout
    finally:
        locked.chmod(0o755)


# -- recording and reading

def test_records_and_reads_a_run_with_hosts_and_steps(journal):
    run_id = start(journal)
    assert len(run_id) == len("20261124-2213-7f3a") and run_id[8] == "-" and run_id[13] == "-"
    run = journal.get_run(run_id)
    assert (run.status, run.os_user, run.operator, run.ticket, run.pid) == ("running", jmod.os_user(), "alice",
                                                                           "INC-1042", os.getpid())
    assert run.controller == socket.gethostname()
    assert [(h.host, h.status) for h in run.hosts] == [("web1", "pending"), ("web2", "pending"), ("db1", "pending")]

    diff = "--- a/nginx.conf\n+++ b/nginx.conf\n@@ -1 +1 @@\n-worker 1\n+worker 4\n"
    journal.record_host(run_id, host("web1", steps=[
        step("gather", Status.OK, command="uname -a", stdout="Linux web1\n"),
        step("template", Status.CHANGED, command=None, diff=diff, attempts=2, data={"path": "/etc/nginx.conf"}),
        step("reload", Status.FAILED, command="nginx -s reload", rc=1, stderr="bad config", reason="exit code 1",
             ignored=True)]), facts={"os_family": "Debian", "cpus": 4})
    journal.record_host(run_id, host("web2", Status.FAILED, [step(status=Status.FAILED, stderr="Job failed",
                                                                   reason="exit code 1")], reason="step failed"))
    journal.record_host(run_id, HostResult("db1", Status.UNREACHABLE, (), "connection refused (port 22)", 0, 0))
    journal.finish_run(run_id, RunResult(hosts=()))

    run = journal.get_run(run_id)
    assert (run.status, run.exit_code) == ("unreachable", 4)
    assert run.counts == {"changed": 1, "failed": 1, "unreachable": 1}
    assert run.ended_at >= run.started_at
    web1, web2, db1 = run.hosts
    assert web1.facts == {"os_family": "Debian", "cpus": 4}
    assert 1.4 < web1.duration < 1.6
    assert [(s.number, s.name, s.status, s.rc) for s in web1.steps] == [
        (1, "gather", "ok", 0), (2, "template", "changed", 0), (3, "reload", "failed", 1)]
    assert web1.steps[1].diff == diff and web1.steps[1].attempts == 2 and web1.steps[1].changed
    assert web1.steps[1].data == {"path": "/etc/nginx.conf"} and web1.steps[1].command is None
    assert web1.steps[2].ignored and web1.steps[2].stderr == "bad config"
    assert (web2.status, web2.reason, web2.steps[0].reason) == ("failed", "step failed", "exit code 1")
    assert (db1.status, db1.reason, db1.steps) == ("unreachable", "connection refused (port 22)", ())
    assert journal.failed_hosts(run_id) == ["web2", "db1"]
    assert journal.get_step(run_id, "web1", 3).stderr == "bad config"
    with pytest.raises(JournalError, match="has no step 4 on web1"):
        journal.get_step(run_id, "web1", 4)
    with pytest.raises(JournalError, match="host 'mail1' is not in run"):
        journal.get_run(run_id, host="mail1")
    assert json.loads(json.dumps(run.to_dict()))["hosts"][0]["steps"][1]["diff"] == diff


def test_recording_a_host_again_replaces_its_steps(journal):
    run_id = start(journal, hosts=["web1"])
    journal.record_host(run_id, host("web1", Status.INTERRUPTED, [step("a"), step("b")]))
    journal.record_host(run_id, host("web1", Status.OK, [step("c", Status.OK)]))
    [web1] = journal.get_run(run_id).hosts
    assert (web1.status, [s.name for s in web1.steps]) == ("ok", ["c"])


def test_an_unplanned_host_is_added_and_an_unknown_run_refused(journal):
    run_id = start(journal, hosts=["web1"])
    journal.record_host(run_id, host("late1"))
    assert [h.host for h in journal.get_run(run_id).hosts] == ["web1", "late1"]
    with pytest.raises(UnknownRunError, match="unknown run id 'nope'"):
        journal.record_host("nope", host("web1"))


def test_fifty_threads_record_hosts_at_once(journal):
    names = [f"host{i:02d}" for i in range(50)]
    run_id = start(journal, hosts=names)
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []
    timings: list[float] = []

    def record(name: str) -> None:
        try:
            barrier.wait()
            began = time.perf_counter()
            journal.record_host(run_id, host(name, steps=[step(f"s{i}", stdout=f"{name} {i}\n" * 50)
                                                          for i in range(3)]))
            timings.append(time.perf_counter() - began)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    run = journal.get_run(run_id)
    assert [h.host for h in run.hosts] == names
    assert {h.status for h in run.hosts} == {"changed"}
    assert all([s.stdout for s in h.steps] == [f"{h.host} {i}\n" * 50 for i in range(3)] for h in run.hosts)
    print(f"\n{journal.where}: record_host under 50 threads: max {max(timings) * 1000:.0f} ms")


# -- secrets

def _every_text_in_the_journal(url: str) -> str:
    """Every value of every column of every table, blobs decompressed, as one text."""
    engine = raw_engine(url)
    parts = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        try:
                            value = zlib.decompress(bytes(value)).decode()
                        except zlib.error:  # the full-text index's own pages: its tokens, raw
                            value = bytes(value).decode("latin-1")
                    parts.append(str(value))
    engine.dispose()
    return "\n".join(parts)


def test_secrets_never_reach_any_column(journal, journal_url, tmp_path, monkeypatch):
    vault = "Vault-s3cr3t-7781"  # as a resolved secret reference or a password prompt registers it
    token = "tok-api-99812"  # a variable named like a secret
    MASK.add(vault)
    monkeypatch.setenv("RS_TEST_DB_PASSWORD", "db-pw-55102")
    params = {"api_token": token, "db_password": SecretRef("env:RS_TEST_DB_PASSWORD"), "user": "deploy",
              "nested": {"signing_private_key": "sk-88812", "note": f"uses {vault}"}, "tags": ["a", "b"]}
    run_id = start(journal, params=params, command=f"curl -H 'X: {token}'", kind="exec", name=f"curl {vault}",
                   ticket=f"INC-{vault}", operator="alice")
    SecretRef("env:RS_TEST_DB_PASSWORD").resolve()  # the runner resolves it when a connection needs it
    loud = f"token={token} password={vault} db=db-pw-55102 sk=sk-88812\n"
    journal.record_host(run_id, host("web1", Status.FAILED, [
        step("login", Status.FAILED, command=f"login --password {vault} --token {token}", stdout=loud,
             stderr=loud, reason=f"refused {vault}", diff=f"-pw {vault}\n+pw {token}\n",
             data={"api_key": "ak-55555", "msg": loud}),
        step("big", Status.OK, stdout=("x" * 100 + "\n") * 1000 + loud)], reason=f"failed with {token}"),
        facts={"env": {"API_TOKEN": "ft-77777"}, "motd": loud})
    journal.add_note(run_id, f"tried {vault} and {token}", author="bob")
    journal.finish_run(run_id, RunResult(hosts=()))
    bundle = escalate(journal, run_id, "L3", f"please look, key {token}", files=[], out=tmp_path)

    stored = _every_text_in_the_journal(journal_url)
    for secret in (vault, token, "db-pw-55102", "sk-88812", "ak-55555", "ft-77777"):
        assert secret not in stored, secret
    assert MASKED in stored and "<secret env:RS_TEST_DB_PASSWORD>" in stored and "deploy" in stored
    run = journal.get_run(run_id, full_output=True)
    assert run.params["api_token"] == MASKED and run.params["nested"]["signing_private_key"] == MASKED
    assert run.params["nested"]["note"] == f"uses {MASKED}" and run.params["tags"] == ["a", "b"]
    with zipfile.ZipFile(bundle) as z:
        everything = "".join(z.read(n).decode() for n in z.namelist())
    for secret in (vault, token, "db-pw-55102"):
        assert secret not in everything


# -- large outputs

def test_large_output_is_truncated_with_the_full_text_kept(journal):
    big = "".join(f"line {i:06d} of the service log\n" for i in range(20_000))  # ~620 KB
    secret = "Blob-s3cret-4410"
    MASK.add(secret)
    run_id = start(journal, hosts=["web1"])
    journal.record_host(run_id, host("web1", steps=[step("logs", Status.OK, stdout=big + f"end {secret}\n",
                                                         stderr="small", diff="+" + big)]))
    [record] = journal.get_run(run_id).hosts[0].steps
    assert record.truncated == ("stdout", "diff")
    assert len(record.stdout) < OUTPUT_LIMIT + 300
    assert record.stdout.startswith("line 000000") and record.stdout.endswith(f"end {MASKED}\n")
    assert "characters not shown here" in record.stdout and record.stderr == "small"
    full = big + f"end {MASKED}\n"
    assert journal.output(record.id, "stdout") == full
    assert journal.output(record.id, "stderr") == "small"
    assert journal.get_step(run_id, "web1", 1).stdout == full
    assert journal.get_run(run_id, full_output=True).hosts[0].steps[0].diff == "+" + big


def test_text_postgresql_cannot_store_is_kept_readable(journal):
    run_id = start(journal, hosts=["web1"])
    journal.record_host(run_id, host("web1", steps=[step(stdout="a\x00b\udcffc\n")]))
    assert journal.get_run(run_id).hosts[0].steps[0].stdout == "a\ufffdb?c\n"


# -- queries

def test_list_runs_filters(journal, journal_url):
    first = start(journal, hosts=["web1", "web2"], ticket="INC-1", operator="alice", name="restart-nginx")
    second = start(journal, hosts=["db1"], ticket="INC-2", operator=None, name="disk-report")
    third = start(journal, hosts=["web2"], ticket="CHG-7", operator="carol", name="restart-nginx")
    journal.record_host(first, host("web1", Status.FAILED))
    journal.finish_run(first, RunResult(hosts=()))
    journal.finish_run(second, RunResult(hosts=(host("db1", Status.OK),)))
    engine = raw_engine(journal_url)
    with engine.begin() as conn:
        conn.execute(jmod.runs.update().where(jmod.runs.c.id == second).values(
            started_at=datetime.now(timezone.utc) - timedelta(days=10)))
    engine.dispose()

    def ids(**filters):
        return [r.id for r in journal.list_runs(**filters)]

    assert ids() == [third, first, second]
    assert ids(host="web2") == [third, first]
    assert ids(host="web*") == [third, first]
    assert ids(ticket="INC-2") == [second]
    assert ids(ticket="INC-*") == [first, second]
    assert ids(task="restart-nginx") == [third, first]
    assert ids(status="failed") == [first]
    assert ids(status="running") == [third]
    assert ids(since=datetime.now(timezone.utc) - timedelta(days=1)) == [third, first]
    assert ids(since=datetime.now() - timedelta(days=1)) == [third, first]  # naive: local time
    assert ids(operator="carol") == [third]
    assert ids(operator=jmod.os_user()) == [third, first, second]
    assert ids(limit=1) == [third]
    assert ids(host="nowhere") == []
    [listed] = journal.list_runs(ticket="INC-1")
    assert listed.counts == {"failed": 1, "skipped": 1} and listed.hosts == []


def test_run_ids_by_unique_prefix_and_errors(journal):
    a = start(journal)
    b = start(journal)
    assert a != b
    shortest = next(a[:n] for n in range(1, len(a) + 1) if not b.startswith(a[:n]))
    assert journal.get_run(shortest).id == a
    assert journal.resolve(a) == a
    with pytest.raises(UnknownRunError, match=r"ambiguous: it starts .*give more of it"):
        journal.get_run(a[:2])
    with pytest.raises(UnknownRunError, match=r"unknown run id '20990101-0000-beef'.*remote-support runs list"):
        journal.get_run("20990101-0000-beef")
    with pytest.raises(UnknownRunError, match="unknown run id '50%_x'"):
        journal.get_run("50%_x")
    assert UnknownRunError.exit_code == 5


def test_host_history_is_newest_first_across_runs(journal):
    runs = []
    for i in range(3):
        run_id = start(journal, hosts=["web1", "web2"], ticket=f"INC-{i}")
        journal.record_host(run_id, host("web1", Status.FAILED if i == 1 else Status.OK, steps=[
            step("check", Status.OK), step("fix", Status.FAILED if i == 1 else Status.OK, reason="exit code 3")]))
        journal.finish_run(run_id, RunResult(hosts=()))
        runs.append(run_id)
        time.sleep(0.01)
    history = journal.host_history("web1")
    assert [e.run_id for e in history] == runs[::-1]
    assert [e.ticket for e in history] == ["INC-2", "INC-1", "INC-0"]
    assert history[1].status == "failed" and history[1].failed_step == "fix"
    assert history[1].steps == {"ok": 1, "failed": 1} and history[0].failed_step is None
    assert history[0].run_name == "restart-nginx" and history[0].operator == "alice"
    assert [e.status for e in journal.host_history("web2")] == ["skipped"] * 3
    assert len(journal.host_history("web1", limit=2)) == 2
    assert journal.host_history("nobody") == []


def test_host_history_walks_an_index(journal, journal_url):
    query = journal._history_select("web1", 50)
    engine = raw_engine(journal_url)
    with engine.connect() as conn:
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "ix_run_hosts_host_started" in plan and "TEMP B-TREE" not in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " | ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_run_hosts_host_started" in plan and "Sort" not in plan, plan
    engine.dispose()


def test_notes_and_escalation_bundle(journal, tmp_path):
    run_id = start(journal, hosts=["web1", "web2"])
    journal.record_host(run_id, host("web1", Status.FAILED, [step("logs", Status.FAILED, stdout="out\n" * 5,
                                                                   stderr="<b>err</b>\n", diff="+x\n")]),
                        facts={"os_family": "Debian"})
    journal.record_host(run_id, host("web2", Status.OK, [step("big", Status.OK, stdout="y" * (OUTPUT_LIMIT * 2))]))
    journal.finish_run(run_id, RunResult(hosts=()))
    note = journal.add_note(run_id[:-1], "restarted by hand, still failing", author="bob")
    assert (note.author, note.kind) == ("bob", "note")
    log = tmp_path / "nginx-error.log"
    log.write_text("2026/11/24 [emerg] bind() failed\n")
    bundle = escalate(journal, run_id, "L3", "needs a config review", files=[log], out=tmp_path / "out")
    assert bundle.parent == tmp_path / "out" and bundle.name.startswith(f"{run_id}-L3-")
    assert bundle.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        assert {"README.txt", "report.html", "report.json", "hosts/web1/facts.json", "hosts/web1/01-logs.stdout.txt",
                "hosts/web1/01-logs.stderr.txt", "hosts/web1/01-logs.diff", "hosts/web2/01-big.stdout.txt",
                "fetched/nginx-error.log"} <= names
        assert len(z.read("hosts/web2/01-big.stdout.txt")) == OUTPUT_LIMIT * 2  # full, not truncated
        assert json.loads(z.read("report.json"))["id"] == run_id
        assert b"bind() failed" in z.read("fetched/nginx-error.log")
        assert b"Escalated to L3 by" in z.read("README.txt")
    run = journal.get_run(run_id)
    assert [(n.kind, n.author, n.escalated_to) for n in run.notes] == [
        ("note", "bob", None), ("escalation", jmod.os_user(), "L3")]
    assert run.notes[1].bundle == str(bundle)
    with pytest.raises(JournalError, match="no such file"):
        escalate(journal, run_id, "L3", "x", files=[tmp_path / "missing.log"])


# -- interruption, recovery, resume, retry

def test_recover_marks_runs_of_dead_controllers_interrupted(journal, journal_url):
    dead = start(journal, hosts=["web1", "web2", "web3"])
    journal.record_host(dead, host("web1", Status.OK))
    alive = start(journal, hosts=["web1"])
    elsewhere = start(journal, hosts=["web1"])
    set_controller(journal_url, dead, dead_pid())
    engine = raw_engine(journal_url)
    with engine.begin() as conn:
        conn.execute(jmod.runs.update().where(jmod.runs.c.id == elsewhere).values(controller="other-host", pid=1))
    engine.dispose()

    assert journal.recover() == [dead]
    run = journal.get_run(dead)
    assert (run.status, run.exit_code) == ("interrupted", 99)
    assert "stopped before the run finished" in run.aborted_reason
    assert [(h.host, h.status) for h in run.hosts] == [("web1", "ok"), ("web2", "interrupted"), ("web3", "interrupted")]
    assert "controller process" in run.hosts[1].reason
    assert journal.get_run(alive).status == "running"  # this very process
    assert journal.get_run(elsewhere).status == "running"  # another controller's: not ours to judge
    assert journal.recover() == []


def test_a_reused_pid_is_not_taken_for_the_controller(journal, journal_url):
    run_id = start(journal, hosts=["web1"])
    set_controller(journal_url, run_id, os.getpid(), token="another-boot:12345")
    assert journal.recover() == [run_id]


def test_resume_returns_exactly_the_unfinished_hosts_in_the_same_run(journal, journal_url):
    run_id = start(journal, hosts=["a", "b", "c", "d", "e"])
    journal.record_host(run_id, host("a", Status.OK))
    journal.record_host(run_id, host("b", Status.FAILED))
    journal.record_host(run_id, host("c", Status.INTERRUPTED, [step("half", Status.OK)], reason="interrupted"))
    set_controller(journal_url, run_id, dead_pid())

    assert journal.resume_run(run_id) == ["c", "d", "e"]
    run = journal.get_run(run_id)
    assert (run.status, run.pid, run.exit_code, run.ended_at) == ("running", os.getpid(), None, None)
    assert [h.status for h in run.hosts] == ["ok", "failed", "pending", "pending", "pending"]
    assert run.notes[-1].kind == "resume" and "c, d, e" in run.notes[-1].text
    with pytest.raises(JournalError, match="still running"):
        journal.resume_run(run_id)

    for name in ("c", "d", "e"):
        journal.record_host(run_id, host(name, Status.OK))
    journal.finish_run(run_id, RunResult(hosts=tuple(host(n, Status.OK) for n in "cde")))
    run = journal.get_run(run_id)
    assert (run.status, run.exit_code) == ("failed", 2)  # b failed in the first part
    assert journal.resume_run(run_id) == []
    assert journal.failed_hosts(run_id) == ["b"]
    retry = start(journal, hosts=journal.failed_hosts(run_id), parent_run=run_id)
    assert journal.get_run(retry).parent_run == run_id


def test_finish_run_records_hosts_the_runner_never_started(journal):
    run_id = start(journal, hosts=["a", "b", "c"])
    journal.record_host(run_id, host("a", Status.FAILED))
    result = RunResult(hosts=(host("a", Status.FAILED), HostResult("b", Status.SKIPPED, (), "not run: budget", 1, 1)),
                       aborted_reason="max fail percentage exceeded")
    journal.finish_run(run_id, result)
    run = journal.get_run(run_id)
    assert [(h.host, h.status) for h in run.hosts] == [("a", "failed"), ("b", "skipped"), ("c", "skipped")]
    assert "max fail percentage exceeded" in run.hosts[2].reason
    assert (run.status, run.exit_code, run.aborted_reason) == ("failed", 2, "max fail percentage exceeded")

    interrupted = start(journal, hosts=["a", "b"])
    journal.record_host(interrupted, host("a", Status.OK))
    journal.finish_run(interrupted, RunResult(hosts=(host("a", Status.OK),), interrupted=True))
    run = journal.get_run(interrupted)
    assert (run.status, run.exit_code, [h.status for h in run.hosts]) == ("interrupted", 99, ["ok", "interrupted"])
    assert journal.resume_run(interrupted) == ["b"]


_WRITER = r"""
import sys, threading, time
from remote_support.journal import Journal
from remote_support.results import HostResult, StepResult, Status
journal = Journal.open(sys.argv[1])
hosts = [f"host{i:03d}" for i in range(200)]
run_id = journal.start_run(kind="exec", name="uptime", command="uptime", params={}, inventory=["lab"],
                           pattern="all", check=False, diff=False, ticket="INC-9", operator=None, hosts=hosts,
                           tool_version="test")
print("run", run_id, flush=True)
lock = threading.Lock()
def work(names):
    for name in names:
        now = time.time()
        steps = tuple(StepResult(f"s{i}", Status.OK, command="uptime", rc=0, stdout=f"{name} {i}\n" * 20)
                      for i in range(3))
        journal.record_host(run_id, HostResult(name, Status.OK, steps, "", now, now))
        with lock:
            print("recorded", name, flush=True)
threads = [threading.Thread(target=work, args=(hosts[i::8],)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print("done", flush=True)
time.sleep(60)
"""


def test_a_killed_writer_loses_no_recorded_host(journal_url):
    Journal.open(journal_url).close()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, journal_url], stdout=subprocess.PIPE, text=True,
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    recorded = []
    try:
        run_id = writer.stdout.readline().split()[1]
        while len(recorded) < 30:
            line = writer.stdout.readline()
            assert line, "the writer ended early"
            recorded.append(line.split()[1])
        writer.send_signal(signal.SIGKILL)  # mid-stream: other threads are writing
        rest = writer.stdout.read()
    finally:
        writer.kill()
        writer.wait()
    # only whole lines: SIGKILL may cut the last one mid-write
    recorded += [line.split()[1] for line in rest.split("\n")[:-1] if line.startswith("recorded ")]

    with Journal.open(journal_url) as journal:  # recover() runs at open
        run = journal.get_run(run_id)
    assert run.status == "interrupted"
    by_name = {h.host: h for h in run.hosts}
    assert len(by_name) == 200
    for name in recorded:
        assert by_name[name].status == "ok", name
    for h in run.hosts:
        if h.status == "ok":  # committed whole, or not at all
            assert [s.stdout for s in h.steps] == [f"{h.host} {i}\n" * 20 for i in range(3)]
        else:
            assert (h.status, h.steps) == ("interrupted", ())
    assert 30 <= sum(h.status == "ok" for h in run.hosts) < 200


# -- network device configs (backup steps)

def backup_step(config: str, status=Status.OK) -> StepResult:
    return step("backup", status=status, command="show running-config",
                data={"config": config, "config_backup": {"sha256": "not-checked", "lines": config.count("\n")}})


def test_config_backups_keep_a_version_only_when_the_config_changed(journal):
    first = "hostname sw-1\nvlan 10\n name USERS\n"
    second = first + "vlan 20\n name VOICE\n"
    runs = []
    for config in (first, first, second, second, first):
        run_id = start(journal, hosts=["sw-1"])
        journal.record_host(run_id, host("sw-1", Status.OK, [backup_step(config)]))
        runs.append(run_id)
    versions = journal.config_versions("sw-1")
    assert [(v.version, v.run_id) for v in versions] == [(3, runs[4]), (2, runs[2]), (1, runs[0])]
    assert versions[0].size == len(first) and versions[0].text == ""
    recorded = [journal.get_run(r).hosts[0].steps[0].data["config_backup"] for r in runs]
    assert [(d["version"], d["changed"]) for d in recorded] == [(1, True), (1, False), (2, True), (2, False),
                                                                  (3, True)]
    assert "config" not in journal.get_run(runs[0]).hosts[0].steps[0].data  # the text is kept once, in its table

    assert journal.config_version("sw-1").text == first  # latest
    assert journal.config_version("sw-1", 2).text == second
    assert journal.config_version("sw-1", -2).version == 2
    assert journal.config_version("sw-1", versions[1].sha256[:8]).version == 2
    last_change = journal.config_diff("sw-1")
    assert "-vlan 20\n" in last_change and "- name VOICE\n" in last_change
    assert last_change.startswith("--- sw-1 v2 (") and f"run {runs[4]})" in last_change
    forward = journal.config_diff("sw-1", 1, 2)
    assert "+vlan 20\n" in forward and "-vlan" not in forward
    assert journal.config_diff("sw-1", 1, 3) == ""  # same text again


def test_config_backups_of_failed_steps_and_other_devices_stay_apart(journal):
    run_id = start(journal, hosts=["sw-1", "sw-2"])
    journal.record_host(run_id, host("sw-1", Status.FAILED, [backup_step("hostname sw-1\n", Status.FAILED)]))
    journal.record_host(run_id, host("sw-2", Status.OK, [step("show", Status.OK, data={"config": "x"}),
                                                         backup_step("hostname sw-2\n")]))
    assert journal.config_versions("sw-1") == []
    assert [v.version for v in journal.config_versions("sw-2")] == [1]
    assert journal.get_run(run_id, host="sw-2").hosts[0].steps[0].data == {"config": "x"}  # not a backup


def test_config_version_errors_say_what_to_do(journal):
    with pytest.raises(JournalError, match=r"no config of sw-9: run a backup step.*net-backup -l sw-9"):
        journal.config_version("sw-9")
    run_id = start(journal, hosts=["sw-1"])
    journal.record_host(run_id, host("sw-1", Status.OK, [backup_step("hostname sw-1\n")]))
    with pytest.raises(JournalError, match=r"no config version '7': it has versions 1 to 1"):
        journal.config_version("sw-1", 7)
    with pytest.raises(JournalError, match=r"nothing to compare it with"):
        journal.config_diff("sw-1")
    with pytest.raises(JournalError, match=r"give a version number"):
        journal.config_version("sw-1", "latest!")


def test_config_backups_mask_secrets(journal):
    MASK.add("s3cret-community-77")
    run_id = start(journal, hosts=["sw-1"])
    config = "snmp-server community s3cret-community-77 RO\n"
    journal.record_host(run_id, host("sw-1", Status.OK, [backup_step(config)]))
    assert journal.config_version("sw-1").text == f"snmp-server community {MASKED} RO\n"


def test_migrates_a_version_2_journal_to_config_backups(journal_url):
    engine = raw_engine(journal_url)
    with engine.begin() as conn:
        jmod.schema_version.create(conn)
        conn.execute(jmod.schema_version.insert().values(version=2))
        jmod.MIGRATIONS[0](conn)
        jmod.MIGRATIONS[1](conn)
    engine.dispose()
    with Journal.open(journal_url) as journal:
        assert journal.version() == SCHEMA_VERSION == len(jmod.MIGRATIONS)
        run_id = start(journal, hosts=["sw-1"])
        journal.record_host(run_id, host("sw-1", Status.OK, [backup_step("hostname sw-1\n")]))
        assert [v.version for v in journal.config_versions("sw-1")] == [1]
