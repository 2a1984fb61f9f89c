"""The journal read as the web pages need it: a ticket's whole story, the escalations inbox, compliance.

The run, runs list and host history come from :class:`~remote_support.journal.Journal` itself; what is
here joins across runs (by ticket, by device) and is only used by the web view and its API.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import UnknownRunError
from ..journal import config_backups, notes, run_hosts, runs, steps

if TYPE_CHECKING:
    from ..journal import Journal

#: runs shown on one ticket page (a ticket with more is shown up to this, newest kept)
TICKET_RUNS = 500


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def ticket(journal: "Journal", ticket_id: str) -> dict[str, Any]:
    """Every run, note, escalation and recorded file of a ticket, in time order, with the hosts touched.
    UnknownRunError when no run carries the ticket."""
    records = journal.list_runs(ticket=ticket_id.replace("*", ""), limit=TICKET_RUNS)
    if not records:
        raise UnknownRunError(f"no run is recorded for ticket {ticket_id!r}")
    records.reverse()  # oldest first: the story as it happened
    ids = [r.id for r in records]
    with journal._read() as conn:
        note_rows = conn.execute(sa.select(notes).where(notes.c.run_id.in_(ids))
                                 .order_by(notes.c.created_at, notes.c.id)).all()
        host_rows = conn.execute(sa.select(run_hosts.c.run_id, run_hosts.c.host, run_hosts.c.status)
                                 .where(run_hosts.c.run_id.in_(ids)).order_by(run_hosts.c.position)).all()
        file_rows = conn.execute(sa.select(run_hosts.c.run_id, run_hosts.c.host, run_hosts.c.ended_at, steps.c.name,
                                           steps.c.data)
                                 .join_from(steps, run_hosts, steps.c.host_id == run_hosts.c.id)
                                 .where(run_hosts.c.run_id.in_(ids), steps.c.data.like('%"checksum"%'))).all()
        config_rows = conn.execute(sa.select(config_backups.c.device, config_backups.c.version,
                                             config_backups.c.run_id, config_backups.c.taken_at,
                                             config_backups.c.sha256)
                                   .where(config_backups.c.run_id.in_(ids))).all()
    hosts_of: dict[str, list[dict[str, str]]] = {}
    touched: dict[str, str] = {}
    for row in host_rows:
        hosts_of.setdefault(row.run_id, []).append({"host": row.host, "status": row.status})
        touched[row.host] = row.status  # the last run's status wins (runs are oldest first)
    events: list[dict[str, Any]] = []
    for record in records:
        events.append({"at": record.started_at, "kind": "run", "run": record, "hosts": hosts_of.get(record.id, [])})
    for row in note_rows:
        events.append({"at": row.created_at, "kind": row.kind, "run_id": row.run_id, "author": row.author,
                       "text": row.text, "escalated_to": row.escalated_to, "bundle": row.bundle, "note_id": row.id})
    for row in file_rows:  # files fetched from the hosts (fetch steps) and kept on the controller
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("src") and data.get("dest"):
            events.append({"at": row.ended_at, "kind": "file", "run_id": row.run_id, "host": row.host,
                           "step": row.name, "src": data["src"], "dest": data["dest"], "size": data.get("size")})
    for row in config_rows:
        events.append({"at": row.taken_at, "kind": "config", "run_id": row.run_id, "device": row.device,
                       "version": row.version, "sha256": row.sha256})
    events.sort(key=lambda e: (e["at"] or datetime.min.replace(tzinfo=timezone.utc), 0 if e["kind"] == "run" else 1))
    return {"ticket": ticket_id, "runs": records, "events": events, "hosts": touched}


def ticket_to_dict(view: dict[str, Any]) -> dict[str, Any]:
    def event(e: dict[str, Any]) -> dict[str, Any]:
        if e["kind"] == "run":
            return {"at": _iso(e["at"]), "kind": "run", "run_id": e["run"].id, "name": e["run"].name,
                    "status": e["run"].status, "check": e["run"].check, "operator": e["run"].who,
                    "hosts": e["hosts"]}
        return {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in e.items()}

    return {"ticket": view["ticket"], "runs": [r.to_dict() for r in view["runs"]],
            "events": [event(e) for e in view["events"]], "hosts": view["hosts"]}


def escalations(journal: "Journal", *, include_closed: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    """Escalations, newest first; open unless a ``closed`` note followed on the same run."""
    with journal._read() as conn:
        rows = conn.execute(sa.select(notes, runs.c.ticket, runs.c.name.label("run_name"),
                                      runs.c.status.label("run_status"))
                            .join_from(notes, runs, notes.c.run_id == runs.c.id)
                            .where(notes.c.kind == "escalation")
                            .order_by(notes.c.created_at.desc(), notes.c.id.desc()).limit(limit)).all()
        ids = list({r.run_id for r in rows})
        closed: dict[str, datetime] = {}
        if ids:
            for run_id, at in conn.execute(sa.select(notes.c.run_id, sa.func.max(notes.c.created_at))
                                           .where(notes.c.run_id.in_(ids), notes.c.kind == "closed")
                                           .group_by(notes.c.run_id)):
                closed[run_id] = at
    out = []
    for r in rows:
        is_open = r.run_id not in closed or closed[r.run_id] < r.created_at
        if is_open or include_closed:
            out.append({"id": r.id, "run_id": r.run_id, "ticket": r.ticket, "run_name": r.run_name,
                        "run_status": r.run_status, "created_at": r.created_at, "author": r.author,
                        "escalated_to": r.escalated_to, "text": r.text, "bundle": r.bundle, "open": is_open})
    return out


def escalation(journal: "Journal", note_id: int) -> dict[str, Any]:
    with journal._read() as conn:
        row = conn.execute(sa.select(notes).where(notes.c.id == note_id, notes.c.kind == "escalation")).first()
    if row is None:
        raise UnknownRunError(f"no escalation {note_id}")
    return {"id": row.id, "run_id": row.run_id, "bundle": row.bundle}


def close_escalations(journal: "Journal", run_id: str, author: str, text: str) -> None:
    with journal._write() as conn:
        journal._insert_note(conn, journal._resolve(conn, run_id), text or "escalation handled", author,
                             kind="closed")


def compliance(journal: "Journal", *, scan: int = 5000) -> dict[str, Any]:
    """Devices x rules from each device's latest compliance step (of the last ``scan`` compliance steps),
    and every device's latest config backup and its age."""
    with journal._read() as conn:
        rows = conn.execute(sa.select(run_hosts.c.host, run_hosts.c.run_id, run_hosts.c.ended_at, steps.c.data)
                            .join_from(steps, run_hosts, steps.c.host_id == run_hosts.c.id)
                            .where(steps.c.data.like('%"compliance"%'))
                            .order_by(steps.c.id.desc()).limit(scan)).all()
        backups = conn.execute(sa.select(config_backups.c.device, sa.func.max(config_backups.c.taken_at),
                                         sa.func.max(config_backups.c.version))
                               .group_by(config_backups.c.device)).all()
    latest: dict[str, dict[str, Any]] = {}
    rule_names: dict[str, None] = {}
    for r in rows:
        if r.host in latest:
            continue
        try:
            data = json.loads(r.data or "{}")
        except ValueError:
            continue
        rules = data.get("rules")
        if not isinstance(data.get("compliance"), dict) or not isinstance(rules, list):
            continue
        results = {}
        for rule in rules:
            if isinstance(rule, dict):
                name = str(rule.get("name", "?"))
                rule_names.setdefault(name)
                results[name] = bool(rule.get("passed"))
        latest[r.host] = {"device": r.host, "run_id": r.run_id, "checked_at": r.ended_at, "rules": results,
                          "compliant": all(results.values())}
    now = datetime.now(timezone.utc)
    backup = {d: {"taken_at": at, "version": v, "age_hours": round((now - at).total_seconds() / 3600, 1)}
              for d, at, v in backups}
    devices = sorted(set(latest) | set(backup))
    return {"rules": list(rule_names), "devices": [
        {"device": d, **latest.get(d, {"rules": {}, "compliant": None, "run_id": None, "checked_at": None}),
         "backup": backup.get(d)} for d in devices]}


def compliance_to_dict(view: dict[str, Any]) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(view)
