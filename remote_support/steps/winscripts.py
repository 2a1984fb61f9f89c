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
