"""Fixed PowerShell scripts with a JSON result contract: how the Windows steps ask and change a host.

Every Windows step sends one of the scripts in :data:`SCRIPTS`, unchanged, after a prelude of
``$name = <literal>`` lines (values quoted by :func:`remote_support.connections.shells.ps_value`, so no
value is ever read as code). The script's first line names it (``# remote-support:contract:NAME``). It
prints exactly one JSON object on the last line of stdout; :data:`CONTRACTS` names the keys and types
that object must have, and :func:`run_script` refuses any other answer with an error naming the script.
A script that fails throws (``$ErrorActionPreference = 'Stop'``): exit code 1 and the error on stderr.

The scripts are pinned by golden files (tests/data/windows/NAME.ps1). No PowerShell exists where this is
developed: the scripts are tested against the lab server's fake Windows, which answers them by name,
and are "not verified on a real Windows host" until the opt-in real-host test has run them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

from ..connections.shells import POWERSHELL, ps_value

if TYPE_CHECKING:
    from .base import StepContext

MARKER = "# remote-support:contract:"
_HEAD = """$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
"""


class ScriptError(Exception):
    """A contract script failed on the host, or answered outside its contract."""

    def __init__(self, message: str, *, rc: int | None = None, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


def _script(name: str, body: str) -> str:
    return f"{MARKER}{name}\n{_HEAD}{body.strip()}\n"


# ---------------------------------------------------------------- files (copy, template, win_file)

_FILE_PROBE = r"""
$r = [ordered]@{ path = $path; state = 'absent'; size = 0; sha256 = ''; text = $null }
$dir = [IO.Path]::GetDirectoryName($path)
if ([IO.Directory]::Exists($path)) { $r.state = 'dir' }
elseif ($dir -and -not [IO.Directory]::Exists($dir)) { $r.state = 'nodir' }
elseif ([IO.File]::Exists($path)) {
    $r.state = 'file'
    $r.size = (Get-Item -LiteralPath $path -Force).Length
    $r.sha256 = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash
    if ($want_text -and $r.sha256 -ne $sha256 -and $r.size -le $limit) {
        $r.text = [Convert]::ToBase64String([IO.File]::ReadAllBytes($path))
    }
}
$r | ConvertTo-Json -Compress
"""

# The content comes base64 on stdin, one line per chunk, into a new temp file beside the destination; its
# SHA-256 is checked before it replaces the file: File.Replace keeps the old file's ACL, a new file gets the
# ACL its directory passes on. Readers see the old file or the new one.
_FILE_WRITE = r"""
$dir = [IO.Path]::GetDirectoryName($path)
$tmp = [IO.Path]::Combine($dir, '.' + [IO.Path]::GetFileName($path) + '.rs-' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
$saved = ''
$out = [IO.File]::Open($tmp, 'CreateNew', 'Write', 'None')
try {
    while ($null -ne ($line = [Console]::In.ReadLine())) {
        if ($line) { $bytes = [Convert]::FromBase64String($line); $out.Write($bytes, 0, $bytes.Length) }
    }
} finally { $out.Dispose() }
try {
    $hash = (Get-FileHash -LiteralPath $tmp -Algorithm SHA256).Hash
    if ($hash -ne $sha256) { throw "the content arrived incomplete (SHA-256 $hash, expected $sha256)" }
    if ([IO.File]::Exists($path)) {
        if ($backup) {
            $saved = $path + '.' + (Get-Date -Format 'yyyy-MM-dd@HH.mm.ss') + '~'
            Copy-Item -LiteralPath $path -Destination $saved
        }
        [IO.File]::Replace($tmp, $path, $null)
    } else {
        [IO.File]::Move($tmp, $path)
    }
} finally {
    if ([IO.File]::Exists($tmp)) { Remove-Item -LiteralPath $tmp -Force }
}
[ordered]@{ sha256 = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash; backup = $saved } | ConvertTo-Json -Compress
"""

SCRIPTS: dict[str, str] = {
    "file-probe": _script("file-probe", _FILE_PROBE),
    "file-write": _script("file-write", _FILE_WRITE),
}

#: script name -> the keys of its JSON answer and their types (str, int, bool, list, dict, or None allowed)
CONTRACTS: dict[str, dict[str, tuple[type, ...]]] = {
    "file-probe": {"path": (str,), "state": (str,), "size": (int,), "sha256": (str,), "text": (str, type(None))},
    "file-write": {"sha256": (str,), "backup": (str,)},
}


def register(name: str, body: str, contract: Mapping[str, tuple[type, ...]]) -> None:
    """Add a step module's script and its contract (each Windows step module registers its own)."""
    SCRIPTS[name] = _script(name, body)
    CONTRACTS[name] = dict(contract)


def prelude(params: Mapping[str, Any]) -> str:
    """``$name = <literal>`` for each parameter: values as PowerShell literals, never code."""
    return "".join(f"${name} = {ps_value(value)}\n" for name, value in params.items())


def script_text(name: str, params: Mapping[str, Any]) -> str:
    """The exact text sent for script ``name`` with ``params``: its marker line first, then the values."""
    head, _, rest = SCRIPTS[name].partition("\n")
    return head + "\n" + prelude(params) + rest


def check_contract(name: str, answer: Any) -> dict[str, Any]:
    """``answer`` if it keeps the contract of ``name``; ScriptError naming what is wrong otherwise."""
    if not isinstance(answer, dict):
        raise ScriptError(f"the host's answer to {name} is not a JSON object: {str(answer)[:80]!r}")
    for key, types in CONTRACTS[name].items():
        if key not in answer:
            raise ScriptError(f"the host's answer to {name} lacks {key!r}")
        value = answer[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ScriptError(f"the host's answer to {name} has {key}={value!r}, not {wanted}")
    return answer


def parse_answer(name: str, stdout: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of ``stdout``, checked against the contract."""
    lines = [line.strip().lstrip("\ufeff") for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ScriptError(f"{name} printed nothing (expected one JSON object)")
    try:
        answer = json.loads(lines[-1])
    except ValueError:
        raise ScriptError(f"{name} printed {lines[-1][:80]!r}, not JSON") from None
    return check_contract(name, answer)


def run_script(ctx: "StepContext", name: str, params: Mapping[str, Any], *, stdin: bytes | None = None,
               timeout: float | None = None) -> dict[str, Any]:
    """Run contract script ``name`` on the step's Windows host; its checked answer, or ScriptError."""
    result = ctx.connection.run_in(POWERSHELL, script_text(name, params), stdin=stdin,
                                   timeout=timeout or ctx.timeout)
    if result.rc != 0:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        raise ScriptError(f"{name} failed (exit code {result.rc})" + (f": {lines[0]}" if lines else ""),
                          rc=result.rc, stdout=result.stdout, stderr=result.stderr)
    try:
        return parse_answer(name, result.stdout)
    except ScriptError as exc:
        exc.rc, exc.stdout, exc.stderr = result.rc, result.stdout, result.stderr
        raise


# ---------------------------------------------------------------- the Windows repair steps' common shape


class Problem(Exception):
    """The step cannot do what it was asked (its message says why and what to do)."""


class WindowsStep:
    """Mixin of the Windows repair steps (registry, win_file, win_user, win_group, win_scheduled_task,
    win_feature): plan, then execute.

    1. The kind's ``NAME-get`` script reads the current state (read-only, also in check mode).
    2. :meth:`plan` (Python) compares it with the arguments: a list of ``(what, before, after)`` changes
       and the parameters of the ``NAME-set`` script; no change: ok, nothing is sent.
    3. Check mode stops here and reports what would change (``--diff`` shows each change).
    4. ``NAME-set`` applies the change and answers the new state; planning again on it must find nothing
       left to do, or the step fails saying what is still different.
    """

    script: str = ""  # the contract scripts are SCRIPT-get and SCRIPT-set

    def target(self, args: dict[str, Any]) -> str:
        raise NotImplementedError

    def query(self, args: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def plan(self, args: dict[str, Any], current: dict[str, Any]) -> tuple[list[tuple[str, Any, Any]],
                                                                            dict[str, Any]]:
        raise NotImplementedError

    def stdin(self, args: dict[str, Any]) -> bytes | None:
        return None

    #: changes that are made every time they are asked for (a password cannot be read back to compare)
    always: frozenset[str] = frozenset()

    def shown_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """An answer of the get script as it is recorded (in the step's data): a kind with secrets hides them."""
        return state

    def run_windows(self, ctx: "StepContext", args: dict[str, Any]):
        from .base import Outcome
        from .powershell import runs_powershell

        kind = getattr(self, "name", self.script)
        if not runs_powershell(ctx):
            return Outcome(failed=True, msg=f"{kind} runs on Windows (WinRM) hosts; {ctx.host.name} is a "
                                            f"{ctx.host.connection} host")
        try:
            target = self.target(args)
            current = run_script(ctx, f"{self.script}-get", self.query(args))
            changes, params = self.plan(args, current)
        except Problem as exc:
            return Outcome(failed=True, command=f"{kind} {args.get('name') or args.get('path') or ''}".strip(),
                           msg=str(exc))
        except ScriptError as exc:
            return Outcome(failed=True, rc=exc.rc, stderr=exc.stderr, msg=str(exc))
        shown = f"{kind} {target}"
        data: dict[str, Any] = {"before": self.shown_state(current), "after": self.shown_state(current)}
        if not changes:
            return Outcome(command=shown, msg=f"{target} is as asked", data=data)
        diff = "".join(f"{target}: {what}\n" if old is None and new is None else
                       f"{target}: {what}: {_show(old)} -> {_show(new)}\n" for what, old, new in changes)
        summary = "; ".join(what if old is None and new is None else f"{what} {_show(old)} -> {_show(new)}"
                            for what, old, new in changes)
        if ctx.check:
            return Outcome(changed=True, command=shown, msg=f"check mode: would change {target}: {summary}",
                           diff=diff, data=data)
        try:
            after = run_script(ctx, f"{self.script}-set", {**self.query(args), **params}, stdin=self.stdin(args))
            left, _ = self.plan(args, after)
        except Problem as exc:
            return Outcome(failed=True, command=shown, msg=str(exc), data=data)
        except ScriptError as exc:
            return Outcome(failed=True, command=shown, rc=exc.rc, stderr=exc.stderr, data=data,
                           msg=f"cannot change {target}: {exc}")
        data["after"] = self.shown_state(after)
        left = [change for change in left if change[0] not in self.always]
        if left:
            still = "; ".join(f"{what} is {_show(old)}, not {_show(new)}" for what, old, new in left)
            return Outcome(failed=True, command=shown, diff=diff, data=data,
                           msg=f"{target} changed, but {still} (does the login user have the rights?)")
        return Outcome(changed=True, command=shown, msg=f"changed {target}: {summary}", diff=diff, data=data)


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)
