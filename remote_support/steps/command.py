"""``command``: run a command line on the host (through its login shell, as ssh does; through cmd.exe on
a Windows host over WinRM)."""

from __future__ import annotations

from typing import Any

from ..connections.shells import POWERSHELL, QuotingError, in_dir, posix_quote
from .base import Arg, Outcome, StepContext, StepKind


def path_exists(ctx: StepContext, path: str) -> bool:
    """Whether ``path`` exists on the host: test -e in a POSIX shell, Test-Path where PowerShell runs."""
    if POWERSHELL in ctx.connection.shells:
        from .powershell import path_exists as ps_exists

        return ps_exists(ctx, path)
    return ctx.run(f"test -e {posix_quote(path)}", become=ctx.become).rc == 0


class Command(StepKind):
    name = "command"
    description = "Run a command; interpolated values are shell-quoted unless marked | raw."
    free_form = "cmd"
    shell_args = frozenset({"cmd"})
    args = {
        "cmd": Arg("str", required=True, help="the command line"),
        "chdir": Arg("str", help="change to this directory first"),
        "creates": Arg("str", help="skip when this path exists (the command already did its work)"),
        "removes": Arg("str", help="skip unless this path exists"),
        "stdin": Arg("str", help="text given to the command on stdin"),
    }

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        command = args["cmd"]
        shell = ctx.connection.shell
        for key, wanted in (("creates", False), ("removes", True)):
            if args.get(key):
                exists = path_exists(ctx, args[key])
                if exists != wanted:
                    return Outcome(skipped=True, command=command,
                                   msg=f"{args[key]} {'exists' if exists else 'does not exist'}")
        if args.get("chdir"):
            if '"' in args["chdir"]:
                return Outcome(failed=True, command=command, msg=f"chdir {args['chdir']!r} contains a double quote")
            try:
                command = in_dir(shell, args["chdir"], command)
            except (QuotingError, ValueError) as exc:
                return Outcome(failed=True, command=command, msg=f"chdir: {exc}")
        if ctx.check:
            return Outcome(skipped=True, command=command, msg="check mode: would run the command")
        return Outcome.from_command(ctx.run(command, stdin=args.get("stdin")))
