"""The parts of a distributed run in the journal, and the lease a worker holds on one.

A row per part (``run_parts``): its hosts, its round (+1 each time it is sent again), its status and the
lease: the worker holding it, ``heartbeat_at`` and ``expires_at``. A worker claims the part with
``SELECT ... FOR UPDATE SKIP LOCKED`` in a short transaction (SQLite: its one writer at a time), keeps the
lease alive with :func:`renew`, and a lease past ``expires_at`` may be taken by the next delivery, which
continues the part on exactly its unfinished hosts (:func:`take_over`). Times are the machines' UTC
clocks: keep controller and workers on NTP, and the lease TTL well above any clock skew.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import sqlalchemy as sa

from ..journal import PENDING, UNFINISHED, notes, os_user, run_cancels, run_hosts, run_parts
from ..results import HostResult, Status

if TYPE_CHECKING:
    from ..journal import Journal
    from ..results import RunResult

QUEUED, RUNNING, DONE, FAILED, REFUSED, TIMED_OUT = "queued", "running", "done", "failed", "refused", "timed_out"
ENDED = (DONE, FAILED, REFUSED, TIMED_OUT)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Part:
    id: int
    run_id: str
    site: str
    hosts: tuple[str, ...]
    round: int
    status: str
    reason: str
    worker: str | None
    deliveries: int
    sent_at: datetime
    claimed_at: datetime | None
    expires_at: datetime | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def expired(self, now: datetime | None = None) -> bool:
        return self.status == RUNNING and self.expires_at is not None and self.expires_at < (now or _now())


def _part(row: sa.Row) -> Part:
    return Part(id=row.id, run_id=row.run_id, site=row.site, hosts=tuple(json.loads(row.hosts)), round=row.round,
                status=row.status, reason=row.reason, worker=row.worker, deliveries=row.deliveries,
                sent_at=row.sent_at, claimed_at=row.claimed_at, expires_at=row.expires_at)


# --------------------------------------------------------------------------------------------- controller


def open_parts(journal: "Journal", run_id: str, sites: Mapping[str, Sequence[str]]) -> dict[str, Part]:
    """A queued part per site (a part sent before, e.g. before a resume, is sent again: its round grows)."""
    now = _now()
    with journal._write() as conn:
        for site, hosts in sites.items():
            values = {"hosts": json.dumps(list(hosts)), "status": QUEUED, "reason": "", "worker": None,
                      "sent_at": now, "claimed_at": None, "heartbeat_at": None, "expires_at": None, "ended_at": None}
            changed = conn.execute(run_parts.update().where(run_parts.c.run_id == run_id, run_parts.c.site == site)
                                   .values(round=run_parts.c.round + 1, **values)).rowcount
            if not changed:
                conn.execute(run_parts.insert().values(run_id=run_id, site=site, round=1, deliveries=0, **values))
        conn.execute(run_cancels.delete().where(run_cancels.c.run_id == run_id))
        rows = conn.execute(sa.select(run_parts).where(run_parts.c.run_id == run_id, run_parts.c.site.in_(list(sites))))
        return {p.site: p for p in map(_part, rows)}


def parts(journal: "Journal", run_id: str) -> list[Part]:
    with journal._read() as conn:
        return [_part(r) for r in conn.execute(sa.select(run_parts).where(run_parts.c.run_id == run_id)
                                               .order_by(run_parts.c.id))]


def request_cancel(journal: "Journal", run_id: str, by: str | None = None) -> None:
    """Ctrl-C (or a cancel in the web view): the workers stop their parts at their next heartbeat."""
    with journal._write() as conn:
        if conn.execute(sa.select(run_cancels.c.run_id).where(run_cancels.c.run_id == run_id)).first() is None:
            conn.execute(run_cancels.insert().values(run_id=run_id, requested_at=_now(), requested_by=by or os_user()))


def cancelled(journal: "Journal", run_id: str) -> bool:
    with journal._read() as conn:
        return conn.execute(sa.select(run_cancels.c.run_id).where(run_cancels.c.run_id == run_id)).first() is not None


def end_unclaimed(journal: "Journal", part: Part, status: str, reason: str) -> bool:
    """Give up a part nobody holds (queued, or its lease expired): a late delivery then finds it ended."""
    now = _now()
    with journal._write() as conn:
        changed = conn.execute(run_parts.update().where(
            run_parts.c.id == part.id, run_parts.c.round == part.round,
            sa.or_(run_parts.c.status == QUEUED,
                   sa.and_(run_parts.c.status == RUNNING, run_parts.c.expires_at < now))
        ).values(status=status, reason=reason, ended_at=now)).rowcount
    return bool(changed)


def finished_hosts(journal: "Journal", run_id: str, hosts: Iterable[str]) -> list[HostResult]:
    """The hosts among ``hosts`` whose result is in the journal (no steps: progress only)."""
    wanted = set(hosts)
    with journal._read() as conn:
        rows = conn.execute(sa.select(run_hosts.c.host, run_hosts.c.status, run_hosts.c.reason,
                                      run_hosts.c.started_at, run_hosts.c.ended_at).where(
            run_hosts.c.run_id == run_id, run_hosts.c.status != PENDING)).all()
    return [HostResult(r.host, Status(r.status), (), r.reason or "", r.started_at.timestamp() if r.started_at else 0.0,
                       r.ended_at.timestamp() if r.ended_at else 0.0) for r in rows if r.host in wanted]


def settle_hosts(journal: "Journal", run_id: str, hosts: Sequence[str], status: Status, reason: str,
                 in_flight_reason: str | None = None) -> None:
    """Give the still-pending hosts of an ended part their final status (in-flight ones: interrupted)."""
    now = _now()
    with journal._write() as conn:
        pending = (run_hosts.c.run_id == run_id, run_hosts.c.host.in_(list(hosts)), run_hosts.c.status == PENDING)
        if in_flight_reason is not None:
            conn.execute(run_hosts.update().where(*pending, run_hosts.c.changing_at.is_not(None)).values(
                status=Status.INTERRUPTED.value, reason=in_flight_reason, ended_at=now))
        conn.execute(run_hosts.update().where(*pending).values(status=status.value, reason=reason, ended_at=now))


# --------------------------------------------------------------------------------------------- worker


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: ``claimed`` (with the worker that held it before, if any), ``held`` by a live
    worker until ``expires_at``, or ``gone`` (ended, or a newer round: this message is stale)."""

    outcome: str
    part: Part | None = None
    previous: str | None = None
    expires_at: datetime | None = None
    reason: str = ""
    todo: tuple[str, ...] = ()  # with take_over=True: the hosts to run now
    in_flight: tuple[str, ...] = ()  # and the ones left alone (in flight under the previous worker)


