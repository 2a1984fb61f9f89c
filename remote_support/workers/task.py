"""What a site worker does with one message: lease, take over what is unfinished, run, heartbeat, end.

The worker process is a Celery worker with a thread pool (``--concurrency`` parts at once): a part is
I/O-bound and runs its own host threads, and one process keeps the broker's heartbeats going while parts
run. Everything a part does goes through :func:`remote_support.api.prepare`, as a local run does.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import RemoteSupportError
from . import leases
from .messages import MessageRefused, read_message

log = logging.getLogger("remote_support.workers")


@dataclass
class WorkerContext:
    """What the ``remote-support worker`` command configured for this process."""

    site: str
    journal_url: str
    lease_ttl: float = 30.0
    name: str = ""
    inventory: tuple[str, ...] = ()  # overrides the inventory paths of requests (this site's own copy)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"{self.site}.{os.getpid()}@{socket.gethostname()}"


_context: WorkerContext | None = None
_journal = None
_journal_lock = threading.Lock()


def configure(context: WorkerContext) -> None:
    global _context
    _context = context


def _open_journal():
    global _journal
    with _journal_lock:
        if _journal is None:
            from ..journal import Journal

            _journal = Journal.open(_context.journal_url)
        return _journal


def run_part(body: Any) -> dict[str, Any]:
    """The Celery task body. Returns a small summary (ignored: the journal holds the results)."""
    context = _context
    if context is None:
        raise RuntimeError("run_part outside `remote-support worker`")
    journal = _open_journal()
    try:
        message = read_message(body)
    except MessageRefused as exc:
        log.error("refused: %s", exc)
        if "part_id" in exc.body:
            try:
                leases.refuse(journal, int(exc.body["part_id"]), f"worker {context.name}: {exc}")
            except (RemoteSupportError, ValueError, TypeError):
                log.exception("could not note the refusal in the journal")
        from celery.exceptions import Reject

        raise Reject(str(exc), requeue=False) from None
    if message.site != context.site:
        log.error("a part of site %s reached the queue of site %s: dropped", message.site, context.site)
        return {"dropped": "wrong site"}
    ttl = context.lease_ttl
    while True:  # a second delivery waits for a live holder; the holder's end or death decides
        got = leases.claim(journal, message.part_id, message.round, context.name, ttl, take_over=True,
                           include_in_flight=message.include_in_flight)
        if got.outcome == "claimed":
            break
        if got.outcome == "gone":
            log.info("run %s site %s: nothing to do (%s)", message.run_id, message.site, got.reason)
            return {"dropped": got.reason}
        wait = max(0.2, min(ttl / 3, (got.expires_at.timestamp() - time.time()) + 0.2))
        time.sleep(wait)
    part = got.part
    log.info("run %s site %s: lease taken by %s%s", message.run_id, message.site, context.name,
             f" from {got.previous}" if got.previous else "")
    todo, in_flight = list(got.todo), list(got.in_flight)
    if not todo:
        leases.end_part(journal, part, context.name, leases.DONE, "nothing left to run")
        return {"hosts": 0, "in_flight": in_flight}
    request = message.request.replace(hosts=tuple(todo), site=None)
    if context.inventory:
        request = request.replace(inventory=context.inventory)
    from .. import api

    try:
        run = api.prepare(request, journal=journal, part_of=message.run_id)
    except RemoteSupportError as exc:
        reason = f"worker {context.name} could not run the part: {exc}"
        log.error("run %s site %s: %s", message.run_id, message.site, reason)
        leases.end_part(journal, part, context.name, leases.FAILED, reason)
        return {"failed": str(exc)}
    run.start()
    stopped = ""
    beat = max(0.2, ttl / 3)
    while True:
        try:
            if run.wait(beat) is not None or run.done:
                break
        except BaseException:  # noqa: BLE001 - the run's own error: raised again by the wait below
            break
        try:
            ours, cancelled = leases.beat(journal, part, context.name, ttl)
            if not ours:
                stopped = stopped or "lease lost"
            elif cancelled:
                stopped = stopped or "cancelled"
        except RemoteSupportError as exc:  # the journal is away: the lease will expire; stop as if lost
            log.warning("run %s: heartbeat failed: %s", message.run_id, exc)
            stopped = stopped or f"journal unreachable: {exc}"
        if stopped:
            run.stop()
    try:
        run.wait()
    except BaseException as exc:  # noqa: BLE001 - the part's own error; recorded as the part's reason
        leases.end_part(journal, part, context.name, leases.FAILED, f"worker {context.name}: {exc}")
        raise
    leases.end_part(journal, part, context.name, leases.DONE, stopped)
    log.info("run %s site %s: part ended (%d host(s)%s)", message.run_id, message.site, len(todo),
             f", {stopped}" if stopped else "")
    return {"hosts": len(todo), "in_flight": in_flight, "stopped": stopped}


def register(app) -> None:
    from .messages import TASK_NAME

    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)(run_part)
