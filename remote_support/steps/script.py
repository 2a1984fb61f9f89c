"""``script``: render a script template, run it on the host with its interpreter, and remove it again."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Mapping

from ..connections.shells import POSIX
from ..connections.shells import posix_quote as _q
from ..errors import ConnectError
from .base import Arg, Outcome, StepContext, StepKind

#: interpreter by file name extension, when the script has no #! line
INTERPRETERS = {".sh": "/bin/sh", ".bash": "bash", ".py": "python3"}


def interpreter_of(src: str, text: str) -> str | None:
    """The #! line of the script (``/usr/bin/env bash``), else the one its extension implies, else None."""
    first = text.split("\n", 1)[0]
    if first.startswith("#!") and first[2:].strip():
        return first[2:].strip()
    name = PurePosixPath(src)
    suffix = name.suffix if name.suffix not in (".j2", ".jinja", ".jinja2") else PurePosixPath(name.stem).suffix
    return INTERPRETERS.get(suffix)


class Script(StepKind):
    name = "script"
    description = "Render a script template, upload it to a private temp file, run it, then remove it."
    shell_args = frozenset({"args"})
    args = {
        "src": Arg("str", required=True, help="script template, looked up in templates/ beside the task"),
        "args": Arg("str", help="arguments given to the script (interpolated values are shell-quoted)"),
        "interpreter": Arg("str", help="what runs it, e.g. python3 -u; default: its #! line, else by "
                                       f"extension ({', '.join(f'{k} {v}' for k, v in INTERPRETERS.items())})"),
        "chdir": Arg("str", help="run it in this directory"),
        "creates": Arg("str", help="skip when this path exists (the script already did its work)"),
        "removes": Arg("str", help="skip unless this path exists"),
    }

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        return [args["src"]]

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        src = args["src"]
        text = ctx.templar.render_file(src, ctx.vars)
        if ctx.connection.shell != POSIX:
            # Windows hosts: a .ps1 script runs through PowerShell (long ones are sent via stdin)
            from .powershell import run_powershell, runs_powershell

            if not runs_powershell(ctx):
                return Outcome(failed=True, msg=f"script needs a POSIX shell or PowerShell; {ctx.host.name} runs "
                                                f"{ctx.connection.shell} commands")

            if not src.removesuffix(".j2").lower().endswith(".ps1"):
                return Outcome(failed=True, msg=f"on a WinRM host a script must be a .ps1 template, not {src}")
            return run_powershell(ctx, text, shown=f"powershell {src}", chdir=args.get("chdir"),
                                  creates=args.get("creates"), removes=args.get("removes"))
        interpreter = args.get("interpreter") or interpreter_of(src, text)
        if not interpreter:
            return Outcome(failed=True, msg=f"cannot tell how to run {src}: give it a #! line, a .sh/.bash/.py "
                                            "name, or the interpreter argument")
        shown = f"{interpreter} {src}" + (f" {args['args']}" if args.get("args") else "")
        for key, wanted in (("creates", False), ("removes", True)):
            if args.get(key):
                exists = ctx.run(f"test -e {_q(args[key])}").rc == 0
                if exists != wanted:
                    return Outcome(skipped=True, command=shown,
                                   msg=f"{args[key]} {'exists' if exists else 'does not exist'}")
        if ctx.check:
            return Outcome(skipped=True, command=shown, msg=f"check mode: would run script {src}")

        # Written by the user the script runs as (the step's become), private to it: mktemp makes it 0600.
        upload = ctx.run('t=$(mktemp "${TMPDIR:-/tmp}/rs-script.XXXXXXXX") && cat > "$t" && printf %s "$t"',
                         stdin=text.encode("utf-8"))
        path = upload.stdout.strip()
        if upload.rc != 0 or not path.startswith("/"):
            return Outcome(failed=True, rc=upload.rc, stderr=upload.stderr,
                           msg=f"cannot upload {src} to a temp file on the host: "
                               f"{upload.stderr.strip() or f'exit code {upload.rc}'}")
        command = f"{interpreter} {_q(path)}" + (f" {args['args']}" if args.get("args") else "")
        if args.get("chdir"):
            command = f"cd {_q(args['chdir'])} && {command}"
        try:
            result = ctx.run(command)
        except ConnectError:
            _remove(ctx, path)  # best effort; the step fails with the error that stopped the script
            raise
        outcome = Outcome.from_command(result)
        outcome.command = shown
        outcome.data = {"src": src, "interpreter": interpreter}
        left = _remove(ctx, path)
        if left:
            outcome.data["cleanup"] = left
            outcome.msg = "; ".join(m for m in (outcome.msg, left) if m)
        return outcome

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, str):  # script: fix-dns.sh --flush  (the name, then its arguments)
            src, _, rest = value.strip().partition(" ")
            value = {"src": src, **({"args": rest.strip()} if rest.strip() else {})}
        return super().normalize(value, where)


def _remove(ctx: StepContext, path: str) -> str:
    """Remove the uploaded script; a note saying it is left behind when that fails, else ''."""
    try:
        result = ctx.run(f"rm -f -- {_q(path)}", timeout=30)
    except ConnectError as exc:
        return f"could not remove {path} from the host: {exc.reason}"
    if result.rc != 0:
        return f"could not remove {path} from the host: {result.stderr.strip() or f'exit code {result.rc}'}"
    return ""
