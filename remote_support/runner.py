"""The parallel runner: many hosts, bounded forks, batches, a failure budget and a clean Ctrl-C."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import os
import re
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from .connections import connect
from .connections.base import Connection, ConnectOptions
from .errors import ConnectError, RemoteSupportError, UsageError
from .inventory import Host
from .results import EXIT_INTERRUPTED, HostResult, RunResult, Status, StepResult, worst

log = logging.getLogger(__name__)


def _exit_at_next_interrupt() -> None:
    """After the first Ctrl-C (or SIGTERM) the run stops cleanly, which may take a few seconds (commands are
    signalled, shells deleted); a second one ends the process at once, without a traceback. An interrupted
    run is the end of the process, so the handlers stay."""
    if threading.current_thread() is not threading.main_thread():
        return

    def now(signum, frame):
        os.write(2, b"\ninterrupted again: exiting now, clean-up on the hosts abandoned\n")
        os._exit(EXIT_INTERRUPTED)

    signal.signal(signal.SIGINT, now)
    signal.signal(signal.SIGTERM, now)

#: What a run does on one host: given the open connection, return the step results.
Work = Callable[[Connection], Sequence[StepResult]]


class RunEvents(Protocol):
    """What the runner tells the outside world as it goes (live output, the journal)."""

    def host_started(self, host: Host) -> None: ...

    def host_finished(self, result: HostResult) -> None: ...


class Events:
    """Several RunEvents listeners as one (live output and the journal)."""

    def __init__(self, *listeners: RunEvents):
        self.listeners = [listener for listener in listeners if listener is not None]

    def host_started(self, host: Host) -> None:
        for listener in self.listeners:
            listener.host_started(host)

    def host_finished(self, result: HostResult) -> None:
        for listener in self.listeners:
            listener.host_finished(result)


class _NoEvents:
    def host_started(self, host: Host) -> None:
        pass

    def host_finished(self, result: HostResult) -> None:
        pass


def parse_serial(spec: str | None) -> list[str]:
    """Check ``--serial`` (``5``, ``25%`` or a list ``1,5,25%``) and return its parts."""
    if not spec:
        return []
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    for part in parts:
        if not re.fullmatch(r"\d+(\.\d+)?%|\d+", part) or float(part.rstrip("%")) <= 0:
            raise UsageError(f"--serial {spec!r}: each batch size must be a positive number or percentage, "
                             "e.g. 10, 25% or 1,5,25%")
    return parts


def batches(hosts: Sequence[Host], serial: Sequence[str]) -> list[list[Host]]:
    """Split hosts into batches as Ansible's ``serial``: the last size repeats until all are placed."""
    if not serial:
        return [list(hosts)] if hosts else []
    out: list[list[Host]] = []
    index = 0
    step = 0
    while index < len(hosts):
        part = serial[min(step, len(serial) - 1)]
        size = (max(1, int(len(hosts) * float(part[:-1]) / 100)) if part.endswith("%") else int(part))
        out.append(list(hosts[index:index + size]))
        index += size
        step += 1
    return out


@dataclass
class _Slot:
    host: Host
    connection: Connection | None = None
    started: float = 0.0


class _StopRequested(Exception):
    """Runner.stop() was called: the run ends as an interrupted one."""


