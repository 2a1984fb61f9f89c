"""``win_scheduled_task``: a Task Scheduler task present (with its action, trigger and account), enabled or
disabled, started now, or absent.

```yaml
- name: nightly cleanup
  win_scheduled_task:
    name: Contoso Cleanup
    execute: C:\\Windows\\System32\\cleanmgr.exe
    arguments: /sagerun:1
    trigger: daily
    at: "03:00"
- {name: stop the broken updater, win_scheduled_task: {name: Contoso Updater, enabled: false}}
```

``trigger``: ``startup``, ``logon``, ``daily`` or ``once`` (both with ``at``, HH:MM). ``user``: the account
it runs as (default SYSTEM). A task given only ``name`` and ``enabled``/``run`` must exist already.
Scripts ``win-task-get/set``; not verified on a real Windows host.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .winscripts import Problem, WindowsStep, register

_AT = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_TASK_NAME = re.compile(r'^[^\\/:*?"<>|\x00-\x1f]{1,238}$')

_GET = r"""
$r = [ordered]@{ exists = $false; enabled = $false; state = ''; execute = ''; arguments = ''; trigger = ''; at = ''; user = '' }
$t = Get-ScheduledTask -TaskPath $folder -TaskName $name -ErrorAction SilentlyContinue
if ($t) {
    $r.exists = $true; $r.state = [string]$t.State; $r.enabled = $t.State -ne 'Disabled'
    $a = @($t.Actions)[0]
    if ($a) { $r.execute = [string]$a.Execute; $r.arguments = [string]$a.Arguments }
    $g = @($t.Triggers)[0]
    if ($g) {
        $r.trigger = @{ MSFT_TaskBootTrigger = 'startup'; MSFT_TaskLogonTrigger = 'logon'; MSFT_TaskDailyTrigger = 'daily'; MSFT_TaskTimeTrigger = 'once' }[$g.CimClass.CimClassName]
        if ($g.StartBoundary) { $r.at = ([datetime]$g.StartBoundary).ToString('HH:mm') }
    }
    $r.user = [string]$t.Principal.UserId
}
$r | ConvertTo-Json -Compress
"""

_SET = r"""
$t = Get-ScheduledTask -TaskPath $folder -TaskName $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($t) { Unregister-ScheduledTask -TaskPath $folder -TaskName $name -Confirm:$false }
} else {
    if ($define) {
        $action = if ($arguments) { New-ScheduledTaskAction -Execute $execute -Argument $arguments } else { New-ScheduledTaskAction -Execute $execute }
        $trig = switch ($trigger) {
            'startup' { New-ScheduledTaskTrigger -AtStartup }
            'logon' { New-ScheduledTaskTrigger -AtLogOn }
            'daily' { New-ScheduledTaskTrigger -Daily -At $at }
            'once' { New-ScheduledTaskTrigger -Once -At $at }
        }
        $principal = New-ScheduledTaskPrincipal -UserId $user -LogonType ServiceAccount -RunLevel Highest
        Register-ScheduledTask -TaskPath $folder -TaskName $name -Action $action -Trigger $trig -Principal $principal -Force | Out-Null
    }
    if ($enabled -eq $true) { Enable-ScheduledTask -TaskPath $folder -TaskName $name | Out-Null }
    if ($enabled -eq $false) { Disable-ScheduledTask -TaskPath $folder -TaskName $name | Out-Null }
    if ($run) { Start-ScheduledTask -TaskPath $folder -TaskName $name }
}
"""

_ANSWER = {"exists": (bool,), "enabled": (bool,), "state": (str,), "execute": (str,), "arguments": (str,),
           "trigger": (str, type(None)), "at": (str,), "user": (str,)}
register("win-task-get", _GET, _ANSWER)
register("win-task-set", _SET + _GET, _ANSWER)


class WinScheduledTask(WindowsStep, StepKind):
    name = "win_scheduled_task"
    script = "win-task"
    description = "A Windows scheduled task: present with action/trigger/account, enabled or disabled, run, absent."
    args = {
        "name": Arg("str", required=True, help="the task's name"),
        "folder": Arg("str", default="\\", help="its folder in the Task Scheduler library, e.g. \\Contoso\\"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "execute": Arg("str", help="the program the task runs (gives the task its definition)"),
        "arguments": Arg("str", default="", help="its arguments"),
        "trigger": Arg("str", choices=("startup", "logon", "daily", "once"), help="when it runs"),
        "at": Arg("str", help="HH:MM for daily and once"),
        "user": Arg("str", default="SYSTEM", help="the account it runs as"),
        "enabled": Arg("bool", help="enable (true) or disable (false) it; unset: leave it"),
        "run": Arg("bool", default=False, help="start it now (always a change)"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        literal = lambda v: not (isinstance(v, str) and "{" in v)  # noqa: E731
        if literal(args.get("name")) and not _TASK_NAME.match(str(args["name"])):
            raise TaskError(f"{where}: win_scheduled_task name {args['name']!r} is not a valid task name")
        folder = args.get("folder") or "\\"
        if literal(folder) and not (folder.startswith("\\") and folder.endswith("\\")):
            raise TaskError(f"{where}: win_scheduled_task folder {folder!r} must start and end with \\ (e.g. \\Contoso\\)")
        if args.get("execute") is not None and args.get("trigger") is None:
            raise TaskError(f"{where}: win_scheduled_task with execute needs a trigger (startup, logon, daily, once)")
        if args.get("trigger") in ("daily", "once") and literal(args.get("at")) and not _AT.match(str(args.get("at") or "")):
            raise TaskError(f"{where}: win_scheduled_task trigger {args['trigger']} needs at: HH:MM (e.g. \"03:00\")")
        return args

    def target(self, args):
        return f"scheduled task {(args.get('folder') or chr(92))}{args['name']}"

    def query(self, args):
        return {"name": str(args["name"]), "folder": str(args.get("folder") or "\\")}

    def plan(self, args, current):
        if args.get("state") == "absent":
            return ([("remove task", None, None)], {"state": "absent"}) if current["exists"] else ([], {})
        changes: list[tuple[str, Any, Any]] = []
        params: dict[str, Any] = {"state": "present", "define": False}
        if args.get("execute") is not None:
            wanted = {"execute": str(args["execute"]), "arguments": str(args.get("arguments") or ""),
                      "trigger": str(args["trigger"]), "at": str(args.get("at") or "") if args["trigger"] in
                      ("daily", "once") else "", "user": str(args.get("user") or "SYSTEM")}
            if not current["exists"]:
                changes.append(("create task", None, None))
            else:
                for key, value in wanted.items():
                    have = current[key] or ""
                    if (have.lower() if key == "user" else have) != (value.lower() if key == "user" else value):
                        changes.append((key, have or None, value))
            if changes:
                params.update(define=True, **wanted)
        elif not current["exists"]:
            raise Problem(f"there is no scheduled task {args.get('folder') or chr(92)}{args['name']}: give execute "
                          "and trigger to create it")
        if args.get("enabled") is not None:
            wanted_enabled = as_bool(args["enabled"])
            if current["enabled"] != wanted_enabled or not current["exists"] and not wanted_enabled:
                changes.append(("enabled", current["enabled"] if current["exists"] else None, wanted_enabled))
            params["enabled"] = wanted_enabled
        if as_bool(args.get("run")):
            changes.append(("start now", None, None))
            params["run"] = True
        return changes, params

    always = frozenset({"start now"})

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        return self.run_windows(ctx, args)