def claim(journal: "Journal", part_id: int, round: int, worker: str, ttl: float, *, take_over: bool = False,
          include_in_flight: bool = False) -> Claim:
    """Take the lease of a part, in one short transaction; never waits on another claimer's row lock.
    With ``take_over``, the same transaction picks the hosts to run (see :func:`take_over`)."""
    now = _now()
    with journal._write() as conn:
        row = conn.execute(sa.select(run_parts).where(run_parts.c.id == part_id)
                           .with_for_update(skip_locked=True)).first()
        if row is None:
            # locked by a concurrent claimer (SKIP LOCKED), or unknown: look without the lock
            seen = conn.execute(sa.select(run_parts).where(run_parts.c.id == part_id)).first()
            if seen is None:
                return Claim("gone", reason=f"part {part_id} is not in the journal")
            return Claim("held", _part(seen), expires_at=now + timedelta(seconds=1))
        part = _part(row)
        if part.round != round:
            return Claim("gone", part, reason=f"the part was sent again (round {part.round}, this message {round})")
        if part.ended:
            return Claim("gone", part, reason=f"the part has ended ({part.status})")
        if part.status == RUNNING and part.expires_at is not None and part.expires_at >= now:
            return Claim("held", part, expires_at=part.expires_at)
        conn.execute(run_parts.update().where(run_parts.c.id == part_id).values(
            status=RUNNING, worker=worker, claimed_at=now, heartbeat_at=now,
            expires_at=now + timedelta(seconds=ttl), deliveries=run_parts.c.deliveries + 1))
        if take_over:
            todo, in_flight = _take_over(conn, part, worker, part.worker, include_in_flight)
            return Claim("claimed", part, previous=part.worker, todo=tuple(todo), in_flight=tuple(in_flight))
        return Claim("claimed", part, previous=part.worker)


def renew(journal: "Journal", part: Part, worker: str, ttl: float) -> bool:
    """The heartbeat: move the lease's expiry on; False when the lease is no longer ours."""
    now = _now()
    with journal._write() as conn:
        return bool(conn.execute(run_parts.update().where(
            run_parts.c.id == part.id, run_parts.c.round == part.round, run_parts.c.worker == worker,
            run_parts.c.status == RUNNING).values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))).rowcount)


