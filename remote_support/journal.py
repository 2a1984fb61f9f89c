"""The run journal: every run, host and step recorded as it happens, for the next technician.

One code path (SQLAlchemy Core) for two stores:

- SQLite, the default: ``<data dir>/journal.sqlite`` (mode 0600, WAL), or any ``sqlite:///PATH``;
- PostgreSQL, for a team sharing one journal: ``postgresql://user:password@host:port/database``
  (driven by psycopg 3).

The URL comes from ``--journal``, else ``$REMOTE_SUPPORT_JOURNAL``, else the default file.

What is kept:

- ``runs``: one row per run: task or ad-hoc command, parameters (secrets masked), inventory sources,
  pattern, check/diff flags, ticket, OS user and ``--operator`` name, the controller (hostname, PID),
  start/end, status, exit code, tool version, and the run it retries (``parent_run``);
- ``run_hosts``: one row per planned host, ``pending`` until the host's result arrives, then its status
  (ok/changed/failed/unreachable/skipped/interrupted), reason, facts snapshot and timings;
- ``steps``: per host, each step's rendered command, rc, stdout, stderr, diff, duration, attempts;
- ``blobs``: the full text of a stream longer than :data:`OUTPUT_LIMIT` characters, zlib-compressed;
  the ``steps`` column then holds its first and last halves around a marker line;
- ``notes``: notes, escalations (with the evidence bundle written) and resumes, by whom and when;
- ``config_backups``: network devices' running configs taken by ``backup`` steps, one row per device and
  version (run, time, SHA-256, text); a new version only when the text differs from the device's last one,
  so ``remote-support config history/diff`` read them like Oxidized or RANCID would.

Every text stored passes through :data:`remote_support.secrets.MASK`, and values of variables named like
secrets are replaced by ``********`` before they are stored. Each host's result is committed on its own
as it arrives, so a runner killed mid-run loses at most the hosts in flight; the next ``Journal.open``
on the same controller marks such a run ``interrupted`` (see :meth:`Journal.recover`).
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import difflib
import hashlib
import json
import os
import re
import secrets as _random
import socket
import threading
import zlib
import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from .errors import JournalError, UnknownRunError
from .results import (EXIT_INTERRUPTED, JSON_FORMAT_VERSION, HostResult, RunResult, Status, StepResult, outcome_of,
                      summary)
from .secrets import MASK
# what both writers share (constants, masking, clipping, blobs, the recorder): one definition, so the
# SQLAlchemy path and the sqlite3 fast path (journal_sqlite.py) cannot store different things
from . import journal_sqlite
from .journal_sqlite import (_BUSY_TIMEOUT_MS, _SQLITE_MAGIC, _STREAMS, _UNSTORABLE, BLOB_LIMIT, ENV_VAR,  # noqa: F401
                             FULL_OUTPUT_LIMIT, OUTPUT_LIMIT, PENDING, RETRY, RUNNING, UNFINISHED, JournalRecorder,
                             _blob, _clip, _config_backup, _explain_sqlite, _json, _prepare_sqlite_file,
                             _process_alive, _process_token, _read_only_message, _register_secrets, _scrub,
                             _step_row, _text, _utc, os_user)

_PG_LOCK_KEY = 0x52534A4E  # "RSJN": serialises schema upgrades between controllers sharing one database


# --------------------------------------------------------------------------------------------- schema

class UTCDateTime(sa.TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC (sortable text in SQLite)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.astimezone()  # naive means local time
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


# The tables as the code uses them: the schema at SCHEMA_VERSION. The migrations below build exactly this
# (tests/test_journal.py checks it); change both together, and only ever by adding a migration.
metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),  # task | exec
    sa.Column("name", sa.Text, nullable=False),  # the task's name, or the ad-hoc command
    sa.Column("command", sa.Text),  # the ad-hoc command (exec)
    sa.Column("params", sa.Text, nullable=False),  # JSON, secrets masked
    sa.Column("inventory", sa.Text, nullable=False),  # JSON list of sources
    sa.Column("pattern", sa.Text, nullable=False),
    sa.Column("check_mode", sa.Boolean, nullable=False),
    sa.Column("diff_mode", sa.Boolean, nullable=False),
    sa.Column("ticket", sa.String(200)),
    sa.Column("os_user", sa.String(200), nullable=False),
    sa.Column("operator", sa.String(200)),
    sa.Column("controller", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("pid_token", sa.String(100), nullable=False),  # boot id + process start: survives PID reuse
    sa.Column("tool_version", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("aborted_reason", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("parent_run", sa.String(40)),  # schema 2: the run this one retries
    sa.Column("request", sa.Text),  # schema 4: the whole RunRequest as JSON (secrets as references only)
)
sa.Index("ix_runs_started", runs.c.started_at)
sa.Index("ix_runs_ticket", runs.c.ticket)
sa.Index("ix_runs_status", runs.c.status)

run_hosts = sa.Table(
    "run_hosts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # inventory order
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),  # the run's start until the host's result arrives
    sa.Column("ended_at", UTCDateTime),
    sa.Column("duration", sa.Float),
    sa.Column("facts", sa.Text),  # JSON, secrets masked
    # schema 4: when the host's first step that may change it started (None: it changed nothing yet), so
    # `runs resume` knows which interrupted hosts were in flight and may be half-changed
    sa.Column("changing_at", UTCDateTime),
    sa.Column("worker", sa.String(255)),  # schema (workers): the site worker that ran the host, if any
    sa.UniqueConstraint("run_id", "host", name="uq_run_hosts_run_host"),
)
# schema 2: `hosts history H` walks this index backwards and stops after `limit` rows
sa.Index("ix_run_hosts_host_started", run_hosts.c.host, run_hosts.c.started_at, run_hosts.c.id)

steps = sa.Table(
    "steps", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("host_id", sa.Integer, sa.ForeignKey("run_hosts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # 1-based step number
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("command", sa.Text),
    sa.Column("rc", sa.Integer),
    sa.Column("stdout", sa.Text, nullable=False),
    sa.Column("stderr", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("diff", sa.Text, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("ignored", sa.Boolean, nullable=False),
    sa.Column("data", sa.Text),  # JSON, secrets masked
    sa.UniqueConstraint("host_id", "position", name="uq_steps_host_position"),
)

blobs = sa.Table(  # schema 2
    "blobs", metadata,
    sa.Column("step_id", sa.Integer, sa.ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("stream", sa.String(10), primary_key=True),  # stdout | stderr | diff
    sa.Column("size", sa.Integer, nullable=False),  # characters
    sa.Column("data", sa.LargeBinary, nullable=False),  # zlib(UTF-8)
)

notes = sa.Table(
    "notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="note"),  # schema 2: note|escalation|resume
    sa.Column("escalated_to", sa.String(200)),  # schema 2
    sa.Column("bundle", sa.Text),  # schema 2: the evidence zip written
)
sa.Index("ix_notes_run", notes.c.run_id)

config_backups = sa.Table(  # schema 3
    "config_backups", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # 1, 2, ... per device
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("taken_at", UTCDateTime, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # secrets masked
    sa.UniqueConstraint("device", "version", name="uq_config_backups_device_version"),
)

# recorded sessions (`remote-support shell`, remote_support/sessions/): the asciicast v2 events of a run of
# kind "session", written as the session goes; seq 0 is the header (kind "h", JSON)
session_chunks = sa.Table(
    "session_chunks", metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("t", sa.Float, nullable=False),  # seconds since the session started
    sa.Column("kind", sa.String(1), nullable=False),  # h header | o output | i input | r resize
    sa.Column("data", sa.Text, nullable=False),  # secrets masked
)

# the screen text of a session (rendered through pyte), for `sessions search`; rebuilt when more chunks came
session_screens = sa.Table(
    "session_screens", metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("last_seq", sa.Integer, nullable=False),  # the chunk the text was rendered up to
    sa.Column("text", sa.Text, nullable=False),
)


# schema (workers): a distributed run's parts, one per site, each with the lease of the worker running it
# (remote_support/workers/leases.py), and the cancel flag the controller sets on Ctrl-C
run_parts = sa.Table(
    "run_parts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("site", sa.String(100), nullable=False),
    sa.Column("hosts", sa.Text, nullable=False),  # JSON list, inventory order
    sa.Column("round", sa.Integer, nullable=False),  # 1, +1 each time the part is sent again (runs resume)
    sa.Column("status", sa.String(20), nullable=False),  # queued | running | done | failed | refused | timed_out
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("worker", sa.String(255)),  # the lease holder
    sa.Column("deliveries", sa.Integer, nullable=False),  # claims so far, a redelivery counts
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("heartbeat_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),  # the lease ends here unless the heartbeat moves it
    sa.Column("ended_at", UTCDateTime),
    sa.UniqueConstraint("run_id", "site", name="uq_run_parts_run_site"),
)

run_cancels = sa.Table(
    "run_cancels", metadata,
    sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
)


# Statements of the hot path (one host recorded per finishing host), built once: building them per call
# costs SQLAlchemy more than executing them.
_RECORD_HOST = (run_hosts.update().where(run_hosts.c.id == sa.bindparam("b_id")).values(
    status=sa.bindparam("b_status"), reason=sa.bindparam("b_reason"), ended_at=sa.bindparam("b_ended_at"),
    duration=sa.bindparam("b_duration"),
    started_at=sa.func.coalesce(sa.bindparam("b_started_at", type_=UTCDateTime()), run_hosts.c.started_at),
    facts=sa.func.coalesce(sa.bindparam("b_facts", type_=sa.Text()), run_hosts.c.facts)))
_INSERT_STEPS = steps.insert()
_MARK_CHANGING = (run_hosts.update().where(run_hosts.c.id == sa.bindparam("b_id"), run_hosts.c.changing_at.is_(None))
                  .values(changing_at=sa.bindparam("b_at", type_=UTCDateTime())))


def _migration_1(conn: sa.Connection) -> None:
    """The first journal: runs, hosts, steps, notes. Frozen: written out, not derived from the model."""
    m = sa.MetaData()
    r = sa.Table(
        "runs", m,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("inventory", sa.Text, nullable=False),
        sa.Column("pattern", sa.Text, nullable=False),
        sa.Column("check_mode", sa.Boolean, nullable=False),
        sa.Column("diff_mode", sa.Boolean, nullable=False),
        sa.Column("ticket", sa.String(200)),
        sa.Column("os_user", sa.String(200), nullable=False),
        sa.Column("operator", sa.String(200)),
        sa.Column("controller", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("pid_token", sa.String(100), nullable=False),
        sa.Column("tool_version", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("aborted_reason", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
    )
    sa.Table(
        "run_hosts", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("duration", sa.Float),
        sa.Column("facts", sa.Text),
        sa.UniqueConstraint("run_id", "host", name="uq_run_hosts_run_host"),
    )
    sa.Table(
        "steps", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("host_id", sa.Integer, sa.ForeignKey("run_hosts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("command", sa.Text),
        sa.Column("rc", sa.Integer),
        sa.Column("stdout", sa.Text, nullable=False),
        sa.Column("stderr", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("ignored", sa.Boolean, nullable=False),
        sa.Column("data", sa.Text),
        sa.UniqueConstraint("host_id", "position", name="uq_steps_host_position"),
    )
    n = sa.Table(
        "notes", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    sa.Index("ix_runs_started", r.c.started_at)
    sa.Index("ix_runs_ticket", r.c.ticket)
    sa.Index("ix_runs_status", r.c.status)
    sa.Index("ix_notes_run", n.c.run_id)
    m.create_all(conn)


def _migration_2(conn: sa.Connection) -> None:
    """Retries (runs.parent_run), full outputs (blobs), escalations (notes.kind...), the history index."""
    m = sa.MetaData()
    _add_column(conn, "runs", sa.Column("parent_run", sa.String(40)))
    _add_column(conn, "notes", sa.Column("kind", sa.String(20), nullable=False, server_default="note"))
    _add_column(conn, "notes", sa.Column("escalated_to", sa.String(200)))
    _add_column(conn, "notes", sa.Column("bundle", sa.Text))
    sa.Table("steps", m, sa.Column("id", sa.Integer, primary_key=True))  # for the foreign key only
    sa.Table(
        "blobs", m,
        sa.Column("step_id", sa.Integer, sa.ForeignKey("steps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("stream", sa.String(10), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    ).create(conn)
    hosts = sa.Table("run_hosts", m, sa.Column("id", sa.Integer), sa.Column("host", sa.String(255)),
                     sa.Column("started_at", UTCDateTime))
    sa.Index("ix_run_hosts_host_started", hosts.c.host, hosts.c.started_at, hosts.c.id).create(conn)


def _migration_3(conn: sa.Connection) -> None:
    """Network devices' config versions (config_backups), taken by backup steps."""
    m = sa.MetaData()
    sa.Table("runs", m, sa.Column("id", sa.String(40), primary_key=True))  # for the foreign key only
    sa.Table(
        "config_backups", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("taken_at", UTCDateTime, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.UniqueConstraint("device", "version", name="uq_config_backups_device_version"),
    ).create(conn)


def _migration_4(conn: sa.Connection) -> None:
    """The whole run request (remote_support.api.RunRequest) kept with the run, so resume and retry
    repeat it exactly; when each host's first changing step started (run_hosts.changing_at)."""
    _add_column(conn, "runs", sa.Column("request", sa.Text))
    _add_column(conn, "run_hosts", sa.Column("changing_at", UTCDateTime))


def _migration_workers(conn: sa.Connection) -> None:
    """Site workers (remote_support/workers/): the parts of a distributed run with their leases
    (run_parts), the cancel flag of a run (run_cancels), and the worker that ran each host."""
    m = sa.MetaData()
    sa.Table("runs", m, sa.Column("id", sa.String(40), primary_key=True))  # for the foreign keys only
    sa.Table(
        "run_parts", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("site", sa.String(100), nullable=False),
        sa.Column("hosts", sa.Text, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("worker", sa.String(255)),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.UniqueConstraint("run_id", "site", name="uq_run_parts_run_site"),
    ).create(conn)
    sa.Table(
        "run_cancels", m,
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
    ).create(conn)
    _add_column(conn, "run_hosts", sa.Column("worker", sa.String(255)))


def _migration_sessions(conn: sa.Connection) -> None:
    """Recorded sessions: their asciicast events (session_chunks) and rendered screen text (session_screens).
    Self-contained, so it can take any number when merged."""
    m = sa.MetaData()
    sa.Table("runs", m, sa.Column("id", sa.String(40), primary_key=True))  # for the foreign keys only
    sa.Table(
        "session_chunks", m,
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    ).create(conn)
    sa.Table(
        "session_screens", m,
        sa.Column("run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    ).create(conn)


def _migration_5(conn: sa.Connection) -> None:
    """The team's web view (issue 14): people (users, api_tokens, web_sessions), the audit trail, approvals
    of runs, and one full-text table over step output, notes and escalations (search_index: SQLite FTS5,
    PostgreSQL a tsvector column with a GIN index). Self-contained: written out, not derived from the model."""
    m = sa.MetaData()
    users = sa.Table(
        "users", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),  # argon2id
        sa.Column("level", sa.Integer, nullable=False),  # 0 viewer, 1..3 support level
        sa.Column("approver", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "api_tokens", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # SHA-256 of the token
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
    )
    sa.Table(
        "web_sessions", m,
        sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    audit = sa.Table(
        "audit", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("remote", sa.String(100), nullable=False),
    )
    approvals = sa.Table(
        "approvals", m,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("request", sa.Text, nullable=False),  # JSON: what is approved (references only)
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("check_run", sa.String(40)),
        sa.Column("diff", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # pending | approved | refused | used
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", UTCDateTime),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("used_by_run", sa.String(40)),
    )
    m.create_all(conn)
    sa.Index("ix_audit_at", audit.c.at).create(conn)
    sa.Index("ix_approvals_hash", approvals.c.request_hash).create(conn)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE search_index USING fts5(body, kind UNINDEXED, run_id UNINDEXED, "
            "host UNINDEXED, ref UNINDEXED, created_at UNINDEXED, tokenize = 'unicode61')")
    else:
        conn.exec_driver_sql(
            "CREATE TABLE search_index (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, kind VARCHAR(20) NOT NULL, "
            "run_id VARCHAR(40) NOT NULL REFERENCES runs(id) ON DELETE CASCADE, host VARCHAR(255), "
            "ref VARCHAR(40), created_at TIMESTAMP NOT NULL, "
            "tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED)")
        conn.exec_driver_sql("CREATE INDEX ix_search_index_tsv ON search_index USING GIN (tsv)")
        conn.exec_driver_sql("CREATE INDEX ix_search_index_run ON search_index (run_id)")


def _add_column(conn: sa.Connection, table: str, column: sa.Column) -> None:
    sa.Table(table, sa.MetaData(), column)  # CreateColumn compiles a column of a table
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {ddl}")


#: The schema's history, oldest first: MIGRATIONS[n] takes a journal from version n to n + 1.
#: Never change one that has shipped; append a new one.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_migration_1, _migration_2, _migration_3,
                                                         _migration_4, _migration_workers, _migration_sessions,
                                                         _migration_5]
SCHEMA_VERSION = len(MIGRATIONS)
if SCHEMA_VERSION != journal_sqlite.SCHEMA_VERSION:  # a new migration needs the sqlite3 writer taught too
    raise ImportError(f"journal schema {SCHEMA_VERSION} but journal_sqlite writes {journal_sqlite.SCHEMA_VERSION}: "
                      "teach remote_support/journal_sqlite.py the new columns")


# --------------------------------------------------------------------------------------------- records

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class NoteRecord:
    """A note on a run; escalations and resumes are notes of their own kind."""

    id: int
    created_at: datetime
    author: str
    text: str
    kind: str = "note"
    escalated_to: str | None = None
    bundle: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"created_at": _iso(self.created_at), "author": self.author, "kind": self.kind, "text": self.text,
                "escalated_to": self.escalated_to, "bundle": self.bundle}


@dataclass
class RunRecord:
    """One run as recorded. ``counts`` is hosts by status; ``hosts``/``notes`` are filled by get_run only."""

    id: str
    kind: str
    name: str
    command: str | None
    params: dict[str, Any]
    inventory: list[str]
    pattern: str
    check: bool
    diff: bool
    ticket: str | None
    os_user: str
    operator: str | None
    controller: str
    pid: int
    tool_version: str
    status: str
    exit_code: int | None
    aborted_reason: str
    started_at: datetime
    ended_at: datetime | None
    parent_run: str | None
    request: dict[str, Any] | None = None  # the RunRequest as recorded (None for runs before schema 4)
    counts: dict[str, int] = field(default_factory=dict)
    hosts: list[HostResult] = field(default_factory=list)
    notes: list[NoteRecord] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    @property
    def who(self) -> str:
        """``operator (os user)`` or the OS user alone."""
        return f"{self.operator} ({self.os_user})" if self.operator and self.operator != self.os_user else self.os_user

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": JSON_FORMAT_VERSION, "id": self.id, "kind": self.kind, "name": self.name, "command": self.command,
                "params": self.params, "inventory": self.inventory, "pattern": self.pattern, "check": self.check,
                "diff": self.diff, "ticket": self.ticket, "os_user": self.os_user, "operator": self.operator,
                "controller": self.controller, "pid": self.pid, "tool_version": self.tool_version,
                "status": self.status, "exit_code": self.exit_code, "aborted_reason": self.aborted_reason,
                "started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at), "duration": self.duration,
                "parent_run": self.parent_run, "request": self.request,
                "summary": summary(self.counts),
                "hosts": [h.to_dict() for h in self.hosts], "notes": [n.to_dict() for n in self.notes]}


@dataclass
class HistoryEntry:
    """What happened on one host in one run: a line of ``hosts history``."""

    run_id: str
    host: str
    status: str
    reason: str
    started_at: datetime
    ended_at: datetime | None
    duration: float | None
    run_kind: str
    run_name: str
    run_status: str
    ticket: str | None
    os_user: str
    operator: str | None
    steps: dict[str, int]  # step count by status
    failed_step: str | None  # the first step that failed (not ignored), by name
    check: bool = False  # the run was in check mode: nothing was changed

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "host": self.host, "status": self.status, "reason": self.reason,
                "started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at), "duration": self.duration,
                "run_kind": self.run_kind, "run_name": self.run_name, "run_status": self.run_status,
                "ticket": self.ticket, "os_user": self.os_user, "operator": self.operator, "steps": self.steps,
                "failed_step": self.failed_step, "check": self.check}


@dataclass
class ConfigVersion:
    """One stored running config of a network device (``text`` is filled by config_version only)."""

    device: str
    version: int
    run_id: str
    taken_at: datetime
    sha256: str
    size: int
    text: str = ""

    @property
    def label(self) -> str:
        """How diffs name it: ``sw-001 v3 (2026-11-24 22:50:01 UTC, run ...)``."""
        return f"{self.device} v{self.version} ({self.taken_at:%Y-%m-%d %H:%M:%S} UTC, run {self.run_id})"

    def to_dict(self) -> dict[str, Any]:
        data = {"device": self.device, "version": self.version, "run_id": self.run_id,
                "taken_at": _iso(self.taken_at), "sha256": self.sha256, "size": self.size}
        if self.text:
            data["text"] = self.text
        return data


# --------------------------------------------------------------------------------------------- the journal

class Journal:
    """A journal store. Thread-safe: one instance serves every runner thread."""

    def __init__(self, engine: sa.Engine, where: str):
        self._engine = engine
        self.where = where  # for messages: the file, or the URL without its password
        self.is_sqlite = engine.dialect.name == "sqlite"
        # (run id, host) -> row id of the pending rows this process created: their first recording
        # needs no lookup and has no earlier steps to delete (recording is on every run's hot path)
        self._fresh: dict[tuple[str, str], int] = {}
        # SQLite has one writer at a time: threads of this process queue here rather than on busy_timeout
        self._write_lock: contextlib.AbstractContextManager = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext())

    # -- opening

    @classmethod
    def open(cls, url: str | None = None) -> "Journal":
        """Open (creating or upgrading) the journal at ``url``, ``$REMOTE_SUPPORT_JOURNAL`` or the default.

        Runs left ``running`` by a controller process that is gone are marked interrupted (:meth:`recover`).
        """
        url = journal_sqlite.journal_url(url)  # also how a run's fast path finds it
        try:
            parsed = sa.engine.make_url(url)
        except sa_exc.ArgumentError:
            raise JournalError(f"journal URL {url!r} is not valid: use sqlite:///PATH or "
                               "postgresql://USER:PASSWORD@HOST:PORT/DATABASE") from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            journal = cls._open_sqlite(parsed)
        elif backend in ("postgresql", "postgres"):
            journal = cls._open_postgresql(parsed)
        else:
            raise JournalError(f"journal URL {parsed.render_as_string(hide_password=True)!r}: unsupported "
                               f"database {backend!r}: use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
        try:
            journal._upgrade()
            from . import spool

            spool.merge(journal)  # results a full or absent journal could not take, before recover() judges
            journal.recover()
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def _open_sqlite(cls, url: sa.URL) -> "Journal":
        if not url.database or url.database == ":memory:":
            raise JournalError(f"journal URL {url.render_as_string()!r} names no file: use sqlite:///PATH")
        path = Path(os.path.expanduser(url.database)).absolute()
        _prepare_sqlite_file(path)
        engine = sa.create_engine(url.set(database=str(path)),
                                  connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
            cursor = dbapi_connection.cursor()
            for pragma in (f"busy_timeout = {_BUSY_TIMEOUT_MS}", "journal_mode = WAL", "synchronous = NORMAL",
                           "foreign_keys = ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # A writer takes the write lock up front, so busy_timeout applies and no reader-turned-writer
            # ever fails on a snapshot that another process changed.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("journal_write")
                                 else "BEGIN")

        return cls(engine, str(path))

    @classmethod
    def _open_postgresql(cls, url: sa.URL) -> "Journal":
        if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise JournalError(f"journal URL {url.render_as_string(hide_password=True)!r}: driver "
                               f"{url.drivername!r} is not supported: write postgresql://USER@HOST:PORT/DATABASE")
        if url.password:
            MASK.add(str(url.password))
        engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True,
                                  connect_args={"connect_timeout": 10, "application_name": "remote-support"})
        return cls(engine, url.render_as_string(hide_password=True))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.where!r})"

    # -- transactions and errors

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._errors(), self._engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._errors(), self._write_lock, self._engine.connect() as conn:
            conn.execution_options(journal_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa_exc.DBAPIError as exc:
            raise self._explain(exc) from exc
        except sa_exc.TimeoutError as exc:
            raise JournalError(f"journal {self.where}: no database connection free in time ({exc}); "
                               "too many threads at once, or the server is too slow: try fewer --forks") from exc

    def _explain(self, exc: sa_exc.DBAPIError) -> JournalError:
        detail = " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc)
        low = detail.lower()
        if self.is_sqlite:
            return _explain_sqlite(self.where, detail)
        url = self._engine.url
        where = f"{url.host or 'the local socket'}:{url.port or 5432}"
        if isinstance(exc, sa_exc.OperationalError) and ("connection" in low or "timeout" in low
                                                         or "could not" in low or "fatal" in low):
            if "password" in low or "authentication" in low or "role" in low and "does not exist" in low:
                hint = "check the user and password in the journal URL (or ~/.pgpass) and pg_hba.conf on the server"
            elif "database" in low and "does not exist" in low:
                hint = (f"create it (createdb -h {url.host} -p {url.port or 5432} {url.database}) "
                        "or fix the database name in the URL")
            else:
                hint = ("check that the PostgreSQL server is running there and accepts TCP connections from this "
                        "machine (listen_addresses, pg_hba.conf, firewall), or use a local journal with "
                        "--journal sqlite:///PATH")
            return JournalError(f"journal {self.where} cannot be reached at {where}: {detail}. {hint}")
        return JournalError(f"journal {self.where}: {detail}")

    # -- schema

    def _upgrade(self) -> None:
        with self._write() as conn:
            if not self.is_sqlite:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            tables = set(sa.inspect(conn).get_table_names())
            if "schema_version" not in tables:
                ours = tables & set(metadata.tables)
                if ours or (self.is_sqlite and tables):
                    raise JournalError(f"{self.where} is not a remote-support journal (it holds the tables "
                                       f"{', '.join(sorted(tables))}): use another file or database for the "
                                       "journal (--journal or $REMOTE_SUPPORT_JOURNAL)")
                schema_version.create(conn)
                conn.execute(schema_version.insert().values(version=0))
                version = 0
            else:
                version = conn.execute(sa.select(schema_version.c.version)).scalar()
                if version is None:
                    raise JournalError(f"{self.where}: the journal's schema_version table is empty, so its "
                                       "schema is unknown: restore it from a backup or start a new journal")
            if version > SCHEMA_VERSION:
                raise JournalError(f"journal {self.where} was written by a newer remote-support "
                                   f"(schema {version}; this one knows up to {SCHEMA_VERSION}): upgrade remote-support")
            for migration in MIGRATIONS[version:]:
                migration(conn)
            if version < SCHEMA_VERSION:
                conn.execute(schema_version.update().values(version=SCHEMA_VERSION))

    def version(self) -> int:
        """The journal's schema version."""
        with self._read() as conn:
            return conn.execute(sa.select(schema_version.c.version)).scalar_one()

    # -- recording

    def start_run(self, *, kind: str, name: str, command: str | None, params: dict[str, Any],
                  inventory: Sequence[str], pattern: str, check: bool, diff: bool, ticket: str | None,
                  operator: str | None, hosts: Sequence[str], tool_version: str,
                  parent_run: str | None = None, request: dict[str, Any] | None = None) -> str:
        """Record a new run as ``running`` with one ``pending`` row per planned host; return its id."""
        if kind not in ("task", "exec", "session"):
            raise ValueError(f"kind must be 'task', 'exec' or 'session', not {kind!r}")
        _register_secrets(params)
        now = datetime.now(timezone.utc)
        row = {"kind": kind, "name": _text(name), "command": _text(command) if command is not None else None,
               "params": _json(_scrub(params)), "inventory": _json([_text(str(s)) for s in inventory]),
               "pattern": _text(pattern), "check_mode": bool(check), "diff_mode": bool(diff),
               "ticket": _text(ticket) if ticket else None, "os_user": os_user(),
               "operator": _text(operator) if operator else None, "controller": socket.gethostname(),
               "pid": os.getpid(), "pid_token": _process_token(os.getpid()), "tool_version": tool_version,
               "status": RUNNING, "exit_code": None, "aborted_reason": "", "started_at": now, "ended_at": None,
               "parent_run": parent_run, # references only (prepare() refuses literal secrets), so the request is kept as given, masked text
               "request": _text(_json(request)) if request is not None else None}
        planned = list(dict.fromkeys(hosts))
        for _ in range(10):
            run_id = now.strftime("%Y%m%d-%H%M") + "-" + _random.token_hex(2)
            try:
                with self._write() as conn:
                    conn.execute(runs.insert().values(id=run_id, **row))
                    if planned:
                        conn.execute(run_hosts.insert(), [
                            {"run_id": run_id, "position": i, "host": h, "status": PENDING, "reason": "",
                             "started_at": now} for i, h in enumerate(planned)])
                        ids = conn.execute(sa.select(run_hosts.c.host, run_hosts.c.id)
                                           .where(run_hosts.c.run_id == run_id)).all()
                        self._fresh.update({(run_id, host): host_id for host, host_id in ids})
                return run_id
            except JournalError as exc:
                if not isinstance(exc.__cause__, sa_exc.IntegrityError):
                    raise
        raise JournalError(f"journal {self.where}: no free run id in 10 tries: check the clock and try again")

    def mark_changing(self, run_id: str, host: str) -> None:
        """Note, synchronously, that ``host`` is about to run its first step that may change it: if the run
        dies now, ``runs resume`` knows this host was in flight."""
        now = datetime.now(timezone.utc)
        host_id = self._fresh.get((run_id, host))
        with self._write() as conn:
            if host_id is None:
                host_id = conn.execute(sa.select(run_hosts.c.id).where(
                    run_hosts.c.run_id == run_id, run_hosts.c.host == host)).scalar()
            conn.execute(_MARK_CHANGING, {"b_id": host_id, "b_at": now})

    def in_flight(self, run_id: str) -> list[str]:
        """The unfinished hosts of a run that had started a changing step: they may be half-changed."""
        with self._read() as conn:
            run_id = self._resolve(conn, run_id)
            return list(conn.execute(sa.select(run_hosts.c.host).where(
                run_hosts.c.run_id == run_id, run_hosts.c.status.in_(UNFINISHED),
                run_hosts.c.changing_at.is_not(None)).order_by(run_hosts.c.position)).scalars())

    def record_host(self, run_id: str, result: HostResult, facts: dict[str, Any] | None = None) -> None:
        """Store one host's result (and facts), replacing its pending row; committed before returning."""
        now = datetime.now(timezone.utc)
        values: dict[str, Any] = {"status": result.status.value, "reason": _text(result.reason),
                                  "ended_at": _utc(result.ended) or now, "duration": round(result.duration, 3)}
        if result.started:
            values["started_at"] = _utc(result.started)
        if facts is not None:
            values["facts"] = _json(_scrub(facts))
        step_rows, long_texts = [], []
        backups: list[tuple[dict[str, Any], dict[str, Any], str]] = []  # (row, step data, config text)
        for number, step in enumerate(result.steps, 1):
            config = _config_backup(step)
            if config is not None:  # the text goes to config_backups, not into the step's data
                step = dataclasses.replace(step, data={k: v for k, v in step.data.items() if k != "config"})
            row, full = _step_row(step, number)
            step_rows.append(row)
            long_texts.append(full)
            if config is not None:
                backups.append((row, _scrub(step.data), config))
        with self._write() as conn:
            for row, data, config in backups:
                version, changed = self._store_config(conn, result.host, run_id, config,
                                                      _utc(result.ended) or now)
                data["config_backup"] = {**data["config_backup"], "version": version, "changed": changed}
                row["data"] = _json(data)
            host_id = self._fresh.pop((run_id, result.host), None)
            fresh = host_id is not None
            replaced = 0
            if host_id is None:
                host_id = conn.execute(sa.select(run_hosts.c.id).where(
                    run_hosts.c.run_id == run_id, run_hosts.c.host == result.host)).scalar()
            if host_id is None:  # not planned (or an unknown run)
                if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
                    raise UnknownRunError(f"journal {self.where}: unknown run id {run_id!r} for host "
                                          f"{result.host}: start the run with start_run() first")
                position = conn.execute(sa.select(sa.func.coalesce(sa.func.max(run_hosts.c.position) + 1, 0))
                                        .where(run_hosts.c.run_id == run_id)).scalar()
                host_id = conn.execute(run_hosts.insert().values(
                    run_id=run_id, host=result.host, position=position, started_at=values.get("started_at", now),
                    **{k: v for k, v in values.items() if k != "started_at"}).returning(run_hosts.c.id)).scalar_one()
            else:
                conn.execute(_RECORD_HOST, {"b_id": host_id, "b_status": values["status"],
                                            "b_reason": values["reason"], "b_ended_at": values["ended_at"],
                                            "b_duration": values["duration"],
                                            "b_started_at": values.get("started_at"),
                                            "b_facts": values.get("facts")})
                if not fresh:  # recorded before (a resumed run): its steps are replaced
                    old = sa.select(steps.c.id).where(steps.c.host_id == host_id)
                    conn.execute(blobs.delete().where(blobs.c.step_id.in_(old)))
                    replaced = conn.execute(steps.delete().where(steps.c.host_id == host_id)).rowcount
            from .journal_search import index_steps

            # a recorded session's one step holds its screen text, which is in the index as kind "session"
            is_session = (len(step_rows) == 1 and step_rows[0].get("name") == "session"
                          and conn.execute(sa.select(runs.c.kind).where(runs.c.id == run_id)).scalar() == "session")
            index_steps(conn, run_id, result.host, [] if is_session else step_rows, values["ended_at"],
                        replace=replaced > 0)
            if step_rows:
                for row in step_rows:
                    row["host_id"] = host_id
                if not any(long_texts):  # the usual case: one executemany, no ids needed
                    conn.execute(_INSERT_STEPS, step_rows)
                    return
                ids = conn.execute(steps.insert().returning(steps.c.id, sort_by_parameter_order=True),
                                   step_rows).scalars().all()
                blob_rows = [{"step_id": step_id, "stream": stream, "size": size, "data": data}
                             for step_id, full in zip(ids, long_texts) for stream, text in full.items()
                             for size, data in (_blob(text),)]
                if blob_rows:
                    conn.execute(blobs.insert(), blob_rows)

    def _store_config(self, conn: sa.Connection, device: str, run_id: str, text: str,
                      taken_at: datetime) -> tuple[int, bool]:
        """Store a device's config as its next version unless it equals its latest; (version, changed)."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        latest = conn.execute(sa.select(config_backups.c.version, config_backups.c.sha256)
                              .where(config_backups.c.device == device)
                              .order_by(config_backups.c.version.desc()).limit(1)).first()
        if latest is not None and latest.sha256 == digest:
            return latest.version, False
        version = (latest.version if latest is not None else 0) + 1
        conn.execute(config_backups.insert().values(device=device, version=version, run_id=run_id,
                                                    taken_at=taken_at, sha256=digest, text=text))
        return version, True

    def finish_run(self, run_id: str, result: RunResult) -> None:
        """Close the run: hosts still pending get their result from ``result`` (or interrupted/skipped),
        then the run's status and exit code are those of all its hosts, resumed ones included."""
        with self._read() as conn:
            pending = set(conn.execute(sa.select(run_hosts.c.host).where(
                run_hosts.c.run_id == run_id, run_hosts.c.status == PENDING)).scalars())
        for host in result.hosts:
            if host.host in pending:
                self.record_host(run_id, host)
        now = datetime.now(timezone.utc)
        with self._write() as conn:
            if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).scalar() is None:
                raise UnknownRunError(f"journal {self.where}: unknown run id {run_id!r}: nothing to finish")
            left = (Status.INTERRUPTED.value, "interrupted: the run stopped before this host started"
                    ) if result.interrupted else (Status.SKIPPED.value,
                                                  f"not run: {result.aborted_reason or 'the run ended first'}")
            conn.execute(run_hosts.update().where(run_hosts.c.run_id == run_id, run_hosts.c.status == PENDING)
                         .values(status=left[0], reason=_text(left[1])))
            statuses = set(conn.execute(sa.select(run_hosts.c.status).where(run_hosts.c.run_id == run_id)
                                        .distinct()).scalars())
            status, exit_code = outcome_of(statuses, interrupted=result.interrupted,
                                           aborted=bool(result.aborted_reason))
            # a value given in clear that a step declared secret only while running (its data, a password
            # under a harmless name) was recorded with the request at the start: mask it there now
            recorded = conn.execute(sa.select(runs.c.params, runs.c.request).where(runs.c.id == run_id)).one()
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status=status.value, exit_code=exit_code, ended_at=now, aborted_reason=_text(result.aborted_reason),
                params=_text(recorded.params), request=_text(recorded.request) if recorded.request else None))

    def recover(self) -> list[str]:
        """Mark ``interrupted`` the runs left ``running`` on this controller by a process that is gone
        (Ctrl-C past cleanup, crash, SIGKILL, reboot), and their pending hosts; return their ids."""
        controller = socket.gethostname()
        with self._read() as conn:
            candidates = conn.execute(sa.select(runs.c.id, runs.c.pid, runs.c.pid_token).where(
                runs.c.status == RUNNING, runs.c.controller == controller)).all()
        dead = [(r.id, r.pid) for r in candidates if not _process_alive(r.pid, r.pid_token)]
        recovered = []
        now = datetime.now(timezone.utc)
        for run_id, pid in dead:
            with self._write() as conn:
                last = conn.execute(sa.select(sa.func.max(run_hosts.c.ended_at))
                                    .where(run_hosts.c.run_id == run_id)).scalar()
                changed = conn.execute(runs.update().where(runs.c.id == run_id, runs.c.status == RUNNING).values(
                    status=Status.INTERRUPTED.value, exit_code=EXIT_INTERRUPTED, ended_at=last or now,
                    aborted_reason=(f"the controller process (pid {pid} on {controller}) stopped before the run "
                                    f"finished; found at {now:%Y-%m-%d %H:%M:%S} UTC"))).rowcount
                if changed:
                    pending = (run_hosts.c.run_id == run_id, run_hosts.c.status == PENDING)
                    conn.execute(run_hosts.update().where(*pending, run_hosts.c.changing_at.is_not(None)).values(
                        status=Status.INTERRUPTED.value,
                        reason=(f"in flight when the controller process (pid {pid}) stopped: a changing step had "
                                f"started, so it may be half-changed; `runs resume {run_id} --include-in-flight` "
                                "runs it again")))
                    conn.execute(run_hosts.update().where(*pending).values(
                        status=Status.INTERRUPTED.value,
                        reason=f"not finished: the controller process (pid {pid}) stopped"))
                    recovered.append(run_id)
        return recovered

    def resume_run(self, run_id: str, *, include_in_flight: bool = False) -> list[str]:
        """The hosts of a run that did not finish, in inventory order; the run is ``running`` again
        (same record, this process as its controller) when there are any. Hosts that were in flight (a
        changing step had started: see :meth:`in_flight`) are left out unless ``include_in_flight``."""
        self.recover()
        now = datetime.now(timezone.utc)
        with self._write() as conn:
            run_id = self._resolve(conn, run_id)
            run = conn.execute(sa.select(runs.c.status, runs.c.pid, runs.c.controller)
                               .where(runs.c.id == run_id)).one()
            if run.status == RUNNING:
                raise JournalError(f"run {run_id} is still running (pid {run.pid} on {run.controller}): "
                                   "wait for it or stop it before resuming")
            unfinished = [run_hosts.c.run_id == run_id, run_hosts.c.status.in_(UNFINISHED)]
            if not include_in_flight:
                unfinished.append(run_hosts.c.changing_at.is_(None))
            hosts = list(conn.execute(sa.select(run_hosts.c.host).where(*unfinished)
                                      .order_by(run_hosts.c.position)).scalars())
            if not hosts:
                return []
            conn.execute(run_hosts.update().where(*unfinished).values(status=PENDING, reason="", changing_at=None))
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status=RUNNING, exit_code=None, ended_at=None, aborted_reason="", controller=socket.gethostname(),
                pid=os.getpid(), pid_token=_process_token(os.getpid())))
            conn.execute(notes.insert().values(
                run_id=run_id, created_at=now, author=os_user(), kind="resume",
                text=_text(f"resumed on {len(hosts)} unfinished host(s): {', '.join(hosts)}")))
        return hosts

    def add_note(self, run_id: str, text: str, author: str | None = None) -> NoteRecord:
        """Add a note to a run (a unique prefix of its id will do)."""
        with self._write() as conn:
            run_id = self._resolve(conn, run_id)
            return self._insert_note(conn, run_id, text, author)

    def add_escalation(self, run_id: str, to: str, note: str, author: str | None = None, *,
                       bundle: str | None = None) -> NoteRecord:
        """Record an escalation of a run to ``to`` (L3, vendor...); the evidence bundle is written by
        :func:`remote_support.handover.escalate`."""
        with self._write() as conn:
            run_id = self._resolve(conn, run_id)
            return self._insert_note(conn, run_id, note, author, kind="escalation", escalated_to=to, bundle=bundle)

    def _insert_note(self, conn: sa.Connection, run_id: str, text: str, author: str | None, *,
                     kind: str = "note", escalated_to: str | None = None, bundle: str | None = None) -> NoteRecord:
        values = {"run_id": run_id, "created_at": datetime.now(timezone.utc), "author": _text(author or os_user()),
                  "text": _text(text), "kind": kind, "escalated_to": _text(escalated_to) if escalated_to else None,
                  "bundle": bundle}
        note_id = conn.execute(notes.insert().values(**values).returning(notes.c.id)).scalar_one()
        if kind in ("note", "escalation"):
            from .journal_search import index_text

            index_text(conn, run_id, kind, values["text"], values["created_at"], ref=str(note_id))
        values.pop("run_id")
        return NoteRecord(id=note_id, **values)

    # -- queries

    def _resolve(self, conn: sa.Connection, run_id: str) -> str:
        """The full id of the run ``run_id`` names: itself or a unique prefix."""
        wanted = (run_id or "").strip()
        if wanted and conn.execute(sa.select(runs.c.id).where(runs.c.id == wanted)).scalar():
            return wanted
        matches = list(conn.execute(sa.select(runs.c.id).where(runs.c.id.startswith(wanted, autoescape=True))
                                    .order_by(runs.c.id).limit(6)).scalars()) if wanted else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownRunError(f"unknown run id {wanted!r} in journal {self.where}: see `remote-support runs list`")
        more = ", ..." if len(matches) > 5 else ""
        raise UnknownRunError(f"run id {wanted!r} is ambiguous: it starts {', '.join(matches[:5])}{more}: "
                              "give more of it")

    def resolve(self, run_id: str) -> str:
        """The full id of a run given by its id or a unique prefix of it (UnknownRunError otherwise)."""
        with self._read() as conn:
            return self._resolve(conn, run_id)

    def get_run(self, run_id: str, *, host: str | None = None, full_output: bool = False) -> RunRecord:
        """The run with its hosts (only ``host`` if given), their steps and the run's notes.

        Long streams come truncated (see :data:`OUTPUT_LIMIT`) unless ``full_output``."""
        with self._read() as conn:
            run_id = self._resolve(conn, run_id)
            run = _run_record(conn.execute(sa.select(runs).where(runs.c.id == run_id)).one())
            run.counts = self._counts(conn, [run_id]).get(run_id, {})
            query = sa.select(run_hosts).where(run_hosts.c.run_id == run_id).order_by(run_hosts.c.position)
            if host is not None:
                query = query.where(run_hosts.c.host == host)
            host_rows = list(conn.execute(query))
            if host is not None and not host_rows:
                names = conn.execute(sa.select(run_hosts.c.host).where(run_hosts.c.run_id == run_id)
                                     .order_by(run_hosts.c.position).limit(11)).scalars().all()
                raise JournalError(f"host {host!r} is not in run {run_id} (its hosts: "
                                   f"{', '.join(names[:10])}{', ...' if len(names) > 10 else ''})")
            step_query = (sa.select(steps).where(steps.c.host_id.in_(sa.select(run_hosts.c.id).where(
                run_hosts.c.run_id == run_id))).order_by(steps.c.host_id, steps.c.position))
            if host is not None:
                step_query = step_query.where(steps.c.host_id == host_rows[0].id)
            step_rows = list(conn.execute(step_query))
            extra: dict[int, dict[str, Any]] = {}  # step id -> truncated streams and full texts
            if step_rows:
                blob_query = sa.select(blobs.c.step_id, blobs.c.stream, *([blobs.c.data] if full_output else [])
                                       ).where(blobs.c.step_id.in_(step_query.with_only_columns(steps.c.id)
                                                                   .order_by(None)))
                for row in conn.execute(blob_query):
                    found = extra.setdefault(row.step_id, {"truncated": ()})
                    found["truncated"] = tuple(sorted(found["truncated"] + (row.stream,), key=_STREAMS.index))
                    if full_output:
                        found[row.stream] = _inflate(row.data)
            by_host: dict[int, list[StepResult]] = {}
            for row in step_rows:
                by_host.setdefault(row.host_id, []).append(_step_record(row, **extra.get(row.id, {})))
            run.hosts = [_host_record(r, tuple(by_host.get(r.id, ()))) for r in host_rows]
            run.notes = [_note_record(r) for r in conn.execute(
                sa.select(notes).where(notes.c.run_id == run_id).order_by(notes.c.created_at, notes.c.id))]
        return run

    def get_step(self, run_id: str, host: str, number: int) -> StepResult:
        """One step (1-based) of one host, with its full output."""
        run = self.get_run(run_id, host=host, full_output=True)
        steps_ = run.hosts[0].steps
        if not 1 <= number <= len(steps_):
            raise JournalError(f"run {run.id} has no step {number} on {host}: it has "
                               f"{len(steps_)} step(s), numbered from 1")
        return steps_[number - 1]

    def output(self, step_id: int, stream: str) -> str:
        """The full text of a step's stream (stdout, stderr or diff), from the blobs when it was truncated."""
        if stream not in _STREAMS:
            raise ValueError(f"stream must be stdout, stderr or diff, not {stream!r}")
        with self._read() as conn:
            data = conn.execute(sa.select(blobs.c.data).where(blobs.c.step_id == step_id,
                                                               blobs.c.stream == stream)).scalar()
            if data is not None:
                return zlib.decompress(data).decode("utf-8")
            text = conn.execute(sa.select(steps.c[stream]).where(steps.c.id == step_id)).scalar()
        if text is None:
            raise JournalError(f"journal {self.where} has no step with id {step_id}")
        return text

    def list_runs(self, *, host: str | None = None, ticket: str | None = None, task: str | None = None,
                  status: str | None = None, since: datetime | None = None, operator: str | None = None,
                  limit: int = 50, kind: str | None = None, offset: int = 0) -> list[RunRecord]:
        """Runs, newest first. Text filters match exactly, or as a glob with ``*``; ``operator`` matches
        the ``--operator`` name or the OS user; ``since`` naive means local time."""
        query = sa.select(runs)
        if host:
            query = query.where(sa.exists().where(run_hosts.c.run_id == runs.c.id, _match(run_hosts.c.host, host)))
        if ticket:
            query = query.where(_match(runs.c.ticket, ticket))
        if task:
            query = query.where(_match(runs.c.name, task))
        if status:
            query = query.where(runs.c.status == status)
        if since:
            query = query.where(runs.c.started_at >= since)
        if operator:
            query = query.where(sa.or_(_match(runs.c.operator, operator), _match(runs.c.os_user, operator)))
        if kind:
            query = query.where(runs.c.kind == kind)
        query = query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit).offset(offset)
        with self._read() as conn:
            records = [_run_record(r) for r in conn.execute(query)]
            counts = self._counts(conn, [r.id for r in records])
        for record in records:
            record.counts = counts.get(record.id, {})
        return records

    @staticmethod
    def _counts(conn: sa.Connection, run_ids: list[str]) -> dict[str, dict[str, int]]:
        if not run_ids:
            return {}
        out: dict[str, dict[str, int]] = {}
        for run_id, status, n in conn.execute(
                sa.select(run_hosts.c.run_id, run_hosts.c.status, sa.func.count())
                .where(run_hosts.c.run_id.in_(run_ids)).group_by(run_hosts.c.run_id, run_hosts.c.status)):
            out.setdefault(run_id, {})[status] = n
        return out

    @staticmethod
    def _history_select(host: str, limit: int) -> sa.Select:
        return (sa.select(run_hosts.c.id, run_hosts.c.run_id, run_hosts.c.host, run_hosts.c.status,
                          run_hosts.c.reason, run_hosts.c.started_at, run_hosts.c.ended_at, run_hosts.c.duration,
                          runs.c.kind, runs.c.name, runs.c.status.label("run_status"), runs.c.ticket,
                          runs.c.os_user, runs.c.operator, runs.c.check_mode)
                .join_from(run_hosts, runs, run_hosts.c.run_id == runs.c.id)
                .where(run_hosts.c.host == host)
                .order_by(run_hosts.c.started_at.desc(), run_hosts.c.id.desc())
                .limit(limit))

    def host_history(self, host: str, limit: int = 50) -> list[HistoryEntry]:
        """What was done on ``host``, newest first, across all runs."""
        with self._read() as conn:
            rows = conn.execute(self._history_select(host, limit)).all()
            ids = [r.id for r in rows]
            counts: dict[int, dict[str, int]] = {}
            failed: dict[int, str] = {}
            if ids:
                for host_id, status, n in conn.execute(
                        sa.select(steps.c.host_id, steps.c.status, sa.func.count())
                        .where(steps.c.host_id.in_(ids)).group_by(steps.c.host_id, steps.c.status)):
                    counts.setdefault(host_id, {})[status] = n
                for host_id, name in conn.execute(
                        sa.select(steps.c.host_id, steps.c.name)
                        .where(steps.c.host_id.in_(ids), steps.c.ignored.is_(False),
                               steps.c.status.in_([Status.FAILED.value, Status.UNREACHABLE.value]))
                        .order_by(steps.c.host_id, steps.c.position.desc())):
                    failed[host_id] = name  # the last one written per host is the first by position
        return [HistoryEntry(run_id=r.run_id, host=r.host, status=r.status, reason=r.reason,
                             started_at=r.started_at, ended_at=r.ended_at, duration=r.duration, run_kind=r.kind,
                             run_name=r.name, run_status=r.run_status, ticket=r.ticket, os_user=r.os_user,
                             operator=r.operator, steps=counts.get(r.id, {}), failed_step=failed.get(r.id),
                             check=bool(r.check_mode))
                for r in rows]

    def failed_hosts(self, run_id: str) -> list[str]:
        """The hosts of a run that failed or were unreachable, in inventory order (for ``runs retry``)."""
        with self._read() as conn:
            run_id = self._resolve(conn, run_id)
            return list(conn.execute(sa.select(run_hosts.c.host).where(
                run_hosts.c.run_id == run_id, run_hosts.c.status.in_(RETRY)).order_by(run_hosts.c.position)).scalars())


    # -- recorded sessions (remote_support/sessions/)

    def add_session_chunks(self, run_id: str, chunks: Sequence[tuple[int, float, str, str]]) -> None:
        """Append a session's events ``(seq, t, kind, data)``, masked; committed before returning."""
        if chunks:
            with self._write() as conn:
                conn.execute(session_chunks.insert(), [{"run_id": run_id, "seq": seq, "t": t, "kind": kind,
                                                        "data": _text(data)} for seq, t, kind, data in chunks])

    def session_chunks(self, run_id: str, after: int = -1) -> list[tuple[int, float, str, str]]:
        """A session's events ``(seq, t, kind, data)`` in order (those after ``after``)."""
        with self._read() as conn:
            run_id = self._resolve(conn, run_id)
            return [tuple(r) for r in conn.execute(
                sa.select(session_chunks.c.seq, session_chunks.c.t, session_chunks.c.kind, session_chunks.c.data)
                .where(session_chunks.c.run_id == run_id, session_chunks.c.seq > after)
                .order_by(session_chunks.c.seq))]

    def session_screen(self, run_id: str) -> tuple[int, str] | None:
        """The stored screen text of a session and the chunk it was rendered up to, if any."""
        with self._read() as conn:
            row = conn.execute(sa.select(session_screens.c.last_seq, session_screens.c.text)
                               .where(session_screens.c.run_id == run_id)).first()
        return (row.last_seq, row.text) if row else None

    def store_session_screen(self, run_id: str, last_seq: int, text: str) -> None:
        """Keep a session's screen text, and put it in the full-text search table in its place (a text
        rendered again, as more of the recording arrived, replaces the one before)."""
        from .journal_search import replace_text

        with self._write() as conn:
            conn.execute(session_screens.delete().where(session_screens.c.run_id == run_id))
            conn.execute(session_screens.insert().values(run_id=run_id, last_seq=last_seq, text=_text(text)))
            host = conn.execute(sa.select(runs.c.pattern).where(runs.c.id == run_id)).scalar()
            replace_text(conn, run_id, "session", _text(text), datetime.now(timezone.utc), host=host)

    def stale_session_screens(self) -> list[str]:
        """Sessions with a recording whose screen text is missing or older than their last event."""
        last = (sa.select(session_chunks.c.run_id, sa.func.max(session_chunks.c.seq).label("seq"))
                .group_by(session_chunks.c.run_id).subquery())
        query = (sa.select(last.c.run_id).outerjoin(session_screens, session_screens.c.run_id == last.c.run_id)
                 .where(sa.or_(session_screens.c.last_seq.is_(None), session_screens.c.last_seq < last.c.seq)))
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def search_session_screens(self, text: str, limit: int = 50) -> list[str]:
        """Ids of sessions whose stored screen text holds ``text`` (case-insensitive), newest first."""
        query = (sa.select(runs.c.id).join_from(session_screens, runs, session_screens.c.run_id == runs.c.id)
                 .where(session_screens.c.text.ilike(f"%{_like_escape(text)}%", escape="\\"))
                 .order_by(runs.c.started_at.desc()).limit(limit))
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    # -- network device configs

    def config_versions(self, device: str, limit: int = 50) -> list[ConfigVersion]:
        """A device's stored config versions, newest first, without their text."""
        query = (sa.select(config_backups.c.device, config_backups.c.version, config_backups.c.run_id,
                           config_backups.c.taken_at, config_backups.c.sha256,
                           sa.func.length(config_backups.c.text).label("size"))
                 .where(config_backups.c.device == device)
                 .order_by(config_backups.c.version.desc()).limit(limit))
        with self._read() as conn:
            return [ConfigVersion(device=r.device, version=r.version, run_id=r.run_id, taken_at=r.taken_at,
                                  sha256=r.sha256, size=r.size) for r in conn.execute(query)]

    def config_version(self, device: str, version: int | str | None = None) -> ConfigVersion:
        """One stored config of a device, with its text: a version number (negative: counted back from the
        latest, -1 is the latest), a SHA-256 prefix (at least 6 characters), or None for the latest."""
        with self._read() as conn:
            query = sa.select(config_backups).where(config_backups.c.device == device)
            ref = str(version).strip() if version is not None else "-1"
            if re.fullmatch(r"-?\d+", ref) and len(ref) < 6:
                number = int(ref)
                if number < 0:
                    query = query.order_by(config_backups.c.version.desc()).offset(-number - 1).limit(1)
                else:
                    query = query.where(config_backups.c.version == number)
                rows = conn.execute(query).all()
            elif re.fullmatch(r"[0-9a-fA-F]{6,64}", ref):
                rows = conn.execute(query.where(config_backups.c.sha256.startswith(ref.lower()))
                                    .order_by(config_backups.c.version.desc())).all()
            else:
                raise JournalError(f"config version {ref!r} of {device}: give a version number (see `remote-support "
                                   f"config history {device}`), -1 for the latest, or a SHA-256 prefix")
            if not rows:
                count = conn.execute(sa.select(sa.func.count()).where(config_backups.c.device == device)).scalar()
                if not count:
                    raise JournalError(f"journal {self.where} has no config of {device}: run a backup step on it "
                                       f"first (remote-support run net-backup -l {device})")
                raise JournalError(f"{device} has no config version {ref!r}: it has versions 1 to {count} "
                                   f"(remote-support config history {device})")
            if len({r.sha256 for r in rows}) > 1:
                raise JournalError(f"SHA-256 prefix {ref!r} of {device} is ambiguous: give more of it")
        r = rows[0]
        return ConfigVersion(device=r.device, version=r.version, run_id=r.run_id, taken_at=r.taken_at,
                             sha256=r.sha256, size=len(r.text), text=r.text)

    def config_diff(self, device: str, old: int | str | None = None, new: int | str | None = None) -> str:
        """A unified diff between two stored configs of a device (default: the one before the latest, and
        the latest); empty when they are the same."""
        after = self.config_version(device, new)
        if old is None and after.version <= 1:
            raise JournalError(f"{device} has no config version before v{after.version}: nothing to compare it "
                               f"with (give two versions: remote-support config diff {device} A B)")
        before = self.config_version(device, old if old is not None else after.version - 1)
        lines = difflib.unified_diff(before.text.splitlines(keepends=True), after.text.splitlines(keepends=True),
                                     fromfile=before.label, tofile=after.label)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# --------------------------------------------------------------------------------------------- helpers

