"""Handing a run over to the next person: the escalation and its evidence bundle.

It sits above both the journal (what was recorded) and the reports (how it is rendered), so neither of
those imports the other.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .connections.base import data_dir
from .errors import JournalError
from .journal import Journal, NoteRecord, RunRecord
from .report import render_html, render_json
from .secrets import MASK


def escalate(journal: Journal, run_id: str, to: str, note: str, author: str | None = None, *,
             files: Sequence[str | Path] = (), out: str | Path | None = None) -> Path:
    """Record an escalation of a run to ``to`` (e.g. ``L3``) and write its evidence bundle, a zip of
    report.html, report.json, every step's full stdout/stderr/diff, facts per host and ``files`` (logs
    fetched from the hosts, masked when they are text). ``out`` is the zip (a path ending in .zip) or a
    directory for it, created as needed; default: ``<data dir>/evidence/``. Returns the zip's path."""
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise JournalError(f"cannot escalate: {', '.join(missing)}: no such file")
    now = datetime.now(timezone.utc)
    resolved = journal.resolve(run_id)
    target = Path(out) if out else data_dir() / "evidence"
    if target.suffix.lower() != ".zip":
        target = target / f"{resolved}-{_slug(to)}-{now:%Y%m%d-%H%M%S}.zip"
    note_record = journal.add_escalation(resolved, to, note, author, bundle=str(target.absolute()))
    run = journal.get_run(resolved, full_output=True)
    casts = session_casts(journal, run)
    try:
        write_bundle(target, run, note_record, [Path(f) for f in files], casts=casts)
    except OSError as exc:
        raise JournalError(f"the escalation of run {resolved} is recorded, but its evidence bundle "
                           f"{target} cannot be written: {exc.strerror or exc}: choose another place "
                           "for it (-o DIR)") from exc
    return target


