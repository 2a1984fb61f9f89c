"""Recording a run into a current SQLite journal with the standard library's sqlite3, and what both
journal writers share.

A run records on its hot path: the run, each host as it finishes, the in-flight mark before a host's first
changing step, the run's end. :class:`remote_support.journal.Journal` does that (and everything else)
through SQLAlchemy, whose import alone costs about 0.2 s of CPU and whose statement handling about
0.3 ms per host. For the default store, a SQLite file whose schema is current, :class:`SQLiteJournal`
writes the same rows with sqlite3 instead, byte for byte what the SQLAlchemy path stores (datetimes as
SQLAlchemy's SQLite ``DateTime`` text, booleans as 0/1, JSON, masked texts, blobs, config versions:
tests/test_journal_sqlite.py records the same runs through both and compares every table).

:func:`open_journal` is how a run opens its journal: it returns a :class:`SQLiteJournal` when it can and
the full :class:`~remote_support.journal.Journal` (SQLAlchemy) whenever something needs more than
recording: a new file or one whose schema needs migrating, PostgreSQL, results waiting in the spool,
runs of a dead controller to mark interrupted, or a URL with options. Any other method asked of a
:class:`SQLiteJournal` (queries, resume) is served by a full ``Journal`` opened on the same file then.

The helpers below (masking, clipping, blobs, JSON) are the ones both writers use, so what is stored
cannot drift apart; :mod:`remote_support.journal` imports them from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import hashlib
import json
import os
import re
import secrets as _random
import socket
import sqlite3
import threading
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .errors import JournalError, UnknownRunError
from .results import HostResult, RunResult, Status, StepResult, outcome_of
from .secrets import MASK, MASKED, SecretRef, is_secret_name, register_secrets
from .spill import SpilledText

if TYPE_CHECKING:
    from .journal import Journal

#: the schema version this module writes; remote_support.journal refuses to load if its migrations
#: reach another one, so a new migration cannot ship without this writer learning its columns
SCHEMA_VERSION = 7

#: characters of one step (or note) kept for searching (remote_support.journal_search, schema 5)
SEARCH_LIMIT = 8 * 1024


def _capped(text: str) -> str:
    if len(text) <= SEARCH_LIMIT:
        return text
    half = SEARCH_LIMIT // 2
    return text[:half] + "\n...\n" + text[-half:]


def step_body(row: dict[str, Any]) -> str:
    """The searchable text of a stored step row (already masked by the journal)."""
    parts = [row.get("name") or "", row.get("command") or "", row.get("reason") or "", row.get("stdout") or "",
             row.get("stderr") or ""]
    return _capped("\n".join(p for p in parts if p))

#: the environment variable naming the journal when ``--journal`` is not given
ENV_VAR = "REMOTE_SUPPORT_JOURNAL"

#: characters of one stream (stdout, stderr, diff) kept in the ``steps`` table; a longer text keeps its
#: first and last halves there, around a marker line, and its full text in ``blobs``
OUTPUT_LIMIT = 64 * 1024

#: run and host statuses beyond :class:`~remote_support.results.Status`
RUNNING = "running"  # a run whose controller is (or was, until recover() says otherwise) at work
PENDING = "pending"  # a planned host whose result has not arrived

#: host statuses that mean "did not finish": what ``runs resume`` runs again
UNFINISHED = (PENDING, Status.INTERRUPTED.value)

#: host statuses that ``runs retry`` runs again
RETRY = (Status.FAILED.value, Status.UNREACHABLE.value)

_STREAMS = ("stdout", "stderr", "diff")  # a step's texts that may be long
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 30_000


class JournalRecorder:
    """RunEvents that record each host in the journal the moment it finishes.

    A journal that cannot be written mid-run (a full disk, PostgreSQL gone) must not stop the run nor lose
    a result: the host goes to the spool (:mod:`remote_support.spool`), the problem is reported once, and
    the next command that opens the journal merges the spool in.
    """

    def __init__(self, journal: "Journal | SQLiteJournal", run_id: str, facts_of=None, warn=None):
        self.journal = journal
        self.run_id = run_id
        self.facts_of = facts_of or (lambda host: None)
        self.warn = warn or (lambda message: None)
        self._lock = threading.Lock()
        self._warned = False
        self._spooled: set[str] = set()
        self.spool: Path | None = None  # the spool file, once something went there

    def host_started(self, host) -> None:
        pass

    def host_finished(self, result: HostResult) -> None:
        facts = self.facts_of(result.host)
        try:
            self.journal.record_host(self.run_id, result, facts=facts)
        except JournalError as exc:
            self._to_spool(result, facts, exc)

    def _to_spool(self, result: HostResult, facts: dict[str, Any] | None, exc: JournalError) -> None:
        from . import spool

        with self._lock:
            try:
                self.spool = spool.append(self.journal.where, self.run_id, spool.host_entry(result, facts))
            except OSError as error:
                self.warn(f"journal: cannot record {result.host} ({exc}) nor keep it in {spool.spool_dir()} "
                          f"({error.strerror or error}): its result is only in this output")
                return
            self._spooled.add(result.host)
            if not self._warned:
                self._warned = True
                self.warn(f"journal: cannot record {result.host} ({exc}); results are kept in {self.spool} "
                          "and merged into the journal by the next command that opens it")

    def finish(self, result: RunResult) -> None:
        """Close the run; hosts still pending in the journal (never started, or not recorded) get their
        final result here. If the journal cannot take it, everything not recorded goes to the spool."""
        try:
            self.journal.finish_run(self.run_id, result)
        except JournalError as exc:
            from . import spool

            for host in result.hosts:
                if host.host not in self._spooled:
                    # record_host replaces: re-spooling a host the journal did take costs nothing
                    self._to_spool(host, self.facts_of(host.host), exc)
            try:
                self.spool = spool.append(self.journal.where, self.run_id, spool.finish_entry(result))
            except OSError:
                pass  # said per host above; the run stays pending and the next open marks it interrupted
            if not self._warned:
                self.warn(f"journal: cannot close the run ({exc}); kept in {self.spool} for the next command")


def os_user() -> str:
    """The OS user running the tool, as recorded with every run and note."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (some containers)
        return f"uid {os.getuid()}"


