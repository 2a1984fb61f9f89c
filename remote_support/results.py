"""Results as data: what the runner returns, the journal stores, reports render and the CLI prints.

One family, smallest first: :class:`CommandResult` (one command on one host) -> :class:`Outcome` (what a
step kind did, per loop item) -> :class:`StepResult` (one step on one host) -> :class:`HostResult`
(one host in one run) -> :class:`RunResult` (the runner's answer). The journal stores and gives back
StepResult and HostResult themselves; its RunRecord adds the run's who/what/when around them. Statuses
come from one enum, severity and exit codes from one rule (:func:`worst`, :func:`outcome_of`), and one
JSON shape (``to_dict``) serves ``--json``, ``runs show --json`` and ``report --format json``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from .secrets import MASK


class Status(str, enum.Enum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    PENDING = "pending"  # planned, no result yet (the journal's state of a host in flight)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CommandResult:
    """One command run on one host."""

    command: str
    stdout: str
    stderr: str
    rc: int | None  # None when the command never finished (timeout, lost connection)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Outcome:
    """What a step kind did on one host for one loop item: what ``StepKind.run`` returns.

    The executor turns a step's outcomes (one per loop item) into one :class:`StepResult`.
    """

    changed: bool = False
    failed: bool = False
    skipped: bool = False
    msg: str = ""  # why it failed or was skipped, or a short note ("would install 2 packages")
    command: str | None = None
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    diff: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # kind-specific results, visible to `register`
    variables: dict[str, Any] = field(default_factory=dict)  # host variables for later steps (set_fact)

    @classmethod
    def from_command(cls, result: CommandResult, *, changed: bool = True) -> "Outcome":
        """A command's outcome: failed when it exited non-zero, else ``changed`` (commands change by
        default, as Ansible's; ``exec`` and read-only steps say ``changed=False``)."""
        failed = result.rc != 0
        return cls(changed=changed and not failed, failed=failed, command=result.command, rc=result.rc,
                   stdout=result.stdout, stderr=result.stderr,
                   msg=f"exit code {result.rc}" if failed else "")

    @property
    def status(self) -> Status:
        if self.failed:
            return Status.FAILED
        if self.skipped:
            return Status.SKIPPED
        return Status.CHANGED if self.changed else Status.OK

    def registered(self) -> dict[str, Any]:
        """What ``register: name`` stores, as Ansible's registered results look."""
        return {
            "changed": self.changed, "failed": self.failed, "skipped": self.skipped, "msg": self.msg,
            "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr,
            "stdout_lines": self.stdout.splitlines(), "stderr_lines": self.stderr.splitlines(),
            "diff": self.diff, **self.data,
        }


@dataclass(frozen=True)
class StepResult:
    """One step of a task (or the single command of an ad-hoc `exec`) on one host: what the runner
    returns, the journal stores and gives back (then with ``number``, ``id`` and ``truncated``), the
    reports render and the terminal prints."""

    name: str
    status: Status
    command: str | None = None
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    reason: str = ""  # one line, set when failed/skipped
    diff: str = ""
    duration: float = 0.0
    attempts: int = 1
    data: dict[str, Any] = field(default_factory=dict)
    ignored: bool = False  # failed, but the step said ignore_errors: the host goes on and is not failed
    number: int = 0  # 1-based position in the host's steps (from the journal)
    truncated: tuple[str, ...] = ()  # streams whose full text is in the journal's blobs
    id: int = 0  # the journal's row id

    @property
    def changed(self) -> bool:
        return self.status is Status.CHANGED

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number or None, "name": self.name, "status": self.status.value,
                "command": MASK(self.command) if self.command else self.command, "rc": self.rc,
                "stdout": MASK(self.stdout), "stderr": MASK(self.stderr), "reason": MASK(self.reason),
                "diff": MASK(self.diff), "changed": self.changed, "duration": round(self.duration, 3),
                "attempts": self.attempts, "ignored": self.ignored, "data": self.data,
                "truncated": list(self.truncated)}