def session_casts(journal: Journal, run: RunRecord) -> dict[str, str]:
    """The recordings (asciicast v2 text) that belong with a run: the run itself when it is a session, and
    every recorded session of the run's ticket; by session id."""
    from .sessions.cast import load_cast

    ids = [run.id] if run.kind == "session" else []
    if run.ticket:
        ids += [r.id for r in journal.list_runs(ticket=run.ticket, kind="session", limit=1000)]
    casts = {}
    for session_id in dict.fromkeys(ids):
        try:
            casts[session_id] = load_cast(journal, session_id).text()
        except JournalError:
            continue  # a session that never connected has no recording
    return casts


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def write_bundle(target: Path, run: RunRecord, note: NoteRecord, files: list[Path], *,
                 casts: dict[str, str] | None = None) -> None:
    """The evidence zip of an escalation (mode 0600: it holds raw outputs); ``casts`` are recorded
    sessions (id -> asciicast text), written as ``sessions/ID.cast``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _Bundle(target) as bundle:
        add, listing = bundle.add, bundle.listing
        add("report.html", render_html(run))
        add("report.json", render_json(run))
        for host in run.hosts:
            folder = f"hosts/{_slug(host.host)}"
            if host.facts is not None:
                add(f"{folder}/facts.json", json.dumps(host.facts, indent=2, ensure_ascii=False))
            for step in host.steps:
                stem = f"{folder}/{step.number:02d}-{_slug(step.name)[:60]}"
                for stream, suffix in (("stdout", "stdout.txt"), ("stderr", "stderr.txt"), ("diff", "diff")):
                    text = getattr(step, stream)
                    if text:
                        add(f"{stem}.{suffix}", text)
        for session_id, text in (casts or {}).items():
            add(f"sessions/{_slug(session_id)}.cast", text)  # masked when recorded
        bundle.add_fetched(files)
        readme = (f"Evidence for run {run.id} ({run.kind} {run.name})\n"
                  f"Ticket: {run.ticket or '-'}\nRun by: {run.who} on {run.controller}\n"
                  f"Status: {run.status} (exit code {run.exit_code})\n\n"
                  f"Escalated to {note.escalated_to} by {note.author} at {note.created_at:%Y-%m-%d %H:%M:%S} UTC:\n"
                  f"{note.text}\n\nFiles:\n" + "".join(f"  {n}\n" for n in listing) +
                  ("\nsessions/*.cast are recorded terminal sessions (asciicast v2): `asciinema play FILE`.\n"
                   if casts else "") +
                  "\nSecrets known to remote-support are masked as ******** everywhere in this bundle.\n")
        bundle.zip.writestr("README.txt", readme)


class _Bundle:
    """An evidence zip being written: as TARGET.part (mode 0600: it holds raw outputs), renamed over the
    target only once complete; ``listing`` is what :meth:`add` put in, for the README."""

    def __init__(self, target: Path):
        self.target = target
        self.partial = target.with_name(target.name + ".part")
        self.listing: list[str] = []

    def __enter__(self) -> "_Bundle":
        fd = os.open(self.partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self.zip = zipfile.ZipFile(self._raw, "w", zipfile.ZIP_DEFLATED)
        return self

    def __exit__(self, kind, *exc: object) -> None:
        try:
            self.zip.close()
        finally:
            self._raw.close()
        if kind is None:
            os.replace(self.partial, self.target)

    def add(self, name: str, data: str | bytes) -> None:
        self.zip.writestr(name, data)
        self.listing.append(name)

    def add_fetched(self, files: Sequence[Path]) -> None:
        """Fetched files under fetched/ (text masked; binary kept as fetched), names made unique."""
        seen: set[str] = set()
        for path in files:
            data = path.read_bytes()
            try:
                data = MASK(data.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                pass
            name = _slug(path.name)
            while name in seen:
                name = "_" + name
            seen.add(name)
            self.add(f"fetched/{name}", data)


# --------------------------------------------------------------------------------------------- by ticket

def ticket_runs(journal: Journal, ticket: str, *, full_output: bool = True, limit: int = 500) -> list[RunRecord]:
    """Every run of a ticket, oldest first, with hosts, steps and notes (JournalError when there is none)."""
    listed = journal.list_runs(ticket=ticket.replace("*", ""), limit=limit)
    if not listed:
        raise JournalError(f"journal {journal.where} has no run for ticket {ticket!r}: see "
                           "`remote-support runs list --ticket ...`")
    return [journal.get_run(r.id, full_output=full_output) for r in reversed(listed)]


_BODY = re.compile(r"<body>(.*)</body>", re.S)
_STYLE = re.compile(r"<style>.*?</style>", re.S)


def render_ticket_html(ticket: str, records: Sequence[RunRecord]) -> str:
    """One self-contained page for a ticket: a contents table, then each run's report in time order."""
    import html

    first = render_html(records[0])
    style = _STYLE.search(first).group(0)
    rows, bodies = [], []
    for index, record in enumerate(records, 1):
        page = render_html(record)
        body = _BODY.search(page).group(1)
        # the ids of one run's sections repeat in the next: prefix them per run
        body = re.sub(r'(id|href)="#?(host-\d+|summary|notes|hosts|compliance)"',
                      lambda m: f'{m.group(1)}="{"#" if m.group(1) == "href" else ""}r{index}-{m.group(2)}"', body)
        bodies.append(f'<section id="run-{index}">{body}</section>')
        rows.append(f'<tr><td><a href="#run-{index}">{html.escape(record.id)}</a></td>'
                    f'<td>{html.escape(record.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"))}</td>'
                    f'<td>{html.escape(MASK(record.name))}</td><td>{html.escape(MASK(record.who))}</td>'
                    f'<td><span class="status s-{html.escape(record.status)}">{html.escape(record.status)}</span></td>'
                    f'<td>{len(record.hosts)}</td></tr>')
    hosts = sorted({h.host for r in records for h in r.hosts})
    head = (f"<h1>Ticket {html.escape(MASK(ticket))}: {len(records)} run(s)</h1>"
            f"<p class=\"muted\">Hosts touched: {html.escape(', '.join(hosts)) or '-'}</p>"
            "<table><tr><th>Run</th><th>Started</th><th>Task / command</th><th>Who</th><th>Status</th><th>Hosts</th></tr>"
            + "".join(rows) + "</table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
            f"<title>Ticket {html.escape(MASK(ticket))}</title>\n{style}\n</head>\n<body>\n{head}\n"
            + "\n".join(bodies) + "\n</body>\n</html>\n")


