"""``win_file``: a directory or file on a Windows host present (``directory``, ``touch``), required (``file``)
or gone (``absent``, with everything under it).

```yaml
- {name: log directory, win_file: {path: 'C:\\ProgramData\\Contoso\\logs', state: directory}}
- {name: clear the update cache, win_file: {path: 'C:\\Windows\\SoftwareDistribution\\Download', state: absent}}
```

``touch`` creates an empty file when there is none (an existing file is left as it is, so a second run
changes nothing). Scripts: ``win-file-get``, ``win-file-set``; not verified on a real Windows host.
"""

from __future__ import annotations

from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .winfiles import windows_path
from .winscripts import Problem, WindowsStep, register

_GET = r"""
$r = [ordered]@{ path = $path; state = 'absent'; size = 0; parent = [IO.Directory]::Exists([IO.Path]::GetDirectoryName($path)) }
if ([IO.Directory]::Exists($path)) { $r.state = 'directory' }
elseif ([IO.File]::Exists($path)) { $r.state = 'file'; $r.size = (Get-Item -LiteralPath $path -Force).Length }
$r | ConvertTo-Json -Compress
"""

_SET = r"""
if ($state -eq 'absent') {
    if (Test-Path -LiteralPath $path) { Remove-Item -LiteralPath $path -Recurse -Force }
} elseif ($state -eq 'directory') {
    New-Item -ItemType Directory -Path $path -Force | Out-Null
} elseif ($state -eq 'touch') {
    if (-not [IO.File]::Exists($path)) { New-Item -ItemType File -Path $path | Out-Null }
}
"""

_ANSWER = {"path": (str,), "state": (str,), "size": (int,), "parent": (bool,)}
register("win-file-get", _GET, _ANSWER)
register("win-file-set", _SET + _GET, _ANSWER)


class WinFile(WindowsStep, StepKind):
    name = "win_file"
    script = "win-file"
    description = "A directory or file on a Windows host: directory, touch, file (must exist) or absent."
    args = {
        "path": Arg("str", required=True, help="absolute Windows path, e.g. C:\\ProgramData\\Contoso"),
        "state": Arg("str", default="directory", choices=("directory", "touch", "file", "absent"),
                     help="directory: create it (and its parents); touch: an empty file if missing; file: fail "
                          "unless it exists; absent: remove it and everything under it"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        path = args.get("path")
        if isinstance(path, str) and "{" not in path:
            try:
                windows_path(path)
            except ValueError as exc:
                raise TaskError(f"{where}: win_file: {exc}") from None
        return args

    def _path(self, args: dict[str, Any]) -> str:
        try:
            path = windows_path(args["path"])
        except ValueError as exc:
            raise Problem(f"win_file: {exc}") from None
        if len(path.rstrip("\\")) <= 2:
            raise Problem(f"win_file: {path} is a whole drive: name a directory or file on it")
        return path.rstrip("\\")

    def target(self, args: dict[str, Any]) -> str:
        return self._path(args)

    def query(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"path": self._path(args)}

    def plan(self, args, current):
        state, now, path = args.get("state") or "directory", current["state"], current["path"]
        if state == "absent":
            return ([("remove " + now, now, "absent")], {"state": "absent"}) if now != "absent" else ([], {})
        if state == "directory":
            if now == "file":
                raise Problem(f"{path} is a file, not a directory: remove it first (state: absent)")
            return ([("create directory", now, "directory")], {"state": "directory"}) if now == "absent" else ([], {})
        if now == "directory":
            raise Problem(f"{path} is a directory, not a file")
        if state == "file":
            if now == "absent":
                raise Problem(f"{path} does not exist (state: file only checks; use touch or copy to create it)")
            return [], {}
        if now == "absent" and not current["parent"]:
            raise Problem(f"cannot create {path}: its directory does not exist (a win_file step with state: "
                          "directory first)")
        return ([("create empty file", now, "file")], {"state": "touch"}) if now == "absent" else ([], {})

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        return self.run_windows(ctx, args)