# Worst first: a host's status is the worst of its steps', a run's the worst of its hosts'.
_SEVERITY = [Status.PENDING, Status.UNREACHABLE, Status.FAILED, Status.INTERRUPTED, Status.CHANGED, Status.OK,
             Status.SKIPPED]


def worst(statuses: Iterable[Status | str]) -> Status:
    """The worst of ``statuses`` (OK when there are none)."""
    found = {Status(s) for s in statuses}
    return min(found, key=_SEVERITY.index) if found else Status.OK


@dataclass(frozen=True)
class HostResult:
    """Everything that happened on one host in one run (``pending`` in the journal until it finishes)."""

    host: str
    status: Status
    steps: tuple[StepResult, ...] = ()
    reason: str = ""
    started: float = 0.0  # epoch seconds
    ended: float = 0.0
    facts: dict[str, Any] | None = None  # the facts snapshot (from the journal)
    position: int = 0  # inventory order (from the journal)
    id: int = 0  # the journal's row id

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    @property
    def started_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.started, timezone.utc) if self.started else None

    @property
    def ended_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.ended, timezone.utc) if self.ended else None

    def to_dict(self) -> dict[str, Any]:
        started, ended = self.started_at, self.ended_at
        return {"host": self.host, "status": self.status.value, "reason": MASK(self.reason),
                "started_at": started.isoformat() if started else None,
                "ended_at": ended.isoformat() if ended else None,
                "duration": round(self.duration, 3) if self.ended else None, "facts": self.facts,
                "steps": [s.to_dict() for s in self.steps]}


#: version of the run document's shape (README, "JSON"): raised when a field changes meaning or goes
JSON_FORMAT_VERSION = 1


def summary(counts: "dict[Status, int] | dict[str, int]") -> dict[str, int]:
    """Hosts by status for the run document: every status present, zeros included."""
    found = {str(k): v for k, v in counts.items()}
    return {s.value: int(found.get(s.value, 0)) for s in Status}


# Exit codes as Ansible's.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_FAILED = 2
EXIT_UNREACHABLE = 4
EXIT_BAD_INPUT = 5
EXIT_INTERRUPTED = 99


def outcome_of(statuses: Iterable[Status | str], *, interrupted: bool = False,
               aborted: bool = False) -> tuple[Status, int]:
    """A run's status and exit code from its hosts' statuses: the one rule, for live and recorded runs."""
    found = {Status(s) for s in statuses}
    if interrupted or Status.INTERRUPTED in found or Status.PENDING in found:
        return Status.INTERRUPTED, EXIT_INTERRUPTED
    if Status.UNREACHABLE in found:
        return Status.UNREACHABLE, EXIT_UNREACHABLE
    if Status.FAILED in found or aborted:
        return Status.FAILED, EXIT_FAILED
    return (Status.CHANGED if Status.CHANGED in found else Status.OK), EXIT_OK


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run over many hosts, in inventory order."""

    hosts: tuple[HostResult, ...]
    interrupted: bool = False
    aborted_reason: str = ""  # set when --max-fail-percentage stopped the run

    def count(self) -> dict[Status, int]:
        counts = {s: 0 for s in Status}
        for h in self.hosts:
            counts[h.status] += 1
        return counts

    @property
    def status(self) -> Status:
        return outcome_of((h.status for h in self.hosts), interrupted=self.interrupted,
                          aborted=bool(self.aborted_reason))[0]

    @property
    def exit_code(self) -> int:
        return outcome_of((h.status for h in self.hosts), interrupted=self.interrupted,
                          aborted=bool(self.aborted_reason))[1]

    def to_dict(self) -> dict[str, Any]:
        """The part of the run document (see ``RunRecord.to_dict``) the runner knows, secrets masked."""
        return {"status": self.status.value, "exit_code": self.exit_code, "interrupted": self.interrupted,
                "aborted_reason": self.aborted_reason, "summary": summary(self.count()),
                "hosts": [h.to_dict() for h in self.hosts]}
