"""``registry``: a Windows registry key, or one value in it, present with the given data and type, or absent.

```yaml
- name: use the proxy
  registry:
    path: 'HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings'
    name: ProxyEnable
    type: dword
    data: 1
- name: drop a stale policy key
  registry: {path: 'HKLM:\\SOFTWARE\\Policies\\Contoso\\Old', state: absent}
```

Without ``name`` the step is about the key itself (``state: absent`` removes it with its subkeys).
``name: ''`` is the key's default value. Types: string, expand_string, multi_string (a list), dword,
qword (numbers, also ``0x...``), binary (hex digits, e.g. ``"01ff"``). Scripts: ``registry-get`` and
``registry-set`` (steps/winscripts.py); not verified on a real Windows host.

``data`` is a secret argument (it may be a licence key or a service's password): the output, ``--diff``, the
journal and reports show ``********`` for it. The step still compares it: registry-get answers an HMAC-SHA256
of the current data under a key that lives only as long as the process, never the data itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from ..errors import TaskError
from ..secrets import MASK, MASKED
from .base import Arg, Outcome, StepContext, StepKind
from .winscripts import Problem, WindowsStep, register

#: our names -> RegistryValueKind
TYPES = {"string": "String", "expand_string": "ExpandString", "multi_string": "MultiString", "dword": "DWord",
         "qword": "QWord", "binary": "Binary"}
_HIVES = ("HKLM:", "HKCU:", "HKCR:", "HKU:", "HKCC:")
_LONG_HIVES = {"HKEY_LOCAL_MACHINE": "HKLM:", "HKEY_CURRENT_USER": "HKCU:", "HKEY_CLASSES_ROOT": "HKCR:",
               "HKEY_USERS": "HKU:", "HKEY_CURRENT_CONFIG": "HKCC:"}

_GET = r"""
if ($path -match '^(HKCR|HKU|HKCC):' -and -not (Get-PSDrive -Name $Matches[1] -ErrorAction SilentlyContinue)) {
    $root = @{ HKCR = 'HKEY_CLASSES_ROOT'; HKU = 'HKEY_USERS'; HKCC = 'HKEY_CURRENT_CONFIG' }[$Matches[1]]
    New-PSDrive -Name $Matches[1] -PSProvider Registry -Root $root | Out-Null
}
$r = [ordered]@{ key = $false; exists = $false; type = ''; data = $null }
if (Test-Path -LiteralPath $path) {
    $r.key = $true
    if ($null -ne $name) {
        $k = Get-Item -LiteralPath $path
        if ($k.GetValueNames() -contains $name) {
            $r.exists = $true
            $r.type = $k.GetValueKind($name).ToString()
            $v = $k.GetValue($name, $null, 'DoNotExpandEnvironmentNames')
            if ($r.type -eq 'Binary') { $r.data = -join ($v | ForEach-Object { $_.ToString('x2') }) }
            elseif ($r.type -eq 'MultiString') { $r.data = @($v) }
            elseif ($r.type -eq 'DWord') { $r.data = [int64][BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$v), 0) }
            else { $r.data = $v }
            if ($digest) {
                # the data is a secret: answer an HMAC of it under this run's key, so the answer (which the
                # connection masks) can be compared and the data itself never comes back
                $text = if ($r.data -is [array]) { $r.data -join [char]0 } else { [string]$r.data }
                $hmac = [Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes($digest))
                $sum = $hmac.ComputeHash([Text.Encoding]::UTF8.GetBytes($text))
                $r.data = -join ($sum | ForEach-Object { $_.ToString('x2') })
            }
        }
    }
}
$r | ConvertTo-Json -Compress -Depth 3
"""

_SET = r"""
if ($state -eq 'absent') {
    if ($null -eq $name) {
        if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
    } elseif (Test-Path -LiteralPath $path) {
        Remove-ItemProperty -LiteralPath $path -Name $name -Force -ErrorAction SilentlyContinue
    }
} else {
    if (-not (Test-Path -LiteralPath $path)) { New-Item -Path $path -Force | Out-Null }
    if ($null -ne $name) {
        $value = switch ($type) {
            'DWord' { [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32][uint64]$data), 0) }
            'QWord' { [BitConverter]::ToInt64([BitConverter]::GetBytes([uint64]$data), 0) }
            'Binary' { [byte[]] -split ($data -replace '..', '0x$& ') }
            'MultiString' { [string[]]@($data) }
            default { [string]$data }
        }
        New-ItemProperty -LiteralPath $path -Name $name -PropertyType $type -Value $value -Force | Out-Null
    }
}
"""

_ANSWER = {"key": (bool,), "exists": (bool,), "type": (str,), "data": (str, int, list, type(None))}
register("registry-get", _GET, _ANSWER)
register("registry-set", _SET + _GET, _ANSWER)


#: the key of the data digests for this process; registered with MASK, as it is sent in each script's prelude
_DIGEST_KEY = secrets.token_hex(32)
MASK.add(_DIGEST_KEY)


def data_digest(data: Any) -> str:
    """The HMAC-SHA256 under this process's key of ``data`` as registry-get renders it (lists joined by NUL,
    numbers in decimal), i.e. what registry-get answers for the data when asked with ``$digest``."""
    text = "\0".join(map(str, data)) if isinstance(data, (list, tuple)) else "" if data is None else str(data)
    return hmac.new(_DIGEST_KEY.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def registry_path(value: Any) -> str:
    """``HKLM:\\...`` from the forms people write (HKEY_LOCAL_MACHINE\\..., HKLM\\..., /), or ValueError."""
    text = str(value).replace("/", "\\").strip().rstrip("\\")
    head, sep, rest = text.partition("\\")
    head = _LONG_HIVES.get(head.upper(), head.upper())
    if not head.endswith(":"):
        head += ":"
    if head not in _HIVES:
        raise ValueError(f"registry path {value!r} does not start with a hive: use HKLM:\\..., HKCU:\\..., "
                         "HKCR:\\..., HKU:\\... or HKCC:\\...")
    if not rest:
        raise ValueError(f"registry path {value!r} names a whole hive: give a key under it")
    return f"{head}\\{rest}"


def normalize_data(kind: str, data: Any) -> Any:
    """``data`` as the registry-get script reports it for a value of type ``kind``, or ValueError (whose
    message never holds the data: it is a secret argument)."""
    if kind in ("DWord", "QWord"):
        try:
            number = int(data, 0) if isinstance(data, str) else int(data)
        except (TypeError, ValueError):
            raise ValueError(f"{kind} data must be a number (decimal or 0x...)") from None
        if isinstance(data, bool) or not 0 <= number < (2 ** 32 if kind == "DWord" else 2 ** 64):
            raise ValueError(f"{kind} data is out of range (0 to {2 ** 32 - 1 if kind == 'DWord' else 2 ** 64 - 1})")
        return number
    if kind == "MultiString":
        if not isinstance(data, (list, tuple)):
            raise ValueError("multi_string data must be a list of strings")
        return [str(item) for item in data]
    if kind == "Binary":
        text = str(data or "").lower().replace(" ", "").removeprefix("0x")
        if not re.fullmatch(r"(?:[0-9a-f]{2})*", text):
            raise ValueError("binary data must be hex digits in pairs, e.g. \"01ff\"")
        return text
    return "" if data is None else str(data)


class Registry(WindowsStep, StepKind):
    name = "registry"
    script = "registry"
    description = "A Windows registry key or value: present with data and type, or absent (check mode, diff)."
    # The data may be a secret (a service's password, a licence key), so it is one: masked in the output, the
    # diff, the journal and every report. It is compared by digest (registry-get answers an HMAC of the data),
    # because the connection masks the host's answer and the data itself should not come back at all.
    secret_args = frozenset({"data"})
    args = {
        "path": Arg("str", required=True, help="the key, e.g. HKLM:\\SOFTWARE\\Contoso (HKEY_LOCAL_MACHINE\\... too)"),
        "name": Arg("str", help="the value in the key ('' = its default value); unset: the key itself"),
        "data": Arg("any", help="the value's data (a list for multi_string, hex digits for binary)"),
        "type": Arg("str", default="string", choices=tuple(TYPES), help="the value's type"),
        "state": Arg("str", default="present", choices=("present", "absent")),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        literal = lambda v: not (isinstance(v, str) and "{" in v)  # noqa: E731 - checked again after rendering
        try:
            if literal(args["path"]):
                registry_path(args["path"])
            if args.get("state") == "present" and args.get("name") is not None and literal(args.get("data")) \
                    and literal(args.get("type")):
                if args.get("data") is None:
                    raise ValueError("a value needs data (or state: absent)")
                normalize_data(TYPES[args["type"]], args["data"])
        except ValueError as exc:
            raise TaskError(f"{where}: registry: {exc}") from None
        return args

    def target(self, args: dict[str, Any]) -> str:
        path = self._path(args)
        return path if args.get("name") is None else f"{path} value {args['name'] or '(default)'}"

    @staticmethod
    def _path(args: dict[str, Any]) -> str:
        try:
            return registry_path(args["path"])
        except ValueError as exc:
            raise Problem(str(exc)) from None

    def query(self, args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name")
        return {"path": self._path(args), "name": None if name is None else str(name), "digest": _DIGEST_KEY}

    def plan(self, args, current):
        name = args.get("name")
        if args.get("state") == "absent":
            if name is None:
                return ([("remove key", None, None)], {"state": "absent"}) if current["key"] else ([], {})
            return ([("remove value", MASKED, None)], {"state": "absent"}) if current["exists"] else ([], {})
        changes = []
        if not current["key"]:
            changes.append(("create key", None, None))
        if name is None:
            return changes, {"state": "present"}
        kind = TYPES.get(str(args.get("type") or "string"))
        if kind is None:
            raise Problem(f"registry type {args.get('type')!r} is not one of {', '.join(TYPES)}")
        try:
            wanted = normalize_data(kind, args.get("data"))
        except ValueError as exc:
            raise Problem(f"registry: {exc}") from None
        if current["exists"] and current["type"] != kind:
            changes.append(("type", current["type"], kind))
        if not current["exists"] or current["data"] != data_digest(wanted):
            changes.append(("data", MASKED if current["exists"] else None, MASKED))
        return changes, {"state": "present", "type": kind, "data": wanted}

    def shown_state(self, state: dict[str, Any]) -> dict[str, Any]:
        # what is recorded of an answer: the digest is no use to a reader, and is no data
        return {**state, "data": MASKED} if state.get("exists") else state

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        return self.run_windows(ctx, args)