def render_ticket_json(ticket: str, records: Sequence[RunRecord]) -> str:
    """``{"ticket": T, "runs": [...]}``: each run as ``report --format json`` writes it."""
    return json.dumps({"ticket": MASK(ticket), "runs": [json.loads(render_json(r)) for r in records]}, indent=2,
                      ensure_ascii=False) + "\n"


def escalate_ticket(journal: Journal, ticket: str, to: str, note: str, author: str | None = None, *,
                    files: Sequence[str | Path] = (), out: str | Path | None = None) -> Path:
    """Escalate a whole ticket: one escalation, recorded on the ticket's latest run, whose evidence bundle
    holds every run of the ticket (runs/<id>/ as escalate() writes one run) and ticket.html/ticket.json."""
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise JournalError(f"cannot escalate: {', '.join(missing)}: no such file")
    records = ticket_runs(journal, ticket, full_output=False)
    now = datetime.now(timezone.utc)
    target = Path(out) if out else data_dir() / "evidence"
    if target.suffix.lower() != ".zip":
        target = target / f"ticket-{_slug(ticket)}-{_slug(to)}-{now:%Y%m%d-%H%M%S}.zip"
    text = f"{note}\n(ticket {ticket}: {len(records)} run(s): {', '.join(r.id for r in records)})"
    note_record = journal.add_escalation(records[-1].id, to, text, author, bundle=str(target.absolute()))
    records = ticket_runs(journal, ticket)
    try:
        _write_ticket_bundle(target, ticket, records, note_record, [Path(f) for f in files])
    except OSError as exc:
        raise JournalError(f"the escalation of ticket {ticket} is recorded, but its evidence bundle {target} "
                           f"cannot be written: {exc.strerror or exc}: choose another place for it (-o DIR)") from exc
    return target


def _write_ticket_bundle(target: Path, ticket: str, records: Sequence[RunRecord], note: NoteRecord,
                         files: list[Path]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    with_runs = target.with_name(target.name + ".runs")
    with_runs.mkdir(exist_ok=True)
    try:
        for record in records:  # each run's bundle as escalate() writes it, then put inside this one
            part = with_runs / f"{record.id}.zip"
            write_bundle(part, record, note, [])
            parts.append((record, part))
        with _Bundle(target) as bundle:
            add, listing = bundle.add, bundle.listing
            add("ticket.html", render_ticket_html(ticket, records))
            add("ticket.json", render_ticket_json(ticket, records))
            for record, part in parts:
                with zipfile.ZipFile(part) as inner:
                    for name in inner.namelist():
                        if name != "README.txt":
                            add(f"runs/{record.id}/{name}", inner.read(name))
            bundle.add_fetched(files)
            readme = (f"Evidence for ticket {ticket}: {len(records)} run(s)\n"
                      + "".join(f"  {r.id}  {r.started_at:%Y-%m-%d %H:%M} UTC  {r.kind} {r.name}  {r.status}  by {r.who}\n"
                                for r in records)
                      + f"\nEscalated to {note.escalated_to} by {note.author} at {note.created_at:%Y-%m-%d %H:%M:%S} "
                        f"UTC:\n{note.text}\n\nFiles:\n" + "".join(f"  {n}\n" for n in listing)
                      + "\nSecrets known to remote-support are masked as ******** everywhere in this bundle.\n")
            bundle.zip.writestr("README.txt", readme)
    finally:
        for _record, part in parts:
            part.unlink(missing_ok=True)
        with_runs.rmdir()
