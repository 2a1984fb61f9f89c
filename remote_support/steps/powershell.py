"""``powershell``: run a PowerShell script on a Windows host (WinRM), inline or rendered from a template.

Values reach the script as PowerShell variables set before it (``params: {name: x}`` becomes
``$name = 'x'``, single-quoted, so nothing in a value is ever read as code); the script is sent
through the connection's PowerShell (``run_in("powershell", ...)``: ``-EncodedCommand``, or stdin when
it is long). Like ``command``, a run counts as a change; ``changed_when: false`` marks a script that only reads (it then runs in
check mode too).

```yaml
- name: spooler files
  powershell:
    script: (Get-ChildItem -LiteralPath $dir -File).Count
    params: {dir: 'C:\\Windows\\System32\\spool\\PRINTERS'}
  changed_when: false
- name: clean up with a template (templates/cleanup.ps1.j2)
  powershell: {src: cleanup.ps1.j2, params: {days: 7}}
```
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..connections.shells import POWERSHELL, ps_quote, ps_value
from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ps_prelude(params: Mapping[str, Any] | None, chdir: str | None = None) -> str:
    lines = [f"${name} = {ps_value(value)}" for name, value in (params or {}).items()]
    if chdir:
        lines.append(f"Set-Location -LiteralPath {ps_quote(chdir)}")
    return "".join(line + "\n" for line in lines)


def runs_powershell(ctx: StepContext) -> bool:
    """Whether the step's connection can run PowerShell scripts (a Windows host)."""
    return POWERSHELL in ctx.connection.shells


def run_ps(ctx: StepContext, script: str, *, timeout: float | None = None):
    """Run a PowerShell script on the step's host (the step's timeout unless told otherwise)."""
    return ctx.connection.run_in(POWERSHELL, script, timeout=timeout or ctx.timeout)


def path_exists(ctx: StepContext, path: str) -> bool:
    result = run_ps(ctx, f"Test-Path -LiteralPath {ps_quote(path)}", timeout=ctx.timeout or 60)
    return result.stdout.strip().lower() == "true"


def run_powershell(ctx: StepContext, script: str, *, shown: str, params: Mapping[str, Any] | None = None,
                   chdir: str | None = None, creates: str | None = None, removes: str | None = None,
                   data: dict[str, Any] | None = None) -> Outcome:
    """Run ``script`` on a WinRM host as the powershell step does (``script`` on Windows can use it too)."""
    if not runs_powershell(ctx):
        return Outcome(failed=True, command=shown, msg=f"powershell runs on Windows (WinRM) hosts; {ctx.host.name} "
                                                       f"is a {ctx.connection.host.connection} host: use command or "
                                                       "script")
    for path, wanted in ((creates, False), (removes, True)):
        if path:
            exists = path_exists(ctx, path)
            if exists != wanted:
                return Outcome(skipped=True, command=shown, msg=f"{path} {'exists' if exists else 'does not exist'}")
    if ctx.check:
        return Outcome(skipped=True, command=shown, msg=f"check mode: would run {shown}")
    result = run_ps(ctx, ps_prelude(params, chdir) + script)
    outcome = Outcome.from_command(result)
    outcome.command = shown
    if outcome.failed:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        outcome.msg = f"exit code {result.rc}" + (f": {lines[0]}" if lines else "")
    outcome.data = dict(data or {})
    return outcome


class PowerShell(StepKind):
    name = "powershell"
    description = "Run a PowerShell script on a Windows (WinRM) host, inline or from a .ps1 template."
    free_form = "script"
    args = {
        "script": Arg("str", help="the script text (give script or src)"),
        "src": Arg("str", help="a .ps1 template, looked up in templates/ beside the task"),
        "params": Arg("dict", default={}, help="variables set before the script, single-quoted: {name: value}"),
        "chdir": Arg("str", help="run it in this directory"),
        "creates": Arg("str", help="skip when this path exists (the script already did its work)"),
        "removes": Arg("str", help="skip unless this path exists"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if bool(args.get("script")) == bool(args.get("src")):
            raise TaskError(f"{where}: powershell needs either script (the text) or src (a .ps1 template), not "
                            f"{'both' if args.get('script') else 'neither'}")
        for name in args.get("params") or {}:
            if not isinstance(name, str) or not _IDENTIFIER.match(name):
                raise TaskError(f"{where}: powershell params name {name!r} is not a PowerShell variable name "
                                "(letters, digits, _)")
        return args

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        return [args["src"]] if args.get("src") else []

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        src = args.get("src")
        if src:
            script = ctx.templar.render_file(src, ctx.vars)  # a TemplateError fails the step with file:line
            shown = f"powershell {src}"
        else:
            script = str(args["script"])
            first = next((line.strip() for line in script.splitlines() if line.strip()), "")
            shown = first if len(script.strip().splitlines()) == 1 else f"{first} ..."
        return run_powershell(ctx, script, shown=shown, params=args.get("params") or {}, chdir=args.get("chdir"),
                              creates=args.get("creates"), removes=args.get("removes"),
                              data={"src": src} if src else None)
