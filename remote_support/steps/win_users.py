"""``win_user`` and ``win_group``: local accounts and groups of a Windows host.

```yaml
- name: re-enable the account
  win_user: {name: "{{ user }}", enabled: true, unlock: true}
- name: reset its password
  win_user: {name: "{{ user }}", password: "{{ new_password }}", update_password: always}
- name: let it administer the print server
  win_group: {name: Print Operators, members: ["{{ user }}"]}
```

A password comes from a task parameter of type ``secret`` (``-e new_password=prompt``, ``env:NAME``,
``file:PATH``) and travels on the script's stdin, never on a command line. It cannot be read back: with
``update_password: always`` it is set on every run (the step reports a change each time); ``on_create``
(the default) sets it only for a new account. ``unlock`` clears an account lockout (too many bad
passwords); it is a change only when the account is locked. Scripts ``win-user-get/set`` and
``win-group-get/set``; not verified on a real Windows host.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .winscripts import Problem, WindowsStep, register

#: what Windows allows in a local account or group name (no " / \ [ ] : ; | = , + * ? < > @)
_NAME = re.compile(r'^[^"/\\\[\]:;|=,+*?<>@\x00-\x1f]{1,256}$')

_USER_GET = r"""
$r = [ordered]@{ exists = $false; enabled = $false; locked = $false; full_name = ''; description = ''; password_set = '' }
$u = Get-LocalUser -Name $name -ErrorAction SilentlyContinue
if ($u) {
    $r.exists = $true; $r.enabled = [bool]$u.Enabled; $r.full_name = [string]$u.FullName
    $r.description = [string]$u.Description
    if ($u.PasswordLastSet) { $r.password_set = $u.PasswordLastSet.ToUniversalTime().ToString('s') }
    $w = Get-CimInstance -ClassName Win32_UserAccount -Filter 'LocalAccount=True' | Where-Object { $_.Name -eq $name }
    $r.locked = [bool]($w -and $w.Lockout)
}
$r | ConvertTo-Json -Compress
"""

# The password is the first line of stdin; nothing of it is on the command line or in the output.
_USER_SET = r"""
$password = [Console]::In.ReadLine()
$secure = $null
if ($password) { $secure = ConvertTo-SecureString -String $password -AsPlainText -Force }
$u = Get-LocalUser -Name $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($u) { Remove-LocalUser -Name $name }
} else {
    if (-not $u) {
        if ($secure) { New-LocalUser -Name $name -Password $secure | Out-Null }
        else { New-LocalUser -Name $name -NoPassword | Out-Null }
    } elseif ($secure -and $set_password) {
        Set-LocalUser -Name $name -Password $secure
    }
    if ($null -ne $full_name) { Set-LocalUser -Name $name -FullName $full_name }
    if ($null -ne $description) { Set-LocalUser -Name $name -Description $description }
    if ($enabled -eq $true) { Enable-LocalUser -Name $name }
    if ($enabled -eq $false) { Disable-LocalUser -Name $name }
    if ($unlock) {
        $adsi = [ADSI]"WinNT://./$name,user"
        if ($adsi.IsAccountLocked) { $adsi.IsAccountLocked = $false; $adsi.SetInfo() }
    }
}
"""

_GROUP_GET = r"""
$r = [ordered]@{ exists = $false; description = ''; members = @() }
$g = Get-LocalGroup -Name $name -ErrorAction SilentlyContinue
if ($g) {
    $r.exists = $true; $r.description = [string]$g.Description
    $r.members = @(Get-LocalGroupMember -Name $name | ForEach-Object { $_.Name })
}
$r | ConvertTo-Json -Compress
"""

_GROUP_SET = r"""
$g = Get-LocalGroup -Name $name -ErrorAction SilentlyContinue
if ($state -eq 'absent') {
    if ($g) { Remove-LocalGroup -Name $name }
} else {
    if (-not $g) { New-LocalGroup -Name $name | Out-Null }
    if ($null -ne $description) { Set-LocalGroup -Name $name -Description $description }
    foreach ($m in @($add)) { if ($m) { Add-LocalGroupMember -Name $name -Member $m } }
    foreach ($m in @($remove)) { if ($m) { Remove-LocalGroupMember -Name $name -Member $m } }
}
"""

_USER = {"exists": (bool,), "enabled": (bool,), "locked": (bool,), "full_name": (str,), "description": (str,),
         "password_set": (str,)}
_GROUP = {"exists": (bool,), "description": (str,), "members": (list,)}
register("win-user-get", _USER_GET, _USER)
register("win-user-set", _USER_SET + _USER_GET, _USER)
register("win-group-get", _GROUP_GET, _GROUP)
register("win-group-set", _GROUP_SET + _GROUP_GET, _GROUP)


def _check_name(kind: str, value: Any, where: str) -> None:
    if isinstance(value, str) and "{" not in value and not _NAME.match(value):
        raise TaskError(f"{where}: {kind} name {value!r} is not a valid Windows account name "
                        '(1-256 characters, none of " / \\ [ ] : ; | = , + * ? < > @)')


def _name(kind: str, args: dict[str, Any]) -> str:
    name = str(args["name"])
    if not _NAME.match(name):
        raise Problem(f"{kind} name {name!r} is not a valid Windows account name")
    return name


def _short(member: str) -> str:
    """``WIN-LAB01\\alice`` and ``alice`` are the same local member."""
    return member.rsplit("\\", 1)[-1].lower()


class WinUser(WindowsStep, StepKind):
    name = "win_user"
    script = "win-user"
    description = "A local Windows account: present/absent, enabled, unlocked, password reset from a secret."
    secret_args = frozenset({"password"})  # masked everywhere, never echoed in an error (issue 11)
    args = {
        "name": Arg("str", required=True, help="the account name"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "enabled": Arg("bool", help="enable (true) or disable (false) the account; unset: leave it"),
        "unlock": Arg("bool", default=False, help="clear a lockout (too many bad passwords)"),
        "password": Arg("str", help="the password, from a secret parameter (prompt, env:, file:); sent on stdin"),
        "update_password": Arg("str", default="on_create", choices=("on_create", "always"),
                               help="on_create: only for a new account; always: set it on every run"),
        "create": Arg("bool", default=True, help="create the account when it is missing (false: fail instead)"),
        "full_name": Arg("str", help="the account's full name"),
        "description": Arg("str", help="the account's description"),
    }
    always = frozenset({"set password"})

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        _check_name("win_user", args.get("name"), where)
        return args

    def target(self, args):
        return f"user {_name('win_user', args)}"

    def query(self, args):
        return {"name": _name("win_user", args)}

    def stdin(self, args):
        password = args.get("password")
        if password and ("\n" in str(password) or "\r" in str(password)):
            raise Problem("win_user password must be one line")
        return (str(password) + "\n").encode("utf-8") if password else b"\n"

    def plan(self, args, current):
        if args.get("state") == "absent":
            return ([("remove account", None, None)], {"state": "absent"}) if current["exists"] else ([], {})
        changes, params = [], {"state": "present", "set_password": False}
        password = args.get("password")
        if password and "\n" in str(password):
            raise Problem("win_user password must be one line")
        if not current["exists"]:
            if not as_bool(args.get("create", True)):
                raise Problem(f"there is no local account {args['name']} on this host (check the name with "
                              "Get-LocalUser; a domain account is managed in Active Directory)")
            changes.append(("create account", None, None))
        elif password and args.get("update_password") == "always":
            changes.append(("set password", None, None))
            params["set_password"] = True
        for key in ("full_name", "description"):
            if args.get(key) is not None and (not current["exists"] or current[key] != str(args[key])):
                changes.append((key.replace("_", " "), current[key] or None, str(args[key])))
                params[key] = str(args[key])
        if args.get("enabled") is not None:
            wanted = as_bool(args["enabled"])
            if not current["exists"] or current["enabled"] != wanted:
                changes.append(("enabled", current["enabled"] if current["exists"] else None, wanted))
            params["enabled"] = wanted
        if as_bool(args.get("unlock")) and current["locked"]:
            changes.append(("locked", True, False))
            params["unlock"] = True
        return changes, params

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        return self.run_windows(ctx, args)


class WinGroup(WindowsStep, StepKind):
    name = "win_group"
    script = "win-group"
    description = "A local Windows group: present/absent, with members added or removed."
    args = {
        "name": Arg("str", required=True, help="the group name, e.g. Remote Desktop Users"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "members": Arg("list", default=[], help="accounts that must be members (added when missing)"),
        "members_absent": Arg("list", default=[], help="accounts that must not be members (removed)"),
        "description": Arg("str", help="the group's description"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        _check_name("win_group", args.get("name"), where)
        for member in [*(args.get("members") or []), *(args.get("members_absent") or [])]:
            if isinstance(member, str) and "{" not in member and not _NAME.match(member.rsplit("\\", 1)[-1]):
                raise TaskError(f"{where}: win_group member {member!r} is not a valid Windows account name")
        both = {_short(str(m)) for m in args.get("members") or []} & \
            {_short(str(m)) for m in args.get("members_absent") or []}
        if both:
            raise TaskError(f"{where}: win_group: {', '.join(sorted(both))} cannot be in members and members_absent")
        return args

    def target(self, args):
        return f"group {_name('win_group', args)}"

    def query(self, args):
        return {"name": _name("win_group", args)}

    def plan(self, args, current):
        if args.get("state") == "absent":
            return ([("remove group", None, None)], {"state": "absent"}) if current["exists"] else ([], {})
        changes = []
        if not current["exists"]:
            changes.append(("create group", None, None))
        have = {_short(m) for m in current["members"]}
        add = [str(m) for m in args.get("members") or [] if _short(str(m)) not in have]
        remove = [str(m) for m in args.get("members_absent") or [] if _short(str(m)) in have]
        params: dict[str, Any] = {"state": "present", "add": add, "remove": remove}
        if add:
            changes.append(("add members", None, add))
        if remove:
            changes.append(("remove members", remove, None))
        if args.get("description") is not None and current["description"] != str(args["description"]):
            changes.append(("description", current["description"] or None, str(args["description"])))
            params["description"] = str(args["description"])
        return changes, params

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        return self.run_windows(ctx, args)
