"""The pages: ticket, host timeline, run, runs, escalations, compliance, search, tasks, approvals, audit."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from ..errors import LoginError, PermissionRefused, UnknownRunError, UsageError
from ..journal_search import KINDS, search
from ..report import STATUS_ORDER, _compliance
from ..secrets import MASK
from . import queries
from .app import PAGE_SIZE, PLAYER_CSP, _since, login_page, remote, render, set_session_cookie, who_with_csrf
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, caller, csrf_matches
from .runs import find, form_variables, library, request_for_approval

RUN_FILTERS = ("ticket", "host", "task", "status", "operator", "since")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def register(app: FastAPI) -> None:
    journal = app.state.journal
    people = app.state.people
    registry = app.state.registry

    # -- logging in

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request):
        return login_page(request)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get("csrf")):
            people.audit(str(form.get("name", ""))[:200] or "-", "csrf.refused", "/login", remote=remote(request))
            response = login_page(request, "the login form had expired: log in again", status=403)
            return response
        name = str(form.get("name", "")).strip()
        try:
            user = people.authenticate(name, str(form.get("password", "")))
        except LoginError as exc:
            people.audit(name or "-", "login.failed", name, str(exc), remote=remote(request))
            return login_page(request, str(exc), status=401)
        session = people.start_session(user)
        people.audit(user.name, "login", user.name, remote=remote(request))
        target = str(form.get("next") or "/")
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # never an open redirect
        response = _see_other(target)
        set_session_cookie(request, response, session.token, int(people.session_ttl.total_seconds()))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        who = await who_with_csrf(request)
        people.end_session(who.session.token)
        people.audit(who.user.name, "logout", who.user.name, remote=remote(request))
        response = _see_other("/login")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- reading

    @app.get("/", include_in_schema=False)
    def home(request: Request):
        caller(request)
        return _see_other("/runs")

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(request: Request, page: int = 1):
        caller(request)
        filters = {k: request.query_params.get(k, "").strip() for k in RUN_FILTERS}
        page = max(page, 1)
        found = journal.list_runs(**{k: v or None for k, v in filters.items() if k != "since"},
                                  since=_since(filters["since"]), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        more = len(found) > PAGE_SIZE
        query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
        return render(request, "runs.html", title="Runs", runs=found[:PAGE_SIZE], filters=filters, page=page,
                      more=more, query=query)

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: str):
        who = caller(request)
        record = journal.get_run(run_id)
        counts = sorted(((s, n) for s, n in record.counts.items() if n),
                        key=lambda i: STATUS_ORDER.index(i[0]) if i[0] in STATUS_ORDER else len(STATUS_ORDER))
        handle = registry.get(record.id)
        needs_approval = False
        if record.check and record.kind == "task" and record.status != "running":
            try:
                needs_approval = find(_task_name(record)).task.requires_approval
            except UnknownRunError:
                needs_approval = False
        page = render(request, "run.html", title=f"Run {record.id}", run=record, counts=counts,
                      compliance=_compliance(record), live=handle is not None and not handle.done,
                      can_cancel=handle is not None and not handle.done and who.user.level >= 1,
                      needs_approval=needs_approval, running=record.status == "running",
                      done=sum(n for s, n in record.counts.items() if s != "pending"),
                      total=sum(record.counts.values()))
        if record.kind == "session":
            page.headers["Content-Security-Policy"] = PLAYER_CSP
        return page

    @app.get("/runs/{run_id}/session.cast", include_in_schema=False)
    def session_cast(request: Request, run_id: str):
        """A session run's recording as asciicast v2, for the page's player (a viewer may watch it)."""
        from ..sessions.cast import load_cast

        caller(request)
        cast = load_cast(journal, run_id)
        # masked when recorded; masked again for secrets the server has learnt since, as every page is
        return Response(MASK(cast.text()), media_type="application/x-asciicast",
                        headers={"Content-Disposition": f'inline; filename="{cast.run_id}.cast"'})

    @app.get("/runs/{run_id}/progress", response_class=HTMLResponse, include_in_schema=False)
    def run_progress(request: Request, run_id: str):
        caller(request)
        record = journal.get_run(run_id)
        handle = registry.get(record.id)
        running = record.status == "running" and (handle is None or not handle.done)
        response = render(request, "_progress.html", run=record, running=running,
                          done=sum(n for s, n in record.counts.items() if s != "pending"),
                          total=sum(record.counts.values()))
        if not running:
            response.headers["HX-Refresh"] = "true"  # the whole page, now with every host's steps
        return response

    @app.get("/tickets", include_in_schema=False)
    def ticket_lookup(request: Request, ticket: str = ""):
        caller(request)
        if not ticket.strip():
            return render(request, "error.html", status=404, title="Not found", message="give a ticket id")
        return _see_other(f"/tickets/{ticket.strip()}")

    @app.get("/tickets/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
    def ticket_page(request: Request, ticket_id: str):
        caller(request)
        view = queries.ticket(journal, ticket_id)
        return render(request, "ticket.html", title=f"Ticket {ticket_id}", view=view)

    @app.get("/hosts", include_in_schema=False)
    def host_lookup(request: Request, host: str = ""):
        caller(request)
        return _see_other(f"/hosts/{host.strip()}") if host.strip() else _see_other("/runs")

    @app.get("/hosts/{host}", response_class=HTMLResponse, include_in_schema=False)
    def host_page(request: Request, host: str, a: str = "", b: str = ""):
        caller(request)
        history = journal.host_history(host, limit=100)
        versions = journal.config_versions(host, limit=100)
        if not history and not versions:
            raise UnknownRunError(f"nothing is recorded for host {host!r}")
        diff = None
        if a and b:
            diff = journal.config_diff(host, a, b)
        return render(request, "host.html", title=f"Host {host}", host=host, history=history, versions=versions,
                      diff=diff, a=a, b=b)

    @app.get("/escalations", response_class=HTMLResponse, include_in_schema=False)
    def escalations_page(request: Request, all: bool = False):
        caller(request)
        return render(request, "escalations.html", title="Escalations",
                      escalations=queries.escalations(journal, include_closed=all), show_all=all)

    @app.get("/escalations/{note_id}/bundle", include_in_schema=False)
    def escalation_bundle(request: Request, note_id: int):
        who = caller(request)
        found = queries.escalation(journal, note_id)
        path = Path(found["bundle"] or "")
        if not found["bundle"] or not path.is_file():
            raise UnknownRunError(f"the evidence bundle of escalation {note_id} is not on this server "
                                  f"({found['bundle'] or 'none was written'})")
        people.audit(who.user.name, "bundle.download", found["run_id"], str(path), remote=remote(request))
        return FileResponse(path, media_type="application/zip", filename=path.name)

    @app.post("/escalations/{run_id}/close", include_in_schema=False)
    async def escalation_close(request: Request, run_id: str):
        who = await who_with_csrf(request)
        form = await request.form()
        queries.close_escalations(journal, run_id, who.user.name, str(form.get("text", "")))
        people.audit(who.user.name, "escalation.close", run_id, remote=remote(request))
        return _see_other("/escalations")

    @app.get("/compliance", response_class=HTMLResponse, include_in_schema=False)
    def compliance_page(request: Request):
        caller(request)
        return render(request, "compliance.html", title="Compliance", view=queries.compliance(journal))

    @app.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = "", kind: str = "", page: int = 1):
        caller(request)
        hits = []
        error = ""
        page = max(page, 1)
        if q.strip():
            try:
                hits = search(journal, q, kind=kind or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
            except UsageError as exc:
                error = str(exc)
        return render(request, "search.html", title="Search", q=q, kind=kind, kinds=KINDS, hits=hits, error=error,
                      page=page)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, page: int = 1):
        caller(request)
        page = max(page, 1)
        return render(request, "audit.html", title="Audit trail",
                      entries=people.audit_log(limit=100, offset=(page - 1) * 100), page=page)

    # -- notes

    @app.post("/runs/{run_id}/note", include_in_schema=False)
    async def add_note(request: Request, run_id: str):
        who = await who_with_csrf(request)
        form = await request.form()
        text = str(form.get("text", "")).strip()
        if not text:
            raise UsageError("a note needs some text")
        note = journal.add_note(run_id, text, author=who.user.name)
        people.audit(who.user.name, "note.add", run_id, {"note": note.id}, remote=remote(request))
        return _see_other(f"/runs/{journal.resolve(run_id)}#notes")

    # -- running

    @app.get("/tasks", response_class=HTMLResponse, include_in_schema=False)
    def tasks_page(request: Request):
        who = caller(request)
        return render(request, "tasks.html", title="Tasks", tasks=library(), user=who.user)

    @app.get("/tasks/{name}", response_class=HTMLResponse, include_in_schema=False)
    def task_form(request: Request, name: str, ticket: str = "", pattern: str = ""):
        who = caller(request)
        choice = find(name)
        return render(request, "task.html", title=f"Run {choice.short_name}", choice=choice, task=choice.task,
                      may_run=who.user.may_run(choice.task.level), ticket=ticket, pattern=pattern)

    @app.post("/tasks/{name}/run", include_in_schema=False)
    async def task_run(request: Request, name: str):
        who = await who_with_csrf(request)
        form = await request.form()
        choice = find(name)
        request_ = registry.request(choice.short_name, pattern=str(form.get("pattern", "")).strip(),
                                    variables=form_variables(choice.task, form), check=form.get("check") == "on",
                                    ticket=str(form.get("ticket", "")).strip(), operator=who.user.name)
        run = registry.start_audited(people, who.user, request_, remote(request))
        return _see_other(f"/runs/{run.id}")

    @app.post("/runs/{run_id}/cancel", include_in_schema=False)
    async def run_cancel(request: Request, run_id: str):
        who = await who_with_csrf(request)
        if who.user.level < 1:
            raise PermissionRefused(f"{who.user.name} is a viewer: viewers do not stop runs")
        resolved = journal.resolve(run_id)
        stopped = registry.stop(resolved)
        people.audit(who.user.name, "run.cancel", resolved, {"stopped": stopped}, remote=remote(request))
        return _see_other(f"/runs/{resolved}")

    # -- approvals

    @app.post("/runs/{run_id}/request-approval", include_in_schema=False)
    async def ask_approval(request: Request, run_id: str):
        who = await who_with_csrf(request)
        record = journal.get_run(run_id)
        require = find(_task_name(record)).task.level
        from .auth import require_level

        require_level(who, require, f"task {_task_name(record)}")
        approval_id = request_for_approval(people, registry, record, who.user)
        people.audit(who.user.name, "approval.request", str(approval_id), {"check_run": record.id},
                     remote=remote(request))
        return _see_other(f"/approvals/{approval_id}")

    @app.get("/approvals", response_class=HTMLResponse, include_in_schema=False)
    def approvals_page(request: Request):
        caller(request)
        return render(request, "approvals.html", title="Approvals", approvals=people.list_approvals())

    @app.get("/approvals/{approval_id}", response_class=HTMLResponse, include_in_schema=False)
    def approval_page(request: Request, approval_id: int):
        caller(request)
        try:
            approval = people.approval(approval_id)
        except UsageError as exc:
            raise UnknownRunError(str(exc)) from None
        return render(request, "approval.html", title=f"Approval {approval_id}", approval=approval)

    @app.post("/approvals/{approval_id}/{decision}", include_in_schema=False)
    async def approval_decide(request: Request, approval_id: int, decision: str):
        who = await who_with_csrf(request)
        if decision not in ("approve", "refuse", "run"):
            raise UnknownRunError(f"no action {decision!r} on approvals")
        try:
            approval = people.approval(approval_id)
        except UsageError as exc:
            raise UnknownRunError(str(exc)) from None
        if decision == "run":
            from ..api import RunRequest

            recorded = {k: v for k, v in approval.request.items() if k != "hosts_resolved"}
            request_ = RunRequest.from_record(recorded).replace(operator=who.user.name,
                                                                inventory=registry.inventory)
            run = registry.start(who.user, request_)
            people.audit(who.user.name, "run.start", run.id, {"approval": approval_id}, remote=remote(request))
            return _see_other(f"/runs/{run.id}")
        approval = people.decide(approval_id, who.user, decision == "approve")
        people.audit(who.user.name, f"approval.{decision}", str(approval_id), {"hash": approval.request_hash},
                     remote=remote(request))
        return _see_other(f"/approvals/{approval_id}")


def _task_name(record) -> str:
    """The library name a recorded task run was started with."""
    if record.request and record.request.get("what"):
        return Path(str(record.request["what"])).stem
    return Path(record.command or record.name).stem