class Runner:
    """Runs one piece of work on many hosts, each on its own connection, at most ``forks`` at once.

    A host's error never stops the others. With ``max_fail_percentage`` (of a batch, as Ansible) the
    hosts not yet started are skipped once too many in the batch have failed; a batch in which every
    host failed stops the run too.
    """

    def __init__(self, options: ConnectOptions, *, forks: int = 20, serial: Sequence[str] = (),
                 max_fail_percentage: float | None = None, events: RunEvents | None = None,
                 debug: bool = False):
        if forks < 1:
            raise UsageError(f"--forks {forks}: must be 1 or more")
        if max_fail_percentage is not None and not 0 <= max_fail_percentage <= 100:
            raise UsageError(f"--max-fail-percentage {max_fail_percentage}: must be between 0 and 100")
        self.options = options
        self.forks = forks
        self.serial = list(serial)
        self.max_fail_percentage = max_fail_percentage
        self.events = events or _NoEvents()
        self.debug = debug
        self._stop = threading.Event()  # set once the run is being stopped: start nothing new
        self._stop_requested = threading.Event()  # stop() from another thread (a web cancel, a worker)
        self._slots: dict[str, _Slot] = {}
        self._results: dict[str, HostResult] = {}
        self._budget: int | None = None  # failures allowed in the current batch
        self._failed = 0
        self._batch_size = 0
        self._aborted = ""
        self._lock = threading.Lock()

    def run(self, hosts: Sequence[Host], work: Work) -> RunResult:
        results = self._results = {}
        aborted = ""
        interrupted = False
        pool = cf.ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(hosts))), thread_name_prefix="host")
        try:
            for batch in batches(hosts, self.serial):
                interrupted = interrupted or self._stop_requested.is_set()
                if aborted or interrupted:
                    for host in batch:
                        results[host.name] = self._not_run(host, aborted or "interrupted", interrupted)
                    continue
                try:
                    aborted = self._run_batch(pool, batch, work)
                except (KeyboardInterrupt, _StopRequested):
                    interrupted = True
                    _exit_at_next_interrupt()
                    self._interrupt(batch)
        finally:
            # after Ctrl-C, a thread still stuck in a TCP connect must not hold the process
            pool.shutdown(wait=not interrupted, cancel_futures=True)
        ordered = tuple(results[h.name] for h in hosts)
        return RunResult(hosts=ordered, interrupted=interrupted, aborted_reason=aborted)

    # -- one batch

    def _run_batch(self, pool: cf.ThreadPoolExecutor, batch: list[Host], work: Work) -> str:
        self._budget = (math.floor(len(batch) * self.max_fail_percentage / 100)
                        if self.max_fail_percentage is not None else None)
        self._failed = 0
        self._aborted = ""
        self._batch_size = len(batch)
        left = [len(batch)]
        all_done = threading.Event()

        def done(_future: cf.Future) -> None:
            with self._lock:
                left[0] -= 1
                if not left[0]:
                    all_done.set()

        if not batch:
            all_done.set()
        for host in batch:
            pool.submit(self._run_host, host, work).add_done_callback(done)
        # A short wait keeps the main thread responsive to Ctrl-C and to stop(); one event, rather than
        # cf.wait() installing a waiter on every pending future five times a second.
        while not all_done.wait(0.2):
            if self._stop_requested.is_set():
                raise _StopRequested
        if not self._aborted and batch and self._failed == len(batch) and self.serial:
            return f"every host of a batch of {len(batch)} failed: stopping before the next batch"
        return self._aborted

    def _run_host(self, host: Host, work: Work) -> HostResult:
        # Workers decide whether to start a host, so no host starts once the budget is spent.
        with self._lock:
            if self._stop.is_set() or self._aborted:
                result = self._results[host.name] = self._not_run(host, self._aborted or "interrupted",
                                                                  self._stop.is_set())
                return result
            slot = self._slots[host.name] = _Slot(host, started=time.time())
        self.events.host_started(host)
        try:
            result = self._attempt(slot, work)
        finally:
            with self._lock:
                self._slots.pop(host.name, None)
        if self._stop.is_set() and result.status in (Status.UNREACHABLE, Status.FAILED):
            # the failure is our own doing: Ctrl-C closed the connection under the host
            result = HostResult(host.name, Status.INTERRUPTED, result.steps, "interrupted while running",
                                result.started, result.ended)
        with self._lock:
            self._results[host.name] = result
            if result.status in (Status.FAILED, Status.UNREACHABLE):
                self._failed += 1
                if self._budget is not None and self._failed > self._budget and not self._aborted:
                    self._aborted = (f"max fail percentage exceeded: {self._failed} of {self._batch_size} "
                                     f"hosts failed (limit {self.max_fail_percentage:g}%)")
        self.events.host_finished(result)
        return result

    def _attempt(self, slot: _Slot, work: Work) -> HostResult:
        host = slot.host
        steps: Sequence[StepResult] = ()
        try:
            slot.connection = connection = connect(host, self.options)
            connection.open()
            try:
                steps = tuple(work(connection))
            finally:
                connection.close()
        except ConnectError as exc:
            status = Status.UNREACHABLE if exc.unreachable else Status.FAILED
            reason = exc.reason + (f" ({exc.hint})" if exc.hint else "")
            return HostResult(host.name, status, tuple(steps), reason, slot.started, time.time())
        except RemoteSupportError as exc:
            return HostResult(host.name, Status.FAILED, tuple(steps), str(exc), slot.started, time.time())
        except Exception as exc:  # one host's bug must not take the others down; it is recorded
            log.debug("host %s failed with an internal error", host.name, exc_info=True)
            reason = f"internal error: {type(exc).__name__}: {exc}"
            if self.debug:
                reason += "\n" + traceback.format_exc()
            return HostResult(host.name, Status.FAILED, tuple(steps), reason, slot.started, time.time())
        status = worst([Status.OK if s.ignored else s.status for s in steps]) if steps else Status.OK
        reason = next((s.reason or f"step {s.name!r} failed" for s in steps
                       if s.status in (Status.FAILED, Status.UNREACHABLE) and not s.ignored), "")
        if not reason and status is Status.SKIPPED:
            reason = steps[0].reason
        return HostResult(host.name, status, steps, reason, slot.started, time.time())

    # -- stopping

    def stop(self) -> None:
        """Stop the run from any thread, as Ctrl-C does: nothing new starts, running hosts are cut."""
        self._stop_requested.set()

    def _interrupt(self, batch: list[Host]) -> None:
        """Ctrl-C: start nothing new, cut running hosts' connections, report them as interrupted."""
        self._stop.set()
        with self._lock:
            running = list(self._slots.values())
        for slot in running:
            if slot.connection is not None:
                try:
                    slot.connection.close()
                except Exception:  # closing under a busy thread may race; the host is reported anyway
                    log.debug("closing %s on interrupt failed", slot.host.name, exc_info=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._lock:
                if not self._slots:
                    break
            time.sleep(0.05)
        with self._lock:
            for host in batch:
                if host.name not in self._results:
                    self._results[host.name] = self._not_run(host, "interrupted", True)

    @staticmethod
    def _not_run(host: Host, reason: str, interrupted: bool) -> HostResult:
        now = time.time()
        status = Status.INTERRUPTED if interrupted else Status.SKIPPED
        return HostResult(host.name, status, (), f"not run: {reason}" if not interrupted else reason, now, now)