def _prepare_sqlite_file(path: Path) -> None:
    """Create the journal file (mode 0600, in a 0700 directory) or check the existing one."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise JournalError(_read_only_message(path, f"cannot create {directory}: {exc.strerror}")) from None
    if path.exists():
        if not path.is_file():
            raise JournalError(f"{path} is not a remote-support journal (not a file): point --journal or "
                               "$REMOTE_SUPPORT_JOURNAL at a journal file or a new path")
        try:
            with path.open("rb") as f:
                header = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise JournalError(f"journal {path} cannot be read: {exc.strerror}: check its permissions") from None
        if header and header != _SQLITE_MAGIC:
            raise JournalError(f"{path} is not a remote-support journal (not a SQLite database): point --journal "
                               "or $REMOTE_SUPPORT_JOURNAL at a journal file or a new path")
        if not os.access(path, os.W_OK) or not os.access(directory, os.W_OK | os.X_OK):
            raise JournalError(_read_only_message(path, "not writable"))
        return
    if not os.access(directory, os.W_OK | os.X_OK):
        raise JournalError(_read_only_message(path, f"{directory} is not writable"))
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another process created it first
    except OSError as exc:
        raise JournalError(_read_only_message(path, exc.strerror or str(exc))) from None


def _read_only_message(path: Path, detail: str) -> str:
    return (f"journal {path} cannot be written ({detail}): the journal needs a writable file and directory "
            "(SQLite keeps -wal and -shm files beside it); fix the permissions, or choose another place with "
            f"--journal sqlite:///PATH or ${ENV_VAR}")


def _process_token(pid: int) -> str:
    """``boot id:start time`` of a process, so a PID reused after a reboot or wrap is not taken for it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[1].split()
    return f"{boot}:{fields[19]}"  # field 22 of proc(5), starttime


