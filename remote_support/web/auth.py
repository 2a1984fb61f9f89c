"""Who is asking: a session cookie (browsers) or an API token (scripts), and the CSRF check of every form.

A browser logs in with a form and gets a random session cookie (HttpOnly, SameSite=Strict, Secure when
the server speaks TLS); its SHA-256 is the key of the session row, which holds the session's CSRF token
and expiry. Every state-changing request made with the cookie must carry that token (form field
``csrf`` or header ``X-CSRF-Token``): a page on another site can make the browser send the cookie but
cannot read the token. A script sends ``Authorization: Bearer TOKEN``; nothing sends that by itself,
so token requests need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from ..errors import LoginError, PermissionRefused
from ..journal_people import Session, User, csrf_matches

SESSION_COOKIE = "rs_session"
LOGIN_CSRF_COOKIE = "rs_login_csrf"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Caller:
    user: User
    session: Session | None  # None: an API token

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


def caller(request: Request) -> Caller:
    """The authenticated caller of a request (LoginError -> 401). Unsafe methods with the session cookie
    must carry the session's CSRF token (PermissionRefused -> 403)."""
    found = getattr(request.state, "caller", None)
    if found is not None:
        return found
    people = request.app.state.people
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        found = Caller(people.token_user(header[7:].strip()), None)
    else:
        session = people.session(request.cookies.get(SESSION_COOKIE, ""))
        found = Caller(session.user, session)
    request.state.caller = found
    return found


async def check_csrf(request: Request, who: Caller) -> None:
    if request.method in SAFE_METHODS or who.session is None:
        return
    given = request.headers.get("x-csrf-token")
    if not given and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get("csrf")
    if not csrf_matches(who.session.csrf, given if isinstance(given, str) else None):
        request.app.state.people.audit(who.user.name, "csrf.refused", request.url.path, remote=_remote(request))
        raise PermissionRefused("this form is not one the server gave you (missing or wrong CSRF token): "
                                "reload the page and send it again")


def _remote(request: Request) -> str:
    return request.client.host if request.client else ""


def require_level(who: Caller, level: int, what: str) -> None:
    if not who.user.may_run(level):
        raise PermissionRefused(f"{who.user.name} ({who.user.role}) may not run {what}: it needs level {level} "
                                "or higher")


def require_login(who: Caller | None) -> Caller:
    if who is None:
        raise LoginError("not logged in")
    return who
