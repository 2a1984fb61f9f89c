"""Small helpers the system step kinds share: reading ``key=value`` answers of a probe script, naming a
host's complaint in one line, and the outcome of a planned change (check mode or done).

Every system kind works the same way: one read-only probe, a plan (a list of human-readable changes and
the commands that make them), then -- unless in check mode -- the commands. These helpers keep the three
parts looking alike from one kind to the next.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..errors import TaskError
from ..results import CommandResult
from .base import Outcome, StepContext

#: sbin directories are not on a login user's PATH on Debian; the tools the kinds call live there
SBIN_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; export PATH\n'

#: names of users, groups and cron jobs may not hold anything a shell, a colon file or a line would read
ACCOUNT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}[$]?$")


def pairs(text: str) -> dict[str, str]:
    """The ``key=value`` lines of a probe's output (the first ``=`` splits)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def last_line(result: CommandResult | str) -> str:
    text = result if isinstance(result, str) else (result.stderr.strip() or result.stdout.strip())
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ("" if isinstance(result, str) else f"exit code {result.rc}")


def root_hint(ctx: StepContext) -> str:
    return "" if ctx.become else " (this needs root: use become: true)"


def check_name(kind: str, what: str, value: Any, where: str) -> None:
    """A literal account name is checked at load time; a templated one again after rendering."""
    if isinstance(value, str) and "{" in value:
        return
    if not isinstance(value, str) or not ACCOUNT_NAME.match(value):
        raise TaskError(f"{where}: {kind} {what} {value!r} is not a valid name: letters, digits, '_', '.', '-', "
                        "starting with a letter or '_', at most 32 characters")


def planned(ctx: StepContext, changes: list[str], subject: str) -> Outcome:
    """Check mode: what would change, as the message and (for --check/--diff) the diff."""
    return Outcome(changed=True, msg=f"check mode: would {'; '.join(changes)}",
                   diff="".join(f"{subject}: {c}\n" for c in changes))


def applied(ctx: StepContext, changes: list[str], subject: str, results: list[CommandResult]) -> Outcome:
    """The outcome after the commands ran: changed, or failed naming the command that failed."""
    command = "\n".join(r.command for r in results)
    stdout = "".join(r.stdout for r in results)
    stderr = "".join(r.stderr for r in results)
    diff = "".join(f"{subject}: {c}\n" for c in changes) if ctx.diff else ""
    failed = next((r for r in results if r.rc != 0), None)
    if failed is not None:
        return Outcome(failed=True, command=command, rc=failed.rc, stdout=stdout, stderr=stderr, diff=diff,
                       msg=f"{subject}: {_first_word(failed.command)} failed: {last_line(failed)}{root_hint(ctx)}")
    return Outcome(changed=True, command=command, rc=0, stdout=stdout, stderr=stderr, diff=diff,
                   msg="; ".join(changes))


def _first_word(command: str) -> str:
    lines = [line for line in command.splitlines() if line.strip() and not line.startswith("set -e")]
    return f"`{lines[0].split()[0]}`" if len(lines) == 1 else "the change"


def run_all(ctx: StepContext, commands: list[str], *, stdin: str | None = None) -> list[CommandResult]:
    """Run commands in order, stopping after the first that fails."""
    results = []
    for command in commands:
        result = ctx.run(SBIN_PATH + command, stdin=stdin)
        results.append(_strip_path(result))
        if result.rc != 0:
            break
    return results


def _strip_path(result: CommandResult) -> CommandResult:
    # the PATH line is the same for every command: the journal shows the command itself
    return replace(result, command=result.command.replace(SBIN_PATH, "", 1))