def _process_alive(pid: int, token: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if state in ("Z", "X"):
        return False
    return not token or _process_token(pid) == token


def _utc(timestamp: float) -> datetime | None:
    return datetime.fromtimestamp(timestamp, timezone.utc) if timestamp else None


_UNSTORABLE = re.compile("\x00")


def _text(value: str | None) -> str:
    """A text as stored: secrets masked, NULs (PostgreSQL refuses them) and lone surrogates replaced."""
    if not value:
        return value or ""
    text = _UNSTORABLE.sub("\ufffd", MASK(str(value)))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _clip(text: str) -> tuple[str, str | None]:
    """The text for the steps table and, when it is longer than OUTPUT_LIMIT, the full text for blobs."""
    if len(text) <= OUTPUT_LIMIT:
        return text, None
    half = OUTPUT_LIMIT // 2
    omitted = len(text) - 2 * half
    marker = (f"\n[... {omitted} characters not shown here: the full text ({len(text)} characters) is kept in "
              "the journal: remote-support runs show RUN --host HOST --step N ...]\n")
    return text[:half] + marker + text[-half:], text


def _step_row(step: StepResult, number: int) -> tuple[dict[str, Any], dict[str, str]]:
    row: dict[str, Any] = {"position": number, "name": _text(step.name), "status": step.status.value,
                           "command": _text(step.command) if step.command is not None else None, "rc": step.rc,
                           "reason": _text(step.reason), "duration": round(step.duration, 3),
                           "attempts": step.attempts, "ignored": bool(step.ignored),
                           "data": _json(_scrub(step.data)) if step.data else None}
    full: dict[str, str] = {}
    for stream in _STREAMS:
        value = getattr(step, stream)
        row[stream], whole = _clip(_text(value))
        if isinstance(value, SpilledText):
            full[stream] = value  # compressed from its file, a chunk at a time, when the blob is written
        elif whole is not None:
            full[stream] = whole
    return row, full


#: compressed bytes one blob may take (held in memory once to insert it); a longer output is cut there
BLOB_LIMIT = 64 * 1024 * 1024
#: characters of a stream that get_run(full_output=True) hands out: the head and the tail beyond it
FULL_OUTPUT_LIMIT = 8 * 1024 * 1024


def _blob(text: str) -> tuple[int, bytes]:
    """(characters, zlib data) of a full text; a spilled one is masked and compressed as it is read."""
    if not isinstance(text, SpilledText):
        return len(text), zlib.compress(text.encode("utf-8"), 6)
    packer = zlib.compressobj(6)
    parts: list[bytes] = []
    packed = characters = 0
    for chunk in MASK.stream(text.chunks()):
        chunk = _UNSTORABLE.sub("\ufffd", chunk)
        if packed > BLOB_LIMIT:
            chunk = f"\n[... the rest of the output is not kept: more than {BLOB_LIMIT} bytes compressed]\n"
        characters += len(chunk)
        parts.append(packer.compress(chunk.encode("utf-8", "replace")))
        packed += len(parts[-1])
        if packed > BLOB_LIMIT and chunk.startswith("\n[... the rest"):
            break
    parts.append(packer.flush())
    text.release()  # the journal holds it now; the temp file's disk space goes back at once
    return characters, b"".join(parts)


def _config_backup(step: StepResult) -> str | None:
    """The config text a backup step took (masked, storable), or None for any other step."""
    if step.status not in (Status.OK, Status.CHANGED) or not isinstance(step.data.get("config_backup"), dict):
        return None
    config = step.data.get("config")
    return _text(config) if isinstance(config, str) else None


_register_secrets = register_secrets  # one walk for every shape: secrets.py


def _scrub(value: Any, secret: bool = False) -> Any:
    """JSON-ready data with secret references shown as such, secret-named values as ******** and every
    known secret masked in the text that remains."""
    if isinstance(value, SecretRef):
        return str(value)
    if isinstance(value, dict):
        return {_text(str(k)): _scrub(v, secret or is_secret_name(str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(v, secret) for v in value]
    if secret and value not in (None, "", False):
        return MASKED
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _text(str(value))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)



def _explain_sqlite(where: str, detail: str) -> JournalError:
    """What a SQLite error means for the journal file ``where``, and what to do."""
    low = detail.lower()
    if "not a database" in low or "malformed" in low:
        return JournalError(f"{where} is not a remote-support journal (SQLite says: {detail}): "
                            "point --journal or $REMOTE_SUPPORT_JOURNAL at a journal file or a new path")
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return JournalError(_read_only_message(Path(where), detail))
    if "locked" in low or "busy" in low:
        return JournalError(f"journal {where} stayed locked by another process for "
                            f"{_BUSY_TIMEOUT_MS // 1000} s ({detail}): try again, or look for a stuck "
                            "remote-support process (fuser on the file)")
    return JournalError(f"journal {where}: {detail}")


# ------------------------------------------------------------------------------ the sqlite3 writer

def _stored_time(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DateTime stores a UTCDateTime: naive UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (journal.UTCDateTime, then sqlalchemy's DATETIME storage format)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time
    v = value.astimezone(timezone.utc)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}."
            f"{v.microsecond:06d}")


def _bool(value: bool) -> int:
    return 1 if value else 0  # SQLAlchemy's Boolean on SQLite


_STEP_COLUMNS = ("host_id", "position", "name", "status", "command", "rc", "stdout", "stderr", "reason", "diff",
                 "duration", "attempts", "ignored", "data")
_INSERT_STEP = f"INSERT INTO steps ({', '.join(_STEP_COLUMNS)}) VALUES ({', '.join('?' * len(_STEP_COLUMNS))})"
_RUN_COLUMNS = ("id", "kind", "name", "command", "params", "inventory", "pattern", "check_mode", "diff_mode",
                "ticket", "os_user", "operator", "controller", "pid", "pid_token", "tool_version", "status",
                "exit_code", "aborted_reason", "started_at", "ended_at", "parent_run", "request")


class _Fallback(Exception):
    """The fast path cannot serve this journal as it is: open the full Journal."""


class SQLiteJournal:
    """The recording half of :class:`~remote_support.journal.Journal` for a current SQLite journal, on
    sqlite3. Thread-safe: one connection, one lock; every write is its own ``BEGIN IMMEDIATE`` transaction
    committed before the method returns, as in the full Journal. Methods it does not have are served by a
    full Journal on the same file, opened the first time one is asked for."""

    is_sqlite = True

    def __init__(self, conn: sqlite3.Connection, path: Path, url: str):
        self._conn = conn
        self._url = url
        self.where = str(path)  # the same name the full Journal gives (the spool matches on it)
        self._lock = threading.Lock()
        self._fresh: dict[tuple[str, str], int] = {}  # as Journal._fresh
        self._full_journal: "Journal | None" = None

    @classmethod
    def open(cls, path: Path, url: str) -> "SQLiteJournal":
        """Open an existing, current journal file; :class:`_Fallback` when the full Journal must."""
        if not path.is_file() or path.stat().st_size == 0:
            raise _Fallback("new file: the full Journal creates the schema")
        from . import spool

        directory = spool.spool_dir()
        if directory.is_dir() and any(directory.glob("*.jsonl")):
            raise _Fallback("results in the spool: the full Journal merges them")
        _prepare_sqlite_file(path)  # the same checks, with the same messages
        try:
            conn = sqlite3.connect(str(path), timeout=_BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                   isolation_level=None)
        except sqlite3.Error as exc:
            raise _Fallback(str(exc)) from None
        try:
            for pragma in (f"busy_timeout = {_BUSY_TIMEOUT_MS}", "journal_mode = WAL", "synchronous = NORMAL",
                           "foreign_keys = ON"):
                conn.execute(f"PRAGMA {pragma}")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                raise _Fallback(f"schema {row and row[0]}: the full Journal migrates or refuses it")
            # Journal.recover() marks runs of dead controllers interrupted: when there are any, let it
            controller = socket.gethostname()
            for _run_id, pid, token in conn.execute(
                    "SELECT id, pid, pid_token FROM runs WHERE status = ? AND controller = ?", (RUNNING, controller)):
                if not _process_alive(pid, token):
                    raise _Fallback("a dead controller's run to recover")
        except (sqlite3.Error, _Fallback):
            conn.close()
            raise _Fallback("the full Journal explains or repairs this") from None
        return cls(conn, path, url)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        if self._full_journal is not None:
            self._full_journal.close()

    def __enter__(self) -> "SQLiteJournal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteJournal({self.where!r})"

    def __getattr__(self, name: str) -> Any:
        # queries, notes by prefix, resume...: the full Journal, on the same file
        if name.startswith("__") or name in ("_conn", "_lock", "_full_journal", "_url"):
            raise AttributeError(name)
        if self._full_journal is None:
            from .journal import Journal

            self._full_journal = Journal.open(self._url)
        return getattr(self._full_journal, name)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise _explain_sqlite(self.where, " ".join(str(exc).split())) from exc

    # -- recording: the same rows as Journal.start_run / mark_changing / record_host / finish_run

    def start_run(self, *, kind: str, name: str, command: str | None, params: dict[str, Any],
                  inventory: Sequence[str], pattern: str, check: bool, diff: bool, ticket: str | None,
                  operator: str | None, hosts: Sequence[str], tool_version: str,
                  parent_run: str | None = None, request: dict[str, Any] | None = None) -> str:
        """As :meth:`Journal.start_run`."""
        if kind not in ("task", "exec", "session"):
            raise ValueError(f"kind must be 'task', 'exec' or 'session', not {kind!r}")
        _register_secrets(params)
        now = datetime.now(timezone.utc)
        at = _stored_time(now)
        row = [None, kind, _text(name), _text(command) if command is not None else None, _json(_scrub(params)),
               _json([_text(str(s)) for s in inventory]), _text(pattern), _bool(check), _bool(diff),
               _text(ticket) if ticket else None, os_user(), _text(operator) if operator else None,
               socket.gethostname(), os.getpid(), _process_token(os.getpid()), tool_version, RUNNING, None, "",
               at, None, parent_run, _text(_json(request)) if request is not None else None]
        planned = list(dict.fromkeys(hosts))
        insert_run = f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"
        for _ in range(10):
            run_id = now.strftime("%Y%m%d-%H%M") + "-" + _random.token_hex(2)
            row[0] = run_id
            try:
                with self._write() as conn:
                    conn.execute(insert_run, row)
                    if planned:
                        conn.executemany(
                            "INSERT INTO run_hosts (run_id, position, host, status, reason, started_at) "
                            "VALUES (?, ?, ?, ?, ?, ?)",
                            [(run_id, i, h, PENDING, "", at) for i, h in enumerate(planned)])
                        ids = conn.execute("SELECT host, id FROM run_hosts WHERE run_id = ?", (run_id,)).fetchall()
                        self._fresh.update({(run_id, host): host_id for host, host_id in ids})
                return run_id
            except JournalError as exc:
                if not isinstance(exc.__cause__, sqlite3.IntegrityError):
                    raise
        raise JournalError(f"journal {self.where}: no free run id in 10 tries: check the clock and try again")

    def mark_changing(self, run_id: str, host: str) -> None:
        """As :meth:`Journal.mark_changing`: committed before it returns."""
        at = _stored_time(datetime.now(timezone.utc))
        host_id = self._fresh.get((run_id, host))
        if host_id is None:
            with self._write() as conn:
                found = conn.execute("SELECT id FROM run_hosts WHERE run_id = ? AND host = ?", (run_id, host)).fetchone()
                conn.execute("UPDATE run_hosts SET changing_at = ? WHERE id = ? AND changing_at IS NULL",
                             (at, found[0] if found else None))
            return
        # One statement is its own transaction (autocommit), committed when execute() returns: one call
        # into SQLite, not three (BEGIN, UPDATE, COMMIT), each a GIL hand-off among 50 threads.
        try:
            with self._lock:
                self._conn.execute("UPDATE run_hosts SET changing_at = ? WHERE id = ? AND changing_at IS NULL",
                                   (at, host_id))
        except sqlite3.Error as exc:
            raise _explain_sqlite(self.where, " ".join(str(exc).split())) from exc

    def record_host(self, run_id: str, result: HostResult, facts: dict[str, Any] | None = None) -> None:
        """As :meth:`Journal.record_host`: committed before it returns."""
        now = datetime.now(timezone.utc)
        status, reason = result.status.value, _text(result.reason)
        ended_at = _stored_time(_utc(result.ended) or now)
        duration = round(result.duration, 3)
        started_at = _stored_time(_utc(result.started)) if result.started else None
        facts_json = _json(_scrub(facts)) if facts is not None else None
        step_rows, long_texts = [], []
        backups: list[tuple[dict[str, Any], dict[str, Any], str]] = []
        for number, step in enumerate(result.steps, 1):
            config = _config_backup(step)
            if config is not None:
                step = dataclasses.replace(step, data={k: v for k, v in step.data.items() if k != "config"})
            row, full = _step_row(step, number)
            step_rows.append(row)
            long_texts.append(full)
            if config is not None:
                backups.append((row, _scrub(step.data), config))
        with self._write() as conn:
            for row, data, config in backups:
                version, changed = self._store_config(conn, result.host, run_id, config,
                                                      _stored_time(_utc(result.ended) or now))
                data["config_backup"] = {**data["config_backup"], "version": version, "changed": changed}
                row["data"] = _json(data)
            host_id = self._fresh.pop((run_id, result.host), None)
            fresh = host_id is not None
            replaced = 0
            if host_id is None:
                found = conn.execute("SELECT id FROM run_hosts WHERE run_id = ? AND host = ?",
                                     (run_id, result.host)).fetchone()
                host_id = found[0] if found else None
            if host_id is None:  # not planned (or an unknown run)
                if conn.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                    raise UnknownRunError(f"journal {self.where}: unknown run id {run_id!r} for host "
                                          f"{result.host}: start the run with start_run() first")
                position = conn.execute("SELECT coalesce(max(position) + 1, 0) FROM run_hosts WHERE run_id = ?",
                                        (run_id,)).fetchone()[0]
                columns = ["run_id", "host", "position", "started_at", "status", "reason", "ended_at", "duration"]
                values = [run_id, result.host, position, started_at or _stored_time(now), status, reason, ended_at,
                          duration]
                if facts_json is not None:
                    columns.append("facts")
                    values.append(facts_json)
                host_id = conn.execute(f"INSERT INTO run_hosts ({', '.join(columns)}) VALUES "
                                       f"({', '.join('?' * len(columns))})", values).lastrowid
            else:
                conn.execute("UPDATE run_hosts SET status = ?, reason = ?, ended_at = ?, duration = ?, "
                             "started_at = coalesce(?, started_at), facts = coalesce(?, facts) WHERE id = ?",
                             (status, reason, ended_at, duration, started_at, facts_json, host_id))
                if not fresh:  # recorded before (a resumed run): its steps are replaced
                    conn.execute("DELETE FROM blobs WHERE step_id IN (SELECT id FROM steps WHERE host_id = ?)",
                                 (host_id,))
                    replaced = conn.execute("DELETE FROM steps WHERE host_id = ?", (host_id,)).rowcount
            # the search index (journal_search.index_steps), in the same transaction
            if replaced > 0:
                conn.execute("DELETE FROM search_index WHERE run_id = ? AND host = ? AND kind = 'step'",
                             (run_id, result.host))
            indexed = [(body, "step", run_id, result.host, str(row["position"]), ended_at)
                       for row in step_rows if (body := step_body(row)).strip()]
            if indexed:
                conn.executemany("INSERT INTO search_index (body, kind, run_id, host, ref, created_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", indexed)
            if not step_rows:
                return
            params = [(host_id, r["position"], r["name"], r["status"], r["command"], r["rc"], r["stdout"],
                       r["stderr"], r["reason"], r["diff"], r["duration"], r["attempts"], _bool(r["ignored"]),
                       r["data"]) for r in step_rows]
            if not any(long_texts):  # the usual case: one executemany, no ids needed
                conn.executemany(_INSERT_STEP, params)
                return
            for values, full in zip(params, long_texts):
                step_id = conn.execute(_INSERT_STEP, values).lastrowid
                for stream, text in full.items():
                    size, data = _blob(text)
                    conn.execute("INSERT INTO blobs (step_id, stream, size, data) VALUES (?, ?, ?, ?)",
                                 (step_id, stream, size, data))

    @staticmethod
    def _store_config(conn: sqlite3.Connection, device: str, run_id: str, text: str,
                      taken_at: str | None) -> tuple[int, bool]:
        """As Journal._store_config."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        latest = conn.execute("SELECT version, sha256 FROM config_backups WHERE device = ? "
                              "ORDER BY version DESC LIMIT 1", (device,)).fetchone()
        if latest is not None and latest[1] == digest:
            return latest[0], False
        version = (latest[0] if latest is not None else 0) + 1
        conn.execute("INSERT INTO config_backups (device, version, run_id, taken_at, sha256, text) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (device, version, run_id, taken_at, digest, text))
        return version, True

    def finish_run(self, run_id: str, result: RunResult) -> None:
        """As :meth:`Journal.finish_run`."""
        try:
            with self._lock:  # a read (autocommit); the lock keeps it out of other threads' transactions
                pending = {host for (host,) in self._conn.execute(
                    "SELECT host FROM run_hosts WHERE run_id = ? AND status = ?", (run_id, PENDING))}
        except sqlite3.Error as exc:
            raise _explain_sqlite(self.where, " ".join(str(exc).split())) from exc
        for host in result.hosts:
            if host.host in pending:
                self.record_host(run_id, host)
        now = _stored_time(datetime.now(timezone.utc))
        with self._write() as conn:
            if conn.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise UnknownRunError(f"journal {self.where}: unknown run id {run_id!r}: nothing to finish")
            left = (Status.INTERRUPTED.value, "interrupted: the run stopped before this host started"
                    ) if result.interrupted else (Status.SKIPPED.value,
                                                  f"not run: {result.aborted_reason or 'the run ended first'}")
            conn.execute("UPDATE run_hosts SET status = ?, reason = ? WHERE run_id = ? AND status = ?",
                         (left[0], _text(left[1]), run_id, PENDING))
            statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM run_hosts WHERE run_id = ?",
                                                    (run_id,))}
            status, exit_code = outcome_of(statuses, interrupted=result.interrupted,
                                           aborted=bool(result.aborted_reason))
            # as Journal.finish_run: a value a step declared secret only while running was recorded in clear
            # with the request at the start: mask it there now
            params, request = conn.execute("SELECT params, request FROM runs WHERE id = ?", (run_id,)).fetchone()
            conn.execute("UPDATE runs SET status = ?, exit_code = ?, ended_at = ?, aborted_reason = ?, params = ?, "
                         "request = ? WHERE id = ?",
                         (status.value, exit_code, now, _text(result.aborted_reason), _text(params),
                          _text(request) if request else None, run_id))

    def add_note(self, run_id: str, text: str, author: str | None = None):
        """As :meth:`Journal.add_note` for a run id given in full (a prefix goes to the full Journal)."""
        created = datetime.now(timezone.utc)
        values = {"created_at": created, "author": _text(author or os_user()), "text": _text(text), "kind": "note",
                  "escalated_to": None, "bundle": None}
        with self._write() as conn:
            if conn.execute("SELECT id FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                found = None
            else:
                found = conn.execute("INSERT INTO notes (run_id, created_at, author, text, kind, escalated_to, bundle) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                     (run_id, _stored_time(created), values["author"], values["text"], "note",
                                      None, None)).lastrowid
                if values["text"] and values["text"].strip():  # journal_search.index_text
                    conn.execute("INSERT INTO search_index (body, kind, run_id, host, ref, created_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (_capped(values["text"]), "note", run_id, None,
                                                               str(found), _stored_time(created)))
        if found is None:
            return self.__getattr__("add_note")(run_id, text, author)
        from .journal import NoteRecord  # the record type lives with the queries

        return NoteRecord(id=found, **values)


def journal_url(url: str | None = None) -> str:
    """The journal URL a command uses: ``url``, else ``$REMOTE_SUPPORT_JOURNAL``, else the default file; a
    plain path names a SQLite file (as Journal.open reads it)."""
    from .connections.base import data_dir

    url = url or os.environ.get(ENV_VAR) or f"sqlite:///{data_dir() / 'journal.sqlite'}"
    if "://" not in url:
        url = f"sqlite:///{os.path.abspath(os.path.expanduser(url))}"
    return url


def open_journal(url: str | None = None) -> "Journal | SQLiteJournal":
    """The journal a run records into: a :class:`SQLiteJournal` for a plain ``sqlite:///PATH`` whose
    schema is current, otherwise ``Journal.open(url)`` (see the module's docstring for when)."""
    url = journal_url(url)
    prefix = "sqlite:///"
    database = url[len(prefix):] if url.startswith(prefix) else ""
    # anything SQLAlchemy's URL parser would read differently (options, %-escapes) goes to it
    if database and database != ":memory:" and not any(c in database for c in "?%#"):
        path = Path(os.path.expanduser(database)).absolute()
        with contextlib.suppress(_Fallback):
            return SQLiteJournal.open(path, url)
    from .journal import Journal

    return Journal.open(url)
