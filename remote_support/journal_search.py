"""Searching past work: one full-text table over step output, notes, escalations and session screen text.

``search_index`` (journal schema 5) is filled in the same transaction that records a host or a note, so
what is in the journal can be found at once. Each step contributes its name, command, reason, stdout
and stderr, capped at :data:`SEARCH_LIMIT` characters (first and last halves: an error is usually at
the end). SQLite keeps it as an FTS5 table, PostgreSQL as a table with a ``tsvector`` column and a GIN
index; :func:`search` asks either with the same words.

    where have we seen NT_STATUS_ACCOUNT_LOCKED_OUT before, and which ticket fixed it?
    -> search(journal, "NT_STATUS_ACCOUNT_LOCKED_OUT")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

import sqlalchemy as sa

if TYPE_CHECKING:
    from .journal import Journal

# the searchable text of a step, shared with the sqlite3 recording path (journal_sqlite.py, which must
# not import SQLAlchemy): one definition
from .journal_sqlite import SEARCH_LIMIT, _capped, step_body  # noqa: E402,F401

#: what a hit can be
KINDS = ("step", "note", "escalation", "session")

#: marks around the matched words in a snippet (private-use characters: never in recorded text, so the
#: snippet can be HTML-escaped first and marked up after)
MARK_START, MARK_END = "\ue000", "\ue001"

# The table as the code writes it (both dialects accept this insert; the FTS5 table ignores types).
search_index = sa.Table(
    "search_index", sa.MetaData(),
    sa.Column("body", sa.Text), sa.Column("kind", sa.String(20)), sa.Column("run_id", sa.String(40)),
    sa.Column("host", sa.String(255)), sa.Column("ref", sa.String(40)), sa.Column("created_at", sa.DateTime),
)
_INSERT = search_index.insert()


def index_steps(conn: sa.Connection, run_id: str, host: str, step_rows: Sequence[dict[str, Any]],
                when: datetime, *, replace: bool = False) -> None:
    """Add a host's steps to the index (``replace``: a resumed host's earlier steps are taken out first)."""
    if replace:
        conn.execute(search_index.delete().where(search_index.c.run_id == run_id, search_index.c.host == host,
                                                 search_index.c.kind == "step"))
    rows = [{"body": body, "kind": "step", "run_id": run_id, "host": host, "ref": str(row["position"]),
             "created_at": when.replace(tzinfo=None)}
            for row in step_rows if (body := step_body(row)).strip()]
    if rows:
        conn.execute(_INSERT, rows)


def index_text(conn: sa.Connection, run_id: str, kind: str, text: str, when: datetime, *,
               host: str | None = None, ref: str | None = None) -> None:
    """Add a note, an escalation or a session's screen text."""
    if text and text.strip():
        conn.execute(_INSERT, {"body": _capped(text), "kind": kind, "run_id": run_id, "host": host, "ref": ref,
                               "created_at": when.replace(tzinfo=None)})


def replace_text(conn: sa.Connection, run_id: str, kind: str, text: str, when: datetime, *,
                 host: str | None = None, ref: str | None = None) -> None:
    """Put ``text`` in place of the run's earlier entry of this kind (a session's screen text, rendered
    again as more of its recording arrived)."""
    conn.execute(search_index.delete().where(search_index.c.run_id == run_id, search_index.c.kind == kind))
    index_text(conn, run_id, kind, text, when, host=host, ref=ref)


def refresh_sessions(journal: "Journal") -> None:
    """Render the screen text of sessions whose recording went on after it was last rendered (one still
    going, or one whose tool was killed), so a search sees what their screens showed."""
    from .sessions.cast import session_screen_text

    for run_id in journal.stale_session_screens():
        session_screen_text(journal, run_id)


@dataclass
class SearchHit:
    """One place the words were found: a step of a host in a run, or a note/escalation of a run."""

    kind: str
    run_id: str
    host: str | None
    ref: str | None  # step number, note id
    snippet: str  # with MARK_START/MARK_END around the matches
    ticket: str | None
    run_name: str
    run_status: str
    started_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "host": self.host, "ref": self.ref,
                "snippet": self.snippet.replace(MARK_START, "[").replace(MARK_END, "]"), "ticket": self.ticket,
                "run_name": self.run_name, "run_status": self.run_status,
                "started_at": self.started_at.isoformat() if self.started_at else None}


# PostgreSQL marks each part of NT_STATUS_ACCOUNT_LOCKED_OUT on its own: one mark over the whole word
_JOINED = re.compile(f"{MARK_END}((?:[^\\s\\w]|_){{1,3}}){MARK_START}")


def _fts5_query(words: Sequence[str]) -> str:
    # every word a quoted phrase: FTS5 operators and punctuation in the user's text mean nothing, and
    # NT_STATUS_ACCOUNT_LOCKED_OUT matches as the sequence of its parts
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def search(journal: "Journal", text: str, *, kind: str | None = None, limit: int = 50,
           offset: int = 0) -> list[SearchHit]:
    """Hits for all the words of ``text``, best first (SQLite: bm25; PostgreSQL: ts_rank)."""
    from .errors import UsageError
    from .journal import runs

    words = text.split()
    if not words:
        raise UsageError("search: give one or more words to look for")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"search --kind {kind!r}: use one of {', '.join(KINDS)}")
    if kind in (None, "session"):
        refresh_sessions(journal)
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    kind_sql = ""
    if kind:
        kind_sql = " AND s.kind = :kind"
        params["kind"] = kind
    if journal.is_sqlite:
        params["q"] = _fts5_query(words)
        sql = (f"SELECT s.kind, s.run_id, s.host, s.ref, snippet(search_index, 0, '{MARK_START}', '{MARK_END}', "
               f"' ... ', 16) AS snippet FROM search_index s WHERE search_index MATCH :q{kind_sql} "
               "ORDER BY rank LIMIT :limit OFFSET :offset")
    else:
        query = " && ".join(f"phraseto_tsquery('simple', :w{i})" for i in range(len(words)))
        params.update({f"w{i}": w for i, w in enumerate(words)})
        sql = (f"SELECT s.kind, s.run_id, s.host, s.ref, ts_headline('simple', s.body, q, "
               f"'StartSel={MARK_START}, StopSel={MARK_END}, MaxFragments=2, MaxWords=24, MinWords=8') AS snippet "
               f"FROM search_index s, ({'SELECT ' + query} AS q) qq WHERE s.tsv @@ q{kind_sql} "
               "ORDER BY ts_rank(s.tsv, q) DESC, s.id DESC LIMIT :limit OFFSET :offset")
    with journal._read() as conn:
        try:
            rows = conn.execute(sa.text(sql), params).all()
        except sa.exc.OperationalError as exc:  # an FTS5 query it cannot parse
            raise UsageError(f"search {text!r}: {exc.orig}") from None
        ids = sorted({r.run_id for r in rows})
        info = {r.id: r for r in conn.execute(sa.select(runs.c.id, runs.c.ticket, runs.c.name, runs.c.status,
                                                        runs.c.started_at).where(runs.c.id.in_(ids)))} if ids else {}
    hits = []
    for r in rows:
        snippet = _JOINED.sub(r"\1", r.snippet or "")
        run = info.get(r.run_id)
        if run is None:  # the run was deleted; its FTS5 rows have no foreign key
            continue
        hits.append(SearchHit(kind=r.kind, run_id=r.run_id, host=r.host, ref=r.ref, snippet=snippet,
                              ticket=run.ticket, run_name=run.name, run_status=run.status,
                              started_at=run.started_at))
    return hits
