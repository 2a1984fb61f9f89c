"""The web application: pages for people (Jinja2 + htmx) and a JSON API for scripts, over one journal.

``create_app(journal, inventory=...)`` builds it; ``remote-support serve`` runs it with uvicorn. FastAPI
because it gives the JSON API its OpenAPI document (``/api/openapi.json``) from the code itself; the
interactive docs pages are off, since they load their scripts from a CDN and nothing here is loaded
from the internet. Every page and every API call needs a logged-in user or an API token.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import jinja2
import markupsafe
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import LoginError, PermissionRefused, RemoteSupportError, UnknownRunError
from ..journal import Journal
from ..journal_people import People
from ..report import STATUS_ORDER, _diff_lines, _finalize, _seconds, _when
from ..secrets import MASK
from .auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Caller, caller, check_csrf
from .runs import RunRegistry

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: the page of a recorded session: asciinema-player's terminal emulator is WebAssembly, which Chromium only
#: compiles with 'wasm-unsafe-eval' (it allows WebAssembly, not eval of JavaScript: scripts stay 'self')
PLAYER_CSP = _CSP.replace("script-src 'self';", "script-src 'self' 'wasm-unsafe-eval';")


def _mark(snippet: str) -> markupsafe.Markup:
    """A search snippet: escaped, then the match markers turned into <mark>."""
    from ..journal_search import MARK_END, MARK_START

    escaped = markupsafe.escape(_finalize(snippet))
    return markupsafe.Markup(str(escaped).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=_finalize)
    env.globals.update(when=_when, seconds=_seconds, diff_lines=_diff_lines, version=__version__, mark=_mark,
                       tojson=lambda v: json.dumps(v, indent=2, ensure_ascii=False, default=str),
                       status_order=STATUS_ORDER)
    return env


_masked = MASK.deep  # every text in the JSON masked


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    from ..cli.journal import _since as parse

    return parse(text)


def create_app(journal: Journal, *, inventory: Sequence[str] = (), tls: bool = False,
               people: People | None = None) -> FastAPI:
    """The application over ``journal``; runs started from it use ``inventory`` (default
    $REMOTE_SUPPORT_INVENTORY)."""
    if not inventory and os.environ.get("REMOTE_SUPPORT_INVENTORY"):
        inventory = [p for p in os.environ["REMOTE_SUPPORT_INVENTORY"].split(":") if p]
    app = FastAPI(title="remote-support", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="The team's view of the run journal: runs, tickets, hosts, escalations, "
                              "compliance, search; runs started through the application layer. "
                              "Authenticate with `Authorization: Bearer TOKEN` (`remote-support users token`).")
    app.state.journal = journal
    app.state.people = people or People(journal)
    app.state.registry = RunRegistry(journal, inventory)
    app.state.tls = tls
    app.state.templates = _templates()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    _errors(app)
    from . import api_routes, pages

    pages.register(app)
    api_routes.register(app)
    return app


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    who = getattr(request.state, "caller", None)
    html = request.app.state.templates.get_template(name).render(request=request, who=who,
                                                                 csrf=who.csrf if who else "", **context)
    return HTMLResponse(html, status_code=status)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _errors(app: FastAPI) -> None:
    def answer(request: Request, status: int, title: str, message: str) -> Response:
        if _is_api(request):
            return JSONResponse({"error": MASK(message), "status": status}, status_code=status)
        if status == 401:
            return login_page(request, message, status=401)
        return render(request, "error.html", status=status, title=title, message=message)

    @app.exception_handler(LoginError)
    async def _401(request: Request, exc: LoginError):
        return answer(request, 401, "Log in", str(exc))

    @app.exception_handler(PermissionRefused)
    async def _403(request: Request, exc: PermissionRefused):
        return answer(request, 403, "Not allowed", str(exc))

    @app.exception_handler(UnknownRunError)
    async def _404(request: Request, exc: UnknownRunError):
        return answer(request, 404, "Not found", str(exc))

    @app.exception_handler(RemoteSupportError)
    async def _400(request: Request, exc: RemoteSupportError):
        return answer(request, 400, "Cannot do that", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = {404: f"there is no page {request.url.path}", 405: "this address does not take that method"}.get(
            exc.status_code, str(exc.detail))
        return answer(request, exc.status_code, "Not found" if exc.status_code == 404 else "Error", message)


def login_page(request: Request, message: str = "", status: int = 200) -> HTMLResponse:
    import secrets

    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, title="Log in", message=message, login_csrf=token,
                      next=request.url.path if request.method == "GET" and request.url.path != "/login" else "/")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.app.state.tls,
                        path="/login")
    return response


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=request.app.state.tls,
                        max_age=max_age, path="/")


async def who_with_csrf(request: Request) -> Caller:
    who = caller(request)
    await check_csrf(request, who)
    return who


def remote(request: Request) -> str:
    return request.client.host if request.client else ""

