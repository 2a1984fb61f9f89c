"""``command``: run a command line on the host (through its login shell, as ssh does; through cmd.exe on
a Windows host over WinRM)."""

from __future__ import annotations

import shlex
from typing import Any

from .base import Arg, Outcome, StepContext, StepKind


class _Posix:
    """How a POSIX shell tests a path and changes directory."""

    @staticmethod
    def exists(ctx: StepContext, path: str) -> bool:
        return ctx.run(f"test -e {shlex.quote(path)}", become=ctx.become).rc == 0

    @staticmethod
    def in_dir(directory: str, command: str) -> str:
        return f"cd {shlex.quote(directory)} && {command}"


class _Windows:
    """The same for cmd.exe over WinRM (the path test goes through PowerShell's Test-Path)."""

    @staticmethod
    def exists(ctx: StepContext, path: str) -> bool:
        from .powershell import path_exists

        return path_exists(ctx, path)

    @staticmethod
    def in_dir(directory: str, command: str) -> str:
        return f'cd /d "{directory}" && {command}'


#: connection type -> how commands are wrapped; anything else is a POSIX shell
PLATFORMS = {"winrm": _Windows}


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
        platform = PLATFORMS.get(ctx.connection.host.connection, _Posix)
        for key, wanted in (("creates", False), ("removes", True)):
            if args.get(key):
                exists = platform.exists(ctx, args[key])
                if exists != wanted:
                    return Outcome(skipped=True, command=command,
                                   msg=f"{args[key]} {'exists' if exists else 'does not exist'}")
        if args.get("chdir"):
            if '"' in args["chdir"]:
                return Outcome(failed=True, command=command, msg=f"chdir {args['chdir']!r} contains a double quote")
            command = platform.in_dir(args["chdir"], command)
        if ctx.check:
            return Outcome(skipped=True, command=command, msg="check mode: would run the command")
        return Outcome.from_command(ctx.run(command, stdin=args.get("stdin")))
