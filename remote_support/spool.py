"""Results that could not be written to the journal (a full disk, PostgreSQL gone), kept until they can.

While a run goes on, a host the journal refuses is appended to ``<data dir>/journal-spool/RUN.jsonl``
(0600, one JSON line per host, and a last line when the run ends); the next command that opens that
journal merges the file in and deletes it. The data directory is used on purpose: it is not where a
full journal file lives when the journal has its own place (``--journal``, a tmpfs, a server).

A writer holds an exclusive lock on the file while it appends; the merger takes the same lock, and a
writer that finds its file unlinked under it (merged meanwhile) starts a new one, so no line is lost.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from .connections.base import data_dir
from .results import HostResult, RunResult, Status, StepResult

if TYPE_CHECKING:
    from .journal import Journal


def spool_dir() -> Path:
    return data_dir() / "journal-spool"


def spool_path(run_id: str) -> Path:
    return spool_dir() / f"{run_id}.jsonl"


def append(journal_where: str, run_id: str, entry: dict[str, Any]) -> Path:
    """Append one entry for ``run_id``; returns the spool file."""
    path = spool_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = (json.dumps({"journal": journal_where, "run_id": run_id, **entry}, ensure_ascii=False, default=str)
            + "\n").encode("utf-8")
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:  # merged and unlinked while we waited: write a new file
                continue
            os.write(fd, line)
            os.fsync(fd)
            return path
        finally:
            os.close(fd)


def host_entry(result: HostResult, facts: dict[str, Any] | None) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    return {"host": data, "facts": facts}


def finish_entry(result: RunResult) -> dict[str, Any]:
    return {"finish": {"interrupted": result.interrupted, "aborted_reason": result.aborted_reason}}


def _host_result(data: dict[str, Any]) -> HostResult:
    steps = tuple(StepResult(**{**s, "status": Status(s["status"]), "truncated": tuple(s.get("truncated", ()))})
                  for s in data.get("steps", ()))
    return HostResult(**{**data, "status": Status(data["status"]), "steps": steps})


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue  # a line cut by a crash mid-write: the host stays pending, and resume finds it


def merge(journal: "Journal") -> list[str]:
    """Write every spooled result meant for ``journal`` into it; returns the runs merged."""
    directory = spool_dir()
    if not directory.is_dir():
        return []
    merged = []
    for path in sorted(directory.glob("*.jsonl")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                continue
            entries = list(_entries(path))
            if not entries or entries[0].get("journal") != journal.where:
                continue
            run_id = entries[0]["run_id"]
            finish = None
            for entry in entries:
                if "host" in entry:
                    journal.record_host(run_id, _host_result(entry["host"]), facts=entry.get("facts"))
                elif "finish" in entry:
                    finish = entry["finish"]
            if finish is not None:
                journal.finish_run(run_id, RunResult(hosts=(), interrupted=finish["interrupted"],
                                                     aborted_reason=finish["aborted_reason"]))
            os.unlink(path)
            merged.append(run_id)
        finally:
            os.close(fd)
    return merged
