"""The controller's side of a distributed run: send the parts, run the local hosts, follow the journal.

Progress of the remote parts reaches the terminal by polling the journal's host rows (never through the
broker), so a broker restart does not blind the controller. Ctrl-C sets the run's cancel flag in the
journal; the workers stop their parts at their next heartbeat, as a local run stops.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..api import Run
from ..results import HostResult, RunResult, Status
from . import leases
from .app import make_app, send_part
from .config import redacted
from .messages import part_message
from .routing import Plan, queue_of

#: seconds between two looks at the journal
POLL_INTERVAL = 0.5
#: a part nobody took for this long is reported as waiting (then it times out at site_timeout)
WAITING_AFTER = 3.0


class DistributedRun(Run):
    """A run split by site (see :mod:`remote_support.workers`); the same handle as a local :class:`Run`."""

    plan: Plan

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._stop_requested = threading.Event()  # stop() from another thread: as Ctrl-C here

    def execute(self) -> RunResult:
        try:
            result = self._execute()
            self.result = result
            self._recorder.finish(result)
            if self._resumed:
                self._recorded_exit = self.journal.get_run(self.id, host=None).exit_code
            return result
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._done.set()

    def stop(self) -> None:
        self._stop_requested.set()
        super().stop()

    def _execute(self) -> RunResult:
        plan = self.plan
        settings = plan.settings
        broker = redacted(settings.broker or "")
        names = [h.name for h in self.hosts]
        local_hosts = [h for h in self.hosts if plan.site_of(h.name) is None]
        remote = {s: list(n) for s, n in plan.sites.items()}
        parts = leases.open_parts(self.journal, self.id, remote)
        app = make_app(settings.broker)
        try:
            for site, part in parts.items():
                send_part(app, site, part_message(run_id=self.id, part_id=part.id, round=part.round, site=site,
                                                  hosts=part.hosts, request=self.request))
        finally:
            app.close()
        local_result: list[RunResult] = []
        local_thread = None
        if local_hosts:
            def run_local() -> None:
                local_result.append(self._runner.run(local_hosts, self._work))

            local_thread = threading.Thread(target=run_local, name=f"run-{self.id}-local", daemon=True)
            local_thread.start()
        remote_names = {n for ns in remote.values() for n in ns}
        seen: set[str] = set()
        warned: dict[tuple[str, int, str], bool] = {}
        interrupted = False
        give_up_at: float | None = None
        while True:
            try:
                if self._stop_requested.wait(POLL_INTERVAL) and not interrupted:
                    raise KeyboardInterrupt
                self._progress(remote_names, seen)
                current = leases.parts(self.journal, self.id)
                ended = all(self._watch(p, warned, broker, settings.site_timeout) for p in current
                            if p.site in remote)
                if ended and (local_thread is None or not local_thread.is_alive()):
                    break
                if give_up_at is not None and time.monotonic() > give_up_at:
                    break
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                leases.request_cancel(self.journal, self.id, self.request.operator)
                self._runner.stop()
                self._warn(f"stopping: the site workers stop their parts at their next heartbeat (within "
                           f"{settings.lease_ttl / 3:.0f} s); Ctrl-C again leaves them to finish")
                give_up_at = time.monotonic() + settings.lease_ttl * 2 + 5
        if local_thread is not None:
            local_thread.join()
        self._progress(remote_names, seen)
        record = self.journal.get_run(self.id)
        recorded = {h.host: h for h in record.hosts}
        local = {h.host: h for r in local_result for h in r.hosts}
        hosts = []
        for name in names:
            host = local.get(name) or recorded.get(name)
            if host is None or host.status.value == "pending" or (name in remote_names and name not in seen):
                host = HostResult(name, Status.INTERRUPTED, (), "interrupted: its site's part did not report an "
                                  "end before the run stopped", time.time(), time.time())
            hosts.append(host)
        aborted = next((r.aborted_reason for r in local_result if r.aborted_reason), "")
        interrupted = interrupted or any(r.interrupted for r in local_result)
        return RunResult(hosts=tuple(hosts), interrupted=interrupted, aborted_reason=aborted)

    def _progress(self, remote_names: set[str], seen: set[str]) -> None:
        """Tell the listeners of remote hosts that finished since the last look (the journal's rows)."""
        if len(seen) == len(remote_names):
            return
        for result in leases.finished_hosts(self.journal, self.id, remote_names - seen):
            seen.add(result.host)
            for listener in self._listeners:
                listener.host_finished(result)

    def _watch(self, part: leases.Part, warned: dict, broker: str, timeout: float) -> bool:
        """Report waiting and lost workers, time out parts nobody takes; True once the part has ended."""
        now = datetime.now(timezone.utc)
        key = (part.site, part.round)
        if part.ended:
            if part.status != leases.DONE:
                status = Status.FAILED if part.status == leases.FAILED else Status.UNREACHABLE
                leases.settle_hosts(self.journal, self.id, part.hosts, status, part.reason,
                                    in_flight_reason=part.reason)
                if not warned.get(key + ("ended",)):
                    warned[key + ("ended",)] = True
                    self._warn(part.reason if part.reason.startswith("site ") else f"site {part.site}: {part.reason}")
            else:  # done, but a host the worker never recorded (a stop before it started)
                leases.settle_hosts(self.journal, self.id, part.hosts, Status.INTERRUPTED,
                                    f"interrupted: site {part.site}'s part ended before this host started")
            return True
        start = part.expires_at if part.expired(now) else (part.sent_at if part.status == leases.QUEUED else None)
        if start is None:
            return False
        if part.status == leases.QUEUED and not warned.get(key + ("waiting",)) \
                and now - part.sent_at > timedelta(seconds=WAITING_AFTER):
            warned[key + ("waiting",)] = True
            self._warn(f"site {part.site}: waiting for a worker: no worker has taken the part from queue "
                       f"{queue_of(part.site)} on {broker} yet (start `remote-support worker --site {part.site}` "
                       f"there); giving up after {timeout:g} s")
        if part.expired(now) and not warned.get(key + ("expired", part.worker)):
            warned[key + ("expired", part.worker)] = True
            self._warn(f"site {part.site}: worker {part.worker} stopped renewing its lease (expired "
                       f"{part.expires_at:%H:%M:%S} UTC): waiting for the part to be delivered again")
        if now - start > timedelta(seconds=timeout):
            if part.status == leases.QUEUED:
                reason = (f"site {part.site}: no worker took the part within {timeout:g} s (queue "
                          f"{queue_of(part.site)} on {broker}): start `remote-support worker --site {part.site}` "
                          f"there, then `remote-support runs retry {self.id}`")
            else:
                reason = (f"site {part.site}: worker {part.worker} stopped and no worker took its part over "
                          f"within {timeout:g} s: `remote-support runs resume {self.id}` sends it again")
            leases.end_unclaimed(self.journal, part, leases.TIMED_OUT, reason)
        return False
