"""``command``: run a command line on the host (through its login shell, as ssh does)."""

from __future__ import annotations

import shlex
from typing import Any

from .base import Arg, Outcome, StepContext, StepKind


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
        for key, wanted in (("creates", False), ("removes", True)):
            if args.get(key):
                exists = ctx.run(f"test -e {shlex.quote(args[key])}", become=ctx.become).rc == 0
                if exists != wanted:
                    return Outcome(skipped=True, command=command,
                                   msg=f"{args[key]} {'exists' if exists else 'does not exist'}")
        if args.get("chdir"):
            command = f"cd {shlex.quote(args['chdir'])} && {command}"
        if ctx.check:
            return Outcome(skipped=True, command=command, msg="check mode: would run the command")
        return Outcome.from_command(ctx.run(command, stdin=args.get("stdin")))
