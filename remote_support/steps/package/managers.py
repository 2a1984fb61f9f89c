"""What every package manager class is: command lines built, outputs parsed, no host touched."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from typing import ClassVar

from ...connections.shells import POWERSHELL
from ...results import CommandResult
from ..base import StepContext

UNKNOWN_VERSION = ""

#: package names the step accepts: what every manager calls a package name, and nothing a shell or an
#: option parser would read otherwise (no leading "-", no spaces, no globs, no "=version")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+:~-]*$")

_SBIN_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; '


def _quote(names: Iterable[str]) -> str:
    return " ".join(shlex.quote(n) for n in names)


class QueryError(Exception):
    """A query command failed in a way its parser cannot read as an answer."""

    def __init__(self, message: str, result: CommandResult):
        super().__init__(message)
        self.result = result


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:])


class Manager:
    """How one package manager is asked and told; every method only builds or parses text."""

    name: ClassVar[str] = ""
    #: where the manager looks for packages, for "package X not found in <sources>"
    sources: ClassVar[str] = ""
    #: what to check when a package is not found
    not_found_advice: ClassVar[str] = ""
    #: its commands are PowerShell scripts for a Windows host (sent to its PowerShell)
    windows: ClassVar[bool] = False

    def execute(self, ctx: StepContext, command: str) -> CommandResult:
        """Run one of this manager's commands on the host."""
        if self.windows:
            return ctx.connection.run_in(POWERSHELL, command, timeout=ctx.timeout)
        return ctx.run(command)

    def query(self, names: list[str]) -> str:
        """A read-only command listing the installed version of each of ``names``."""
        raise NotImplementedError

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        """name -> installed version, None when not installed; raises QueryError when the query failed."""
        raise NotImplementedError

    def available(self, names: list[str]) -> str:
        """A read-only command telling the version the manager would install or upgrade each name to."""
        raise NotImplementedError

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        """name -> the version the sources offer (UNKNOWN_VERSION if not told), None when unknown to them."""
        raise NotImplementedError

    def update_cache(self) -> str:
        raise NotImplementedError

    def install(self, names: list[str]) -> str:
        raise NotImplementedError

    def upgrade(self, names: list[str]) -> str:
        raise NotImplementedError

    def remove(self, names: list[str]) -> str:
        raise NotImplementedError

    def not_found(self, output: str) -> list[str]:
        """Names a failed install says the manager does not know."""
        return []
