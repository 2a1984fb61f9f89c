"""The JSON API: everything the pages show, as the same records as ``report --format json``.

Runs are ``RunRecord.to_dict()``; host timelines ``HistoryEntry.to_dict()``; config versions
``ConfigVersion.to_dict()``. Authenticate with ``Authorization: Bearer TOKEN``; with a browser's session
cookie, unsafe methods need the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI, Request
from pydantic import BaseModel, Field

from ..errors import PermissionRefused, UnknownRunError, UsageError
from ..journal_search import search
from . import queries
from .app import PAGE_SIZE, _masked, _since, remote, who_with_csrf
from .auth import caller
from .runs import find, library


class StartRun(BaseModel):
    """A run of a library task: parameters as given on the command line (secrets as env:/file: references)."""

    task: str = Field(description="a task name from GET /api/tasks")
    pattern: str = Field("all", description="Ansible-style host pattern")
    params: dict[str, Any] = Field(default_factory=dict)
    check: bool = Field(True, description="check mode (the default): show what would change, change nothing")
    ticket: str | None = None


class NoteIn(BaseModel):
    text: str


def register(app: FastAPI) -> None:
    journal = app.state.journal
    people = app.state.people
    registry = app.state.registry

    @app.get("/api/me", tags=["people"])
    def me(request: Request) -> dict[str, Any]:
        """Who the token or session belongs to."""
        return caller(request).user.to_dict()

    @app.get("/api/runs", tags=["runs"])
    def api_runs(request: Request, ticket: str | None = None, host: str | None = None, task: str | None = None,
                 status: str | None = None, operator: str | None = None, since: str | None = None,
                 page: int = 1, per_page: int = PAGE_SIZE) -> dict[str, Any]:
        """Runs, newest first, filtered (text filters exact or glob with *; since: 2d, 12h, 30m or a date)."""
        caller(request)
        per_page = min(max(per_page, 1), 500)
        page = max(page, 1)
        found = journal.list_runs(ticket=ticket, host=host, task=task, status=status, operator=operator,
                                  since=_since(since), limit=per_page + 1, offset=(page - 1) * per_page)
        return {"page": page, "per_page": per_page, "more": len(found) > per_page,
                "runs": [_masked(r.to_dict()) for r in found[:per_page]]}

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def api_run(request: Request, run_id: str, host: str | None = None) -> dict[str, Any]:
        """One run with its hosts, steps and notes (what `report --format json` writes)."""
        caller(request)
        return _masked(journal.get_run(run_id, host=host).to_dict())

    @app.post("/api/runs", tags=["runs"], status_code=201)
    async def api_start(request: Request, body: StartRun = Body(...)) -> dict[str, Any]:
        """Start a run of a library task (in this server's process); 403 below the task's level or without
        a required approval."""
        who = await who_with_csrf(request)
        choice = find(body.task)
        run_request = registry.request(choice.short_name, pattern=body.pattern, variables=body.params,
                                       check=body.check, ticket=body.ticket, operator=who.user.name)
        run = registry.start_audited(people, who.user, run_request, remote(request))
        return {"id": run.id, "url": f"/runs/{run.id}", "hosts": [h.name for h in run.hosts]}

    @app.post("/api/runs/{run_id}/cancel", tags=["runs"])
    async def api_cancel(request: Request, run_id: str) -> dict[str, Any]:
        """Stop a run this server started: nothing new starts, running hosts are cut."""
        who = await who_with_csrf(request)
        if who.user.level < 1:
            raise PermissionRefused(f"{who.user.name} is a viewer: viewers do not stop runs")
        resolved = journal.resolve(run_id)
        stopped = registry.stop(resolved)
        people.audit(who.user.name, "run.cancel", resolved, {"stopped": stopped}, remote=remote(request))
        return {"id": resolved, "stopped": stopped}

    @app.post("/api/runs/{run_id}/notes", tags=["runs"], status_code=201)
    async def api_note(request: Request, run_id: str, body: NoteIn) -> dict[str, Any]:
        """Add a note to a run (viewers may)."""
        who = await who_with_csrf(request)
        if not body.text.strip():
            raise UsageError("a note needs some text")
        note = journal.add_note(run_id, body.text, author=who.user.name)
        people.audit(who.user.name, "note.add", run_id, {"note": note.id}, remote=remote(request))
        return note.to_dict()

    @app.get("/api/tickets/{ticket_id}", tags=["tickets"])
    def api_ticket(request: Request, ticket_id: str) -> dict[str, Any]:
        """Every run, note, escalation and config backup of a ticket in time order, and the hosts touched."""
        caller(request)
        return _masked(queries.ticket_to_dict(queries.ticket(journal, ticket_id)))

    @app.get("/api/hosts/{host}", tags=["hosts"])
    def api_host(request: Request, host: str, limit: int = 100) -> dict[str, Any]:
        """What was done to a host across runs, newest first, and its config versions."""
        caller(request)
        history = journal.host_history(host, limit=min(max(limit, 1), 1000))
        versions = journal.config_versions(host, limit=100)
        if not history and not versions:
            raise UnknownRunError(f"nothing is recorded for host {host!r}")
        return _masked({"host": host, "history": [e.to_dict() for e in history],
                        "configs": [v.to_dict() for v in versions]})

    @app.get("/api/hosts/{host}/configs/{version}", tags=["hosts"])
    def api_config(request: Request, host: str, version: str) -> dict[str, Any]:
        """One stored config version (number, -1 for the latest, or a SHA-256 prefix) with its text."""
        caller(request)
        return _masked(journal.config_version(host, version).to_dict())

    @app.get("/api/hosts/{host}/diff", tags=["hosts"])
    def api_diff(request: Request, host: str, a: str, b: str) -> dict[str, Any]:
        """The unified diff between two config versions of a device."""
        caller(request)
        return {"host": host, "a": a, "b": b, "diff": _masked(journal.config_diff(host, a, b))}

    @app.get("/api/escalations", tags=["tickets"])
    def api_escalations(request: Request, all: bool = False) -> list[dict[str, Any]]:
        """Open escalations (all=true: also the closed ones), newest first."""
        caller(request)
        return _masked([{**e, "created_at": e["created_at"].isoformat()}
                        for e in queries.escalations(journal, include_closed=all)])

    @app.get("/api/compliance", tags=["hosts"])
    def api_compliance(request: Request) -> dict[str, Any]:
        """Devices x rules of each device's latest compliance check, and its latest backup's age."""
        caller(request)
        return queries.compliance_to_dict(queries.compliance(journal))

    @app.get("/api/search", tags=["search"])
    def api_search(request: Request, q: str, kind: str | None = None, page: int = 1) -> list[dict[str, Any]]:
        """Full-text search over step output, notes, escalations and session text (matches in [brackets])."""
        caller(request)
        return _masked([h.to_dict() for h in search(journal, q, kind=kind, limit=PAGE_SIZE,
                                                     offset=(max(page, 1) - 1) * PAGE_SIZE)])

    @app.get("/api/tasks", tags=["runs"])
    def api_tasks(request: Request) -> list[dict[str, Any]]:
        """The task library with each task's level, approval flag and parameters."""
        caller(request)
        return [{"name": c.short_name, "title": c.task.name, "description": c.task.description,
                 "level": c.task.level, "requires_approval": c.task.requires_approval,
                 "params": [{"name": p.name, "type": p.type, "required": p.required, "secret": p.secret,
                             "default": None if p.secret else p.default, "description": p.description,
                             "choices": list(p.choices)} for p in c.task.params]}
                for c in library()]

    @app.get("/api/approvals", tags=["people"])
    def api_approvals(request: Request, status: str | None = None) -> list[dict[str, Any]]:
        """Requests for approval, newest first, with the check-mode diff attached."""
        caller(request)
        return _masked([a.to_dict() for a in people.list_approvals(status)])

    @app.post("/api/approvals/{approval_id}/{decision}", tags=["people"])
    async def api_decide(request: Request, approval_id: int, decision: str) -> dict[str, Any]:
        """approve or refuse a pending request (an approver other than the requester)."""
        who = await who_with_csrf(request)
        if decision not in ("approve", "refuse"):
            raise UnknownRunError(f"no action {decision!r} on approvals: approve or refuse")
        approval = people.decide(approval_id, who.user, decision == "approve")
        people.audit(who.user.name, f"approval.{decision}", str(approval_id), remote=remote(request))
        return _masked(approval.to_dict())

    @app.get("/api/audit", tags=["people"])
    def api_audit(request: Request, page: int = 1) -> list[dict[str, Any]]:
        """The audit trail, newest first."""
        caller(request)
        return people.audit_log(limit=100, offset=(max(page, 1) - 1) * 100)
