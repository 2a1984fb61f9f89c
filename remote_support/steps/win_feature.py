"""``win_feature``: a Windows feature, optional feature or capability installed (``present``) or removed.

```yaml
- {name: telnet client, win_feature: {name: TelnetClient, kind: optional}}
- {name: RSAT DNS tools, win_feature: {name: Rsat.Dns.Tools~~~~0.0.1.0, kind: capability}}
- {name: no SMB1, win_feature: {name: FS-SMB1, state: absent}}
```

``kind``: ``feature`` (a server role or feature: Install-WindowsFeature, Windows Server only), ``optional``
(Enable-WindowsOptionalFeature, clients and servers) or ``capability`` (Add-WindowsCapability, Features on
Demand). ``data.reboot_required`` says whether Windows wants a restart to finish (follow with a
``reboot`` step, ``when: result.reboot_required``). Scripts ``win-feature-get/set``; not verified on a
real Windows host.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .winscripts import Problem, WindowsStep, register

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*$")

_GET = r"""
$r = [ordered]@{ known = $false; installed = $false; state = ''; reboot_required = $false }
if ($kind -eq 'feature') {
    $f = Get-WindowsFeature -Name $name -ErrorAction SilentlyContinue
    if ($f) { $r.known = $true; $r.installed = [bool]$f.Installed; $r.state = [string]$f.InstallState }
} elseif ($kind -eq 'optional') {
    $f = Get-WindowsOptionalFeature -Online -FeatureName $name -ErrorAction SilentlyContinue
    if ($f) { $r.known = $true; $r.installed = [string]$f.State -eq 'Enabled'; $r.state = [string]$f.State }
} else {
    $f = Get-WindowsCapability -Online -Name $name -ErrorAction SilentlyContinue
    if ($f -and $f.State) { $r.known = $true; $r.installed = [string]$f.State -eq 'Installed'; $r.state = [string]$f.State }
}
$r.state = $r.state.ToString()
"""

_SET = r"""
$restart = $false
if ($kind -eq 'feature') {
    $x = if ($state -eq 'present') { Install-WindowsFeature -Name $name -IncludeManagementTools } else { Uninstall-WindowsFeature -Name $name }
    $restart = [string]$x.RestartNeeded -eq 'Yes'
} elseif ($kind -eq 'optional') {
    $x = if ($state -eq 'present') { Enable-WindowsOptionalFeature -Online -FeatureName $name -All -NoRestart } else { Disable-WindowsOptionalFeature -Online -FeatureName $name -NoRestart }
    $restart = [bool]$x.RestartNeeded
} else {
    $x = if ($state -eq 'present') { Add-WindowsCapability -Online -Name $name } else { Remove-WindowsCapability -Online -Name $name }
    $restart = [bool]$x.RestartNeeded
}
"""

_ANSWER_LINE = "$r | ConvertTo-Json -Compress\n"
_ANSWER = {"known": (bool,), "installed": (bool,), "state": (str,), "reboot_required": (bool,)}
register("win-feature-get", _GET + _ANSWER_LINE, _ANSWER)
register("win-feature-set", _SET + _GET + "$r.reboot_required = $restart\n" + _ANSWER_LINE, _ANSWER)


class WinFeature(WindowsStep, StepKind):
    name = "win_feature"
    script = "win-feature"
    description = "A Windows feature, optional feature or capability: present or absent (reports reboot_required)."
    args = {
        "name": Arg("str", required=True, help="its name, e.g. TelnetClient, FS-SMB1, Rsat.Dns.Tools~~~~0.0.1.0"),
        "kind": Arg("str", default="feature", choices=("feature", "optional", "capability"),
                    help="feature: server roles/features; optional: optional features; capability: Features on Demand"),
        "state": Arg("str", default="present", choices=("present", "absent")),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        name = args.get("name")
        if isinstance(name, str) and "{" not in name and not _NAME.match(name):
            raise TaskError(f"{where}: win_feature name {name!r} is not a feature name (letters, digits, . _ ~ -)")
        return args

    def target(self, args):
        return f"{args.get('kind') or 'feature'} {args['name']}"

    def query(self, args):
        if not _NAME.match(str(args["name"])):
            raise Problem(f"win_feature name {args['name']!r} is not a feature name")
        return {"name": str(args["name"]), "kind": str(args.get("kind") or "feature")}

    def plan(self, args, current):
        kind = args.get("kind") or "feature"
        if not current["known"]:
            where = {"feature": "Get-WindowsFeature", "optional": "Get-WindowsOptionalFeature -Online",
                     "capability": "Get-WindowsCapability -Online"}[kind]
            raise Problem(f"this host knows no {kind} called {args['name']}: check the name with {where}"
                          + (" (kind: feature is for Windows Server)" if kind == "feature" else ""))
        wanted = args.get("state") != "absent"
        if current["installed"] == wanted:
            return [], {}
        return [("installed", current["installed"], wanted)], {"state": "present" if wanted else "absent"}

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        outcome = self.run_windows(ctx, args)
        after = outcome.data.get("after") or {}
        outcome.data["reboot_required"] = bool(after.get("reboot_required"))
        if outcome.data["reboot_required"] and outcome.changed and not ctx.check:
            outcome.msg += " (Windows asks for a reboot to finish)"
        return outcome
