"""Results as data: what the runner returns, the journal stores, reports render and the CLI prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .secrets import MASK


class Status(str, enum.Enum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"

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


@dataclass(frozen=True)
class StepResult:
    """One step of a task (or the single command of an ad-hoc `exec`) on one host."""

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

    @property
    def changed(self) -> bool:
        return self.status is Status.CHANGED

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "status": self.status.value, "command": MASK(self.command or ""),
                "rc": self.rc, "stdout": MASK(self.stdout), "stderr": MASK(self.stderr),
                "reason": MASK(self.reason), "duration": round(self.duration, 3), "attempts": self.attempts}
        if self.diff:
            data["diff"] = MASK(self.diff)
        if self.ignored:
            data["ignored"] = True
        if self.data:
            data["data"] = self.data
        return data

    @classmethod
    def from_command(cls, name: str, result: CommandResult, *, changed: bool = False) -> "StepResult":
        if result.rc == 0:
            status, reason = (Status.CHANGED if changed else Status.OK), ""
        else:
            status, reason = Status.FAILED, f"exit code {result.rc}"
        return cls(name=name, status=status, command=result.command, rc=result.rc,
                   stdout=result.stdout, stderr=result.stderr, reason=reason, duration=result.duration)


# Worst first: a host's status is the worst of its steps'.
_SEVERITY = [Status.UNREACHABLE, Status.FAILED, Status.INTERRUPTED, Status.CHANGED, Status.OK, Status.SKIPPED]


def worst(statuses: list[Status]) -> Status:
    if not statuses:
        return Status.OK
    return min(statuses, key=_SEVERITY.index)


@dataclass(frozen=True)
class HostResult:
    """Everything that happened on one host in one run."""

    host: str
    status: Status
    steps: tuple[StepResult, ...] = ()
    reason: str = ""
    started: float = 0.0
    ended: float = 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status.value, "reason": MASK(self.reason),
                "duration": round(self.duration, 3), "steps": [s.to_dict() for s in self.steps]}


# Exit codes as Ansible's.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_FAILED = 2
EXIT_UNREACHABLE = 4
EXIT_BAD_INPUT = 5
EXIT_INTERRUPTED = 99


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

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (``--json``), secrets masked."""
        return {
            "summary": {s.value: n for s, n in self.count().items()},
            "exit_code": self.exit_code,
            "interrupted": self.interrupted,
            "aborted_reason": self.aborted_reason,
            "hosts": [h.to_dict() for h in self.hosts],
        }

    @property
    def exit_code(self) -> int:
        counts = self.count()
        if self.interrupted:
            return EXIT_INTERRUPTED
        if counts[Status.UNREACHABLE]:
            return EXIT_UNREACHABLE
        if counts[Status.FAILED] or self.aborted_reason:
            return EXIT_FAILED
        return EXIT_OK