def beat(journal: "Journal", part: Part, worker: str, ttl: float) -> tuple[bool, bool]:
    """The heartbeat and the cancel check in one transaction: (the lease is still ours, the run is cancelled)."""
    now = _now()
    with journal._write() as conn:
        ours = bool(conn.execute(run_parts.update().where(
            run_parts.c.id == part.id, run_parts.c.round == part.round, run_parts.c.worker == worker,
            run_parts.c.status == RUNNING).values(heartbeat_at=now, expires_at=now + timedelta(seconds=ttl))).rowcount)
        stop = conn.execute(sa.select(run_cancels.c.run_id).where(run_cancels.c.run_id == part.run_id)).first()
    return ours, stop is not None


def take_over(journal: "Journal", part: Part, worker: str, previous: str | None,
              include_in_flight: bool = False) -> tuple[list[str], list[str]]:
    """The hosts of the part to run now, as ``runs resume`` picks them: the unfinished ones, minus those
    in flight under the previous worker (a changing step had started: they may be half-changed), which
    are marked interrupted and named. Returns (to run, in flight)."""
    with journal._write() as conn:
        return _take_over(conn, part, worker, previous, include_in_flight)


def _take_over(conn: sa.Connection, part: Part, worker: str, previous: str | None,
               include_in_flight: bool) -> tuple[list[str], list[str]]:
    now = _now()
    hosts = list(part.hosts)
    rows = conn.execute(sa.select(run_hosts.c.host, run_hosts.c.status, run_hosts.c.changing_at).where(
        run_hosts.c.run_id == part.run_id, run_hosts.c.host.in_(hosts))).all()
    state = {r.host: r for r in rows}
    unfinished = [h for h in hosts if h in state and state[h].status in UNFINISHED]
    in_flight = [h for h in unfinished if state[h].changing_at is not None]
    todo = [h for h in unfinished if include_in_flight or h not in in_flight]
    if in_flight and not include_in_flight:  # the dead worker's (a resumed run's are interrupted already)
        conn.execute(run_hosts.update().where(run_hosts.c.run_id == part.run_id, run_hosts.c.status == PENDING,
                                              run_hosts.c.host.in_(in_flight)).values(
            status=Status.INTERRUPTED.value, ended_at=now,
            reason=(f"in flight on worker {previous or '?'} when it stopped (site {part.site}): a changing step "
                    f"had started, so it may be half-changed; check it, then `runs resume {part.run_id} "
                    "--include-in-flight` runs it again")))
    if todo:
        conn.execute(run_hosts.update().where(run_hosts.c.run_id == part.run_id, run_hosts.c.host.in_(todo))
                     .values(status=PENDING, reason="", changing_at=None, worker=worker))
    if previous is not None:
        conn.execute(notes.insert().values(
            run_id=part.run_id, created_at=now, author=worker, kind="resume",
            text=(f"site {part.site}: worker {worker} took the part over from {previous} (its lease expired): "
                  f"{len(todo)} host(s) to run" + (f"; in flight, not run again: {', '.join(in_flight)}"
                                                   if in_flight and not include_in_flight else ""))))
    return todo, in_flight


def end_part(journal: "Journal", part: Part, worker: str, status: str, reason: str = "") -> bool:
    """The worker ends its part (only while the lease is still its own)."""
    with journal._write() as conn:
        return bool(conn.execute(run_parts.update().where(
            run_parts.c.id == part.id, run_parts.c.round == part.round, run_parts.c.worker == worker,
            run_parts.c.status == RUNNING).values(status=status, reason=reason, ended_at=_now())).rowcount)


def refuse(journal: "Journal", part_id: int, reason: str) -> None:
    """A message the worker will not run: the controller hears it through the part's status."""
    with journal._write() as conn:
        conn.execute(run_parts.update().where(run_parts.c.id == part_id, run_parts.c.status.in_((QUEUED, RUNNING)))
                     .values(status=REFUSED, reason=reason, ended_at=_now()))


def record_unrecorded(journal: "Journal", run_id: str, result: "RunResult") -> None:
    """A part's end: its hosts the runner never reported (not started before a stop) get their result."""
    with journal._read() as conn:
        pending = set(conn.execute(sa.select(run_hosts.c.host).where(
            run_hosts.c.run_id == run_id, run_hosts.c.status == PENDING,
            run_hosts.c.host.in_([h.host for h in result.hosts]))).scalars())
    for host in result.hosts:
        if host.host in pending:
            journal.record_host(run_id, host)