def _inflate(data: bytes, limit: int | None = FULL_OUTPUT_LIMIT) -> str:
    """A blob's text; beyond ``limit`` characters only its head and tail around a marker line, found
    without ever holding more than that (a 300 MB output compresses to a few hundred KB)."""
    if limit is None:
        return zlib.decompress(data).decode("utf-8")
    half = limit // 2
    unpacker = zlib.decompressobj()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    head: list[str] = []
    tail: collections.deque[str] = collections.deque()
    sizes = {"head": 0, "tail": 0, "total": 0}

    def take(piece: str) -> None:
        sizes["total"] += len(piece)
        if sizes["head"] < half:
            part = piece[:half - sizes["head"]]
            head.append(part)
            sizes["head"] += len(part)
            piece = piece[len(part):]
        if piece:
            tail.append(piece)
            sizes["tail"] += len(piece)
            while sizes["tail"] - len(tail[0]) >= half:
                sizes["tail"] -= len(tail.popleft())

    pending = data
    while True:
        out = unpacker.decompress(pending, 1 << 20)  # bounded: a small blob may inflate to gigabytes
        pending = unpacker.unconsumed_tail
        take(decoder.decode(out))
        if not pending:
            break
    take(decoder.decode(unpacker.flush(), final=True))
    if sizes["total"] <= limit:
        return "".join(head) + "".join(tail)
    ending = "".join(tail)[-half:]
    omitted = sizes["total"] - sizes["head"] - len(ending)
    return ("".join(head) + f"\n[... {omitted} characters not shown here: the whole text ({sizes['total']} "
            "characters) is in the journal: Journal.output(step_id, stream) ...]\n" + ending)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _match(column: sa.ColumnElement, value: str) -> sa.ColumnElement:
    if "*" not in value:
        return column == value
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return column.like(escaped, escape="\\")


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _run_record(row: sa.Row) -> RunRecord:
    return RunRecord(id=row.id, kind=row.kind, name=row.name, command=row.command, params=_loads(row.params) or {},
                     inventory=_loads(row.inventory) or [], pattern=row.pattern, check=bool(row.check_mode),
                     diff=bool(row.diff_mode), ticket=row.ticket, os_user=row.os_user, operator=row.operator,
                     controller=row.controller, pid=row.pid, tool_version=row.tool_version, status=row.status,
                     exit_code=row.exit_code, aborted_reason=row.aborted_reason, started_at=row.started_at,
                     ended_at=row.ended_at, parent_run=row.parent_run, request=_loads(row.request))


def _host_record(row: sa.Row, steps_: tuple[StepResult, ...] = ()) -> HostResult:
    started = row.started_at.timestamp() if row.started_at else 0.0
    ended = row.ended_at.timestamp() if row.ended_at else 0.0
    if ended and row.duration is not None:
        started = ended - row.duration  # the recorded duration is exact; the two times are rounded
    return HostResult(id=row.id, host=row.host, position=row.position, status=Status(row.status), reason=row.reason,
                      started=started, ended=ended, facts=_loads(row.facts), steps=steps_)


def _step_record(row: sa.Row, **extra: Any) -> StepResult:
    fields = {"id": row.id, "number": row.position, "name": row.name, "status": Status(row.status),
              "command": row.command, "rc": row.rc, "stdout": row.stdout, "stderr": row.stderr,
              "reason": row.reason, "diff": row.diff, "duration": row.duration, "attempts": row.attempts,
              "ignored": bool(row.ignored), "data": _loads(row.data) or {}}
    return StepResult(**{**fields, **extra})


def _note_record(row: sa.Row) -> NoteRecord:
    return NoteRecord(id=row.id, created_at=row.created_at, author=row.author, text=row.text, kind=row.kind,
                      escalated_to=row.escalated_to, bundle=row.bundle)


