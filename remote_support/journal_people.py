"""People in the journal (schema 5): accounts, API tokens, web sessions, the audit trail and approvals.

Support levels as the team works: ``level 0`` is a viewer (reads, adds notes, runs nothing), levels 1, 2
and 3 run tasks whose declared ``level`` is at most theirs; ``approver`` is a separate flag (L3, the team
lead). Passwords are argon2id hashes (argon2-cffi, the maintained binding of the reference
implementation); API tokens and session cookies are random 256-bit values stored as SHA-256 (they are
not guessable, so a slow hash buys nothing). Every action is written to ``audit``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as _random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .errors import LoginError, PermissionRefused, UnknownRunError, UsageError
from .journal import UTCDateTime, _text

if TYPE_CHECKING:
    from .journal import Journal

#: failed logins in a row before an account is locked for LOCKOUT
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: a web session ends this long after login
SESSION_TTL = timedelta(hours=8)
#: an approval covers its request this long after it was given
APPROVAL_TTL = timedelta(hours=4)

LEVELS = {0: "viewer", 1: "level 1", 2: "level 2", 3: "level 3"}

_m = sa.MetaData()
users = sa.Table(
    "users", _m,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("approver", sa.Boolean, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("locked_until", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
api_tokens = sa.Table(
    "api_tokens", _m,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
)
web_sessions = sa.Table(
    "web_sessions", _m,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
audit = sa.Table(
    "audit", _m,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("remote", sa.String(100), nullable=False),
)
approvals = sa.Table(
    "approvals", _m,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("check_run", sa.String(40)),
    sa.Column("diff", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("used_by_run", sa.String(40)),
)
MODEL = _m  # tests compare it with what migration 5 made

# argon2 takes its time on purpose; a login for an unknown name verifies against this, so both take as long
_DUMMY_HASH: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@dataclass(frozen=True)
class User:
    id: int
    name: str
    level: int
    approver: bool
    disabled: bool = False
    locked_until: datetime | None = None
    created_at: datetime | None = None

    @property
    def role(self) -> str:
        return LEVELS.get(self.level, f"level {self.level}") + (", approver" if self.approver else "")

    def may_run(self, task_level: int) -> bool:
        return self.level >= 1 and self.level >= task_level

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "role": self.role, "approver": self.approver,
                "disabled": self.disabled}


def _user(row: sa.Row) -> User:
    return User(id=row.id, name=row.name, level=row.level, approver=bool(row.approver), disabled=bool(row.disabled),
                locked_until=row.locked_until, created_at=row.created_at)


@dataclass(frozen=True)
class Session:
    token: str  # the cookie value (only known right after login)
    user: User
    csrf: str
    expires_at: datetime


@dataclass
class Approval:
    id: int
    request_hash: str
    request: dict[str, Any]
    summary: str
    requested_by: str
    requested_at: datetime
    check_run: str | None
    diff: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime | None
    used_by_run: str | None

    @property
    def valid(self) -> bool:
        return self.status == "approved" and self.expires_at is not None and self.expires_at > _now()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "request_hash": self.request_hash, "request": self.request, "summary": self.summary,
                "requested_by": self.requested_by, "requested_at": self.requested_at.isoformat(),
                "check_run": self.check_run, "diff": self.diff, "status": self.status,
                "decided_by": self.decided_by,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "used_by_run": self.used_by_run}


def _approval(row: sa.Row) -> Approval:
    return Approval(id=row.id, request_hash=row.request_hash, request=json.loads(row.request), summary=row.summary,
                    requested_by=row.requested_by, requested_at=row.requested_at, check_run=row.check_run,
                    diff=row.diff, status=row.status, decided_by=row.decided_by, decided_at=row.decided_at,
                    expires_at=row.expires_at, used_by_run=row.used_by_run)


class People:
    """Accounts, tokens, sessions, audit and approvals of one journal."""

    def __init__(self, journal: "Journal", *, session_ttl: timedelta = SESSION_TTL,
                 max_failed: int = MAX_FAILED_LOGINS, lockout: timedelta = LOCKOUT):
        self.journal = journal
        self.session_ttl = session_ttl
        self.max_failed = max_failed
        self.lockout = lockout

    # -- accounts

    def add_user(self, name: str, password: str, *, level: int, approver: bool = False) -> User:
        name = name.strip()
        if not name or len(name) > 200 or any(c.isspace() for c in name):
            raise UsageError(f"user name {name!r}: one word of up to 200 characters")
        if level not in LEVELS:
            raise UsageError(f"--level {level}: use 0 (viewer), 1, 2 or 3")
        _check_password(password)
        with self.journal._write() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar() is not None:
                raise UsageError(f"user {name!r} exists already: `remote-support users passwd {name}` changes "
                                 "the password")
            conn.execute(users.insert().values(name=name, password_hash=_hasher().hash(password), level=level,
                                               approver=approver, disabled=False, failed_logins=0,
                                               created_at=_now()))
        return self.user(name)

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self.journal._write() as conn:
            changed = conn.execute(users.update().where(users.c.name == name).values(
                password_hash=_hasher().hash(password), failed_logins=0, locked_until=None)).rowcount
            if not changed:
                raise UsageError(f"no user {name!r}: see `remote-support users list`")
            user_id = conn.execute(sa.select(users.c.id).where(users.c.name == name)).scalar_one()
            conn.execute(web_sessions.delete().where(web_sessions.c.user_id == user_id))  # log out everywhere

    def set_role(self, name: str, *, level: int | None = None, approver: bool | None = None) -> User:
        values: dict[str, Any] = {}
        if level is not None:
            if level not in LEVELS:
                raise UsageError(f"--level {level}: use 0 (viewer), 1, 2 or 3")
            values["level"] = level
        if approver is not None:
            values["approver"] = approver
        if values:
            with self.journal._write() as conn:
                if not conn.execute(users.update().where(users.c.name == name).values(**values)).rowcount:
                    raise UsageError(f"no user {name!r}: see `remote-support users list`")
        return self.user(name)

    def user(self, name: str) -> User:
        with self.journal._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None:
            raise UsageError(f"no user {name!r}: see `remote-support users list`")
        return _user(row)

    def find_user(self, name: str) -> User | None:
        """The account ``name``, or None (also when the journal has no accounts table yet)."""
        with self.journal._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self.journal._read() as conn:
            return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]

    def count_users(self) -> int:
        with self.journal._read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()

    # -- logging in

    def authenticate(self, name: str, password: str) -> User:
        """The user if the password is right; LoginError otherwise (the same message for a wrong name and
        a wrong password). MAX_FAILED_LOGINS failures in a row lock the account for LOCKOUT."""
        from argon2.exceptions import InvalidHashError, VerificationError

        global _DUMMY_HASH
        now = _now()
        with self.journal._read() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        hasher = _hasher()
        if row is None:
            if _DUMMY_HASH is None:
                _DUMMY_HASH = hasher.hash(_random.token_hex(16))
            try:
                hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            raise LoginError("wrong user name or password")
        if row.locked_until is not None and row.locked_until > now:
            raise LoginError(f"account {name} is locked after {self.max_failed} failed logins until "
                            f"{row.locked_until:%H:%M:%S} UTC: wait, or ask an administrator for "
                            f"`remote-support users passwd {name}`")
        if row.disabled:
            raise LoginError(f"account {name} is disabled")
        try:
            hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            with self.journal._write() as conn:
                failed = row.failed_logins + 1
                values: dict[str, Any] = {"failed_logins": failed}
                if failed >= self.max_failed:
                    values.update(failed_logins=0, locked_until=now + self.lockout)
                conn.execute(users.update().where(users.c.id == row.id).values(**values))
            raise LoginError("wrong user name or password") from None
        if row.failed_logins or row.locked_until:
            with self.journal._write() as conn:
                conn.execute(users.update().where(users.c.id == row.id).values(failed_logins=0, locked_until=None))
        return _user(row)

    def start_session(self, user: User) -> Session:
        token = _random.token_urlsafe(32)
        csrf = _random.token_urlsafe(32)
        now = _now()
        expires = now + self.session_ttl
        with self.journal._write() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.expires_at < now))
            conn.execute(web_sessions.insert().values(token_hash=_sha256(token), user_id=user.id, csrf=csrf,
                                                      created_at=now, expires_at=expires))
        return Session(token=token, user=user, csrf=csrf, expires_at=expires)

    def session(self, token: str) -> Session:
        """The session of a cookie value; LoginError when unknown or expired."""
        if not token:
            raise LoginError("not logged in")
        with self.journal._read() as conn:
            row = conn.execute(sa.select(web_sessions, users).join_from(
                web_sessions, users, web_sessions.c.user_id == users.c.id).where(
                web_sessions.c.token_hash == _sha256(token))).first()
        if row is None or row.expires_at <= _now():
            raise LoginError("the session has ended: log in again")
        if row.disabled:
            raise LoginError(f"account {row.name} is disabled")
        return Session(token=token, user=_user(row), csrf=row.csrf, expires_at=row.expires_at)

    def end_session(self, token: str) -> None:
        with self.journal._write() as conn:
            conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == _sha256(token)))

    # -- API tokens

    def new_token(self, name: str, label: str = "api", *, days: int | None = 365) -> str:
        """A new API token for user ``name`` (shown once; only its hash is stored)."""
        user = self.user(name)
        token = "rs_" + _random.token_urlsafe(32)
        now = _now()
        with self.journal._write() as conn:
            conn.execute(api_tokens.insert().values(user_id=user.id, name=label, token_hash=_sha256(token),
                                                    created_at=now,
                                                    expires_at=now + timedelta(days=days) if days else None))
        return token

    def token_user(self, token: str) -> User:
        now = _now()
        with self.journal._read() as conn:
            row = conn.execute(sa.select(api_tokens.c.id.label("token_id"), api_tokens.c.expires_at.label("t_exp"),
                                         users).join_from(api_tokens, users, api_tokens.c.user_id == users.c.id)
                               .where(api_tokens.c.token_hash == _sha256(token))).first()
        if row is None or (row.t_exp is not None and row.t_exp <= now):
            raise LoginError("unknown or expired API token: make one with `remote-support users token NAME`")
        if row.disabled:
            raise LoginError(f"account {row.name} is disabled")
        return _user(row)

    # -- audit

    def audit(self, actor: str, action: str, target: str = "", detail: Any = "", remote: str = "") -> None:
        """One line of the audit trail (texts masked like everything in the journal)."""
        text = detail if isinstance(detail, str) else json.dumps(detail, default=str, ensure_ascii=False)
        with self.journal._write() as conn:
            conn.execute(audit.insert().values(at=_now(), actor=_text(actor)[:200], action=action[:60],
                                               target=_text(target), detail=_text(text), remote=remote[:100]))

    def audit_log(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        with self.journal._read() as conn:
            return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "target": r.target,
                     "detail": r.detail, "remote": r.remote}
                    for r in conn.execute(sa.select(audit).order_by(audit.c.id.desc()).limit(limit).offset(offset))]

    # -- approvals

    def request_approval(self, request_hash: str, request: dict[str, Any], summary: str, requested_by: str, *,
                         check_run: str | None = None, diff: str = "") -> Approval:
        with self.journal._write() as conn:
            approval_id = conn.execute(approvals.insert().values(
                request_hash=request_hash, request=_text(json.dumps(request, default=str, ensure_ascii=False)),
                summary=_text(summary), requested_by=requested_by, requested_at=_now(), check_run=check_run,
                diff=_text(diff), status="pending").returning(approvals.c.id)).scalar_one()
        return self.approval(approval_id)

    def approval(self, approval_id: int) -> Approval:
        with self.journal._read() as conn:
            row = conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
        if row is None:
            raise UnknownRunError(f"no approval {approval_id}")
        return _approval(row)

    def list_approvals(self, status: str | None = None, limit: int = 100) -> list[Approval]:
        query = sa.select(approvals).order_by(approvals.c.id.desc()).limit(limit)
        if status:
            query = query.where(approvals.c.status == status)
        with self.journal._read() as conn:
            return [_approval(r) for r in conn.execute(query)]

    def decide(self, approval_id: int, approver: User, approve: bool, *, ttl: timedelta = APPROVAL_TTL) -> Approval:
        """Approve (or refuse) a pending request: only an approver who is not the one who asked."""
        found = self.approval(approval_id)
        if not approver.approver:
            raise PermissionRefused(f"{approver.name} is not an approver: only a user with the approver role "
                                    "approves runs")
        if approver.name == found.requested_by:
            raise PermissionRefused(f"{approver.name} asked for this run: a different person must approve it")
        if found.status != "pending":
            raise UsageError(f"approval {approval_id} is {found.status} already")
        now = _now()
        with self.journal._write() as conn:
            conn.execute(approvals.update().where(approvals.c.id == approval_id, approvals.c.status == "pending")
                         .values(status="approved" if approve else "refused", decided_by=approver.name,
                                 decided_at=now, expires_at=now + ttl if approve else None))
        return self.approval(approval_id)

    def valid_approval(self, request_hash: str, operator: str | None) -> Approval | None:
        """An approval that covers this exact request: approved by someone else (who is still an
        approver), not expired, not used."""
        now = _now()
        with self.journal._read() as conn:
            rows = conn.execute(sa.select(approvals).where(
                approvals.c.request_hash == request_hash, approvals.c.status == "approved",
                approvals.c.expires_at > now).order_by(approvals.c.id)).all()
            for row in rows:
                if row.decided_by == operator:
                    continue
                approver = conn.execute(sa.select(users.c.approver).where(users.c.name == row.decided_by)).scalar()
                if approver:
                    return _approval(row)
        return None

    def link_approval(self, approval_id: int, run_id: str) -> None:
        """Record which run a spent approval started."""
        with self.journal._write() as conn:
            conn.execute(approvals.update().where(approvals.c.id == approval_id).values(used_by_run=run_id))

    def use_approval(self, approval_id: int, run_id: str | None) -> bool:
        """Spend an approval (once), on ``run_id`` when known; False if another run took it first."""
        with self.journal._write() as conn:
            return bool(conn.execute(approvals.update().where(approvals.c.id == approval_id,
                                                              approvals.c.status == "approved")
                                     .values(status="used", used_by_run=run_id)).rowcount)


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise UsageError("a password needs at least 10 characters")


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())
