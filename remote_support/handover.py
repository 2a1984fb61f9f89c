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
    partial = target.with_name(target.name + ".part")
    fd = os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    listing = []
    with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as bundle:
        def add(name: str, data: str | bytes) -> None:
            bundle.writestr(name, data)
            listing.append(name)

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
        seen: set[str] = set()
        for path in files:
            data = path.read_bytes()
            try:
                data = MASK(data.decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                pass  # binary: kept as fetched
            name = _slug(path.name)
            while name in seen:
                name = "_" + name
            seen.add(name)
            add(f"fetched/{name}", data)
        readme = (f"Evidence for run {run.id} ({run.kind} {run.name})\n"
                  f"Ticket: {run.ticket or '-'}\nRun by: {run.who} on {run.controller}\n"
                  f"Status: {run.status} (exit code {run.exit_code})\n\n"
                  f"Escalated to {note.escalated_to} by {note.author} at {note.created_at:%Y-%m-%d %H:%M:%S} UTC:\n"
                  f"{note.text}\n\nFiles:\n" + "".join(f"  {n}\n" for n in listing) +
                  ("\nsessions/*.cast are recorded terminal sessions (asciicast v2): `asciinema play FILE`.\n"
                   if casts else "") +
                  "\nSecrets known to remote-support are masked as ******** everywhere in this bundle.\n")
        bundle.writestr("README.txt", readme)
    os.replace(partial, target)
