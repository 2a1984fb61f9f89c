"""``service``: start, stop, restart or reload a service, and enable or disable it at boot.

The step asks the init system first (one read-only command: is the service there, running, enabled?)
and acts only where that differs from what the step asks: ``started`` when stopped, ``stopped`` when
running; ``restarted`` and ``reloaded`` always act (a stopped service is started). Check mode reports
"would start NAME" and runs nothing.

Each init system is a small class in ``MANAGERS`` that builds the commands and parses the status; they
never touch a host, so they are tested with recorded outputs.

```yaml
- name: nginx runs and starts at boot
  service: {name: nginx, state: started, enabled: true}
  become: true
```
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from ..connections.shells import POWERSHELL, ps_quote
from ..errors import TaskError
from ..results import CommandResult
from .base import Arg, Outcome, StepContext, StepKind, as_bool

#: service names: what init systems accept, and nothing a shell or a glob would read otherwise
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$")
_PATH = 'export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; '
#: how long a service may take to show as running (or stopped) after its start (stop) command returned
SETTLE_SECONDS = 3.0


@dataclass
class ServiceStatus:
    """What the init system says about one service."""

    found: bool
    running: bool = False
    #: True/False, or None when the init system cannot enable or disable it (systemd static units...)
    enabled: bool | None = False
    detail: str = ""  # the init system's own words: "static", "masked", "exit 4"...
    tool: str = ""  # sysv: update-rc.d, chkconfig or none; openrc: the runlevels it is in


class StatusError(Exception):
    pass


class InitManager:
    """How one init system is asked and told; every method only builds or parses text."""

    name: ClassVar[str] = ""
    #: its commands are PowerShell scripts (sent to its PowerShell), not shell command lines
    powershell: ClassVar[bool] = False
    #: changes need root (become) on the host
    needs_root: ClassVar[bool] = True

    def status(self, service: str) -> str:
        raise NotImplementedError

    def parse_status(self, service: str, result: CommandResult) -> ServiceStatus:
        raise NotImplementedError

    def action(self, service: str, action: str) -> str:
        """start, stop, restart or reload."""
        raise NotImplementedError

    def enable(self, service: str, enable: bool, status: ServiceStatus) -> str:
        raise NotImplementedError


def _last_line(result: CommandResult) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    # a PowerShell error record: the message, then "    + CategoryInfo ..." detail lines
    lines = [line for line in lines if not line.strip().startswith("+ ")] or lines
    return lines[-1].strip() if lines else f"exit {result.rc}"


def _found(result: CommandResult) -> dict[str, str] | None:
    """The ``key=value`` lines of a status script, or None when it says the service does not exist."""
    fields = _pairs(result.stdout)
    if "found" not in fields:
        raise StatusError(f"the status script failed (exit {result.rc}): {_last_line(result)}")
    return fields if fields["found"] == "yes" else None


def _pairs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class Systemd(InitManager):
    """systemd: ``systemctl show`` tells all at once; a unit it does not know has LoadState=not-found."""

    name = "systemd"
    #: UnitFileState values with no [Install] choice to make: enabled: true is satisfied, false impossible
    FIXED = ("static", "indirect", "generated", "transient", "alias")

    def status(self, service: str) -> str:
        return (f"LC_ALL=C systemctl show --no-pager -p Id -p LoadState -p ActiveState -p SubState "
                f"-p UnitFileState {shlex.quote(service)}")

    def parse_status(self, service: str, result: CommandResult) -> ServiceStatus:
        fields = _pairs(result.stdout)
        if result.rc != 0 or "LoadState" not in fields:
            raise StatusError(f"systemctl show failed (exit {result.rc}): {_last_line(result)}")
        if fields["LoadState"] == "not-found":
            return ServiceStatus(found=False)
        file_state = fields.get("UnitFileState", "")
        if file_state in ("enabled", "enabled-runtime"):
            enabled: bool | None = True
        elif file_state in self.FIXED or fields["LoadState"] == "masked":
            enabled = None
        else:
            enabled = False
        detail = "masked" if fields["LoadState"] == "masked" else file_state
        return ServiceStatus(found=True, running=fields.get("ActiveState") in ("active", "activating", "reloading"),
                             enabled=enabled, detail=detail)

    def action(self, service: str, action: str) -> str:
        return f"systemctl {action} {shlex.quote(service)}"

    def enable(self, service: str, enable: bool, status: ServiceStatus) -> str:
        return f"systemctl {'enable' if enable else 'disable'} {shlex.quote(service)}"


class SysV(InitManager):
    """SysV init scripts in /etc/init.d: ``service NAME status`` exits 0 running, 1-3 stopped (LSB);
    enabled means an S link in /etc/rc[2345].d; update-rc.d (Debian) or chkconfig (Red Hat) change that."""

    name = "sysv"

    def status(self, service: str) -> str:
        script = f"/etc/init.d/{service}"  # the name is checked: no quoting needed, and globs below work
        return _PATH + (
            f'if [ ! -f {script} ]; then echo found=no; exit 0; fi; echo found=yes; '
            f'if command -v service >/dev/null 2>&1; then service {service} status >/dev/null 2>&1; '
            f'else {script} status >/dev/null 2>&1; fi; echo status=$?; '
            f'enabled=no; for link in /etc/rc[2345].d/S[0-9][0-9]{service} /etc/rc.d/rc[2345].d/S[0-9][0-9]{service}; '
            f'do [ -e "$link" ] && enabled=yes; done; echo enabled=$enabled; '
            f'if command -v update-rc.d >/dev/null 2>&1; then echo tool=update-rc.d; '
            f'elif command -v chkconfig >/dev/null 2>&1; then echo tool=chkconfig; else echo tool=none; fi')

    def parse_status(self, service: str, result: CommandResult) -> ServiceStatus:
        fields = _found(result)
        if fields is None:
            return ServiceStatus(found=False)
        code = int(fields.get("status", "4") or 4)
        if code not in (0, 1, 2, 3):  # 4: unknown; anything else: a script without a status action
            raise StatusError(f"cannot tell whether {service} runs: `service {service} status` exited {code} "
                              "(LSB: 0 running, 3 stopped)")
        return ServiceStatus(found=True, running=code == 0, enabled=fields.get("enabled") == "yes",
                             detail=f"status exit {code}", tool=fields.get("tool", "none"))

    def action(self, service: str, action: str) -> str:
        return (_PATH + f"if command -v service >/dev/null 2>&1; then service {service} {action}; "
                f"else /etc/init.d/{service} {action}; fi")

    def enable(self, service: str, enable: bool, status: ServiceStatus) -> str:
        if status.tool == "update-rc.d":
            if enable:  # defaults makes the links if there are none; enable turns K links into S links
                return _PATH + f"update-rc.d {service} defaults && update-rc.d {service} enable"
            return _PATH + f"update-rc.d {service} disable"
        if status.tool == "chkconfig":
            return _PATH + (f"chkconfig --add {service} && chkconfig {service} on" if enable
                            else f"chkconfig {service} off")
        raise StatusError(f"cannot {'enable' if enable else 'disable'} {service}: neither update-rc.d nor "
                          "chkconfig is on the host (manager: sysv)")


class OpenRC(InitManager):
    """OpenRC (Alpine, Gentoo): ``rc-service NAME status`` exits 0 when started; enabled means the
    service is in a runlevel of ``rc-update show``."""

    name = "openrc"

    def status(self, service: str) -> str:
        return _PATH + (
            f"if ! rc-service --exists {service}; then echo found=no; exit 0; fi; echo found=yes; "
            f"rc-service {service} status >/dev/null 2>&1; echo status=$?; "
            f"echo \"runlevels=$(rc-update show | awk -v n={service} '$1 == n {{ for (i = 3; i <= NF; i++) "
            f"printf \"%s \", $i }}')\"")

    def parse_status(self, service: str, result: CommandResult) -> ServiceStatus:
        fields = _found(result)
        if fields is None:
            return ServiceStatus(found=False)
        runlevels = fields.get("runlevels", "").split()
        code = fields.get("status", "")
        return ServiceStatus(found=True, running=code == "0", enabled=bool(runlevels),
                             detail=f"status exit {code}", tool=" ".join(runlevels))

    def action(self, service: str, action: str) -> str:
        return _PATH + f"rc-service {service} {action}"

    def enable(self, service: str, enable: bool, status: ServiceStatus) -> str:
        if enable:
            return _PATH + f"rc-update add {service} default"
        return _PATH + " && ".join(f"rc-update del {service} {level}" for level in status.tool.split())


class WindowsServices(InitManager):
    """The Windows service control manager through PowerShell (a WinRM host): Win32_Service tells state
    and start mode at once (nothing for an unknown name); enabled means start mode Auto, ``start_mode``
    sets automatic, manual or disabled."""

    name = "windows"
    powershell = True
    needs_root = False  # the WinRM login user must be an administrator; there is no become
    START_MODES = {"automatic": "Auto", "manual": "Manual", "disabled": "Disabled"}
    _CMDLETS = {"start": "Start-Service -Name {0}", "stop": "Stop-Service -Name {0} -Force",
                "restart": "Restart-Service -Name {0} -Force"}

    def status(self, service: str) -> str:
        return (f"Get-CimInstance -ClassName Win32_Service -Filter \"Name='{service}'\" | "
                "Select-Object Name, DisplayName, State, StartMode | ConvertTo-Json -Compress")

    def parse_status(self, service: str, result: CommandResult) -> ServiceStatus:
        import json

        if result.rc != 0:
            raise StatusError(f"Get-CimInstance Win32_Service failed (exit {result.rc}): {_last_line(result)}")
        text = result.stdout.strip()
        if not text:
            return ServiceStatus(found=False)
        try:
            fields = json.loads(text)
        except ValueError:
            raise StatusError(f"Get-CimInstance Win32_Service answered {text[:80]!r}, not JSON") from None
        mode = str(fields.get("StartMode") or "")
        return ServiceStatus(found=True, running=fields.get("State") in ("Running", "Start Pending"),
                             enabled=mode == "Auto", detail=mode, tool=str(fields.get("DisplayName") or ""))

    def action(self, service: str, action: str) -> str:
        if action not in self._CMDLETS:
            raise StatusError(f"cannot {action} a Windows service: use state: restarted")
        return "$ErrorActionPreference = 'Stop'\n" + self._CMDLETS[action].format(ps_quote(service))

    def enable(self, service: str, enable: bool, status: ServiceStatus) -> str:
        return self.start_mode(service, "automatic" if enable else "manual")

    def start_mode(self, service: str, mode: str) -> str:
        startup = {"automatic": "Automatic", "manual": "Manual", "disabled": "Disabled"}[mode]
        return f"$ErrorActionPreference = 'Stop'\nSet-Service -Name {ps_quote(service)} -StartupType {startup}"


#: init system name -> its class; ``manager: auto`` takes the host's ``init_system`` fact
MANAGERS: dict[str, type[InitManager]] = {"systemd": Systemd, "sysv": SysV, "openrc": OpenRC,
                                          "windows": WindowsServices}


def _execute(ctx: StepContext, manager: InitManager, command: str) -> CommandResult:
    """A manager's command: a PowerShell script over WinRM, else a shell command line."""
    if manager.powershell:
        return ctx.connection.run_in(POWERSHELL, command, timeout=ctx.timeout)
    return ctx.run(command)

_VERBS = {"started": "start", "stopped": "stop", "restarted": "restart", "reloaded": "reload"}
_DONE = {**{verb: state for state, verb in _VERBS.items()}, "enable": "enabled", "disable": "disabled",
         **{f"start_mode:{mode}": f"set start mode {mode} of" for mode in WindowsServices.START_MODES}}


def plan_actions(status: ServiceStatus, state: str | None, enabled: bool | None) -> list[str]:
    """What to do, in order: start, stop, restart or reload, then enable or disable; [] when all is as asked.

    Raises StatusError (a message completing "service NAME ...") when it cannot be done."""
    actions = []
    if state in ("started", "restarted", "reloaded") and not status.running:
        actions.append("start")  # restarting or reloading a stopped service starts it
    elif state == "stopped" and status.running:
        actions.append("stop")
    elif state in ("restarted", "reloaded"):
        actions.append(_VERBS[state])
    if enabled is not None:
        if status.detail == "masked":
            raise StatusError("is masked: unmask it first")
        if status.enabled is None:
            if not enabled:  # a static unit has nothing to disable; enabled: true is already so
                raise StatusError(f"is {status.detail}: it cannot be disabled")
        elif status.enabled != enabled:
            actions.append("enable" if enabled else "disable")
    return actions


class Service(StepKind):
    name = "service"
    description = "Start, stop, restart or reload a service; enable or disable it at boot (systemd, SysV, OpenRC)."
    args = {
        "name": Arg("str", required=True, help="the service (systemd unit, /etc/init.d script, OpenRC service)"),
        "state": Arg("str", choices=("started", "stopped", "restarted", "reloaded"),
                     help="started/stopped act only when needed; restarted/reloaded always act"),
        "enabled": Arg("bool", help="start at boot (true) or not (false); unset: leave as it is"),
        "manager": Arg("str", default="auto", choices=("auto", *MANAGERS),
                       help="auto: the host's init_system fact"),
        "start_mode": Arg("str", choices=tuple(WindowsServices.START_MODES),
                          help="Windows: the startup type (automatic, manual, disabled)"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if args.get("state") is None and args.get("enabled") is None and args.get("start_mode") is None:
            raise TaskError(f"{where}: service needs state (started, stopped, restarted, reloaded), start_mode "
                            "or enabled")
        if args.get("enabled") is not None and args.get("start_mode") is not None:
            raise TaskError(f"{where}: service takes enabled or start_mode, not both")
        name = args.get("name")
        if isinstance(name, str) and "{{" not in name and "{%" not in name and not _NAME.match(name):
            raise TaskError(f"{where}: service name {name!r} is not valid (letters, digits and . _ @ : + -)")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        name = str(args["name"])
        if not _NAME.match(name):
            return Outcome(failed=True, msg=f"service name {name!r} is not valid (letters, digits and . _ @ : + -)")
        state = args.get("state")
        enabled = None if args.get("enabled") is None else as_bool(args["enabled"])
        wanted = str(args.get("manager") or "auto")
        if wanted == "auto":
            wanted = str(ctx.facts().get("init_system") or "unknown")
            if wanted not in MANAGERS:
                return Outcome(failed=True, msg=f"cannot tell this host's init system (facts say {wanted!r}): "
                                                f"set manager: to one of {', '.join(MANAGERS)}")
        manager = MANAGERS[wanted]()
        if manager.powershell != (POWERSHELL in ctx.connection.shells):
            return Outcome(failed=True, msg=f"service manager {manager.name} does not fit a "
                                            f"{ctx.connection.host.connection} host: use manager: auto")
        start_mode = args.get("start_mode")
        if start_mode and not isinstance(manager, WindowsServices):
            return Outcome(failed=True, msg="start_mode is for Windows services: use enabled")
        result = _execute(ctx, manager, manager.status(name))
        try:
            status = manager.parse_status(name, result)
        except StatusError as exc:
            return Outcome(failed=True, msg=f"cannot ask {manager.name} about {name}: {exc}", command=result.command,
                           rc=result.rc, stdout=result.stdout, stderr=result.stderr)
        if not status.found:
            return Outcome(failed=True, msg=f"service {name} not found (manager: {manager.name})",
                           command=result.command, rc=result.rc, stdout=result.stdout, stderr=result.stderr)

        try:
            actions = plan_actions(status, state, enabled)
            if state == "reloaded" and isinstance(manager, WindowsServices):
                raise StatusError("cannot be reloaded: Windows services have no reload, use state: restarted")
            if start_mode and status.detail != WindowsServices.START_MODES[start_mode]:
                actions.append(f"start_mode:{start_mode}")
                if start_mode == "disabled" and actions[0] == "start":
                    raise StatusError("cannot be started and disabled at once")
                if start_mode != "disabled" and actions[0] in ("start", "restart"):
                    actions.insert(0, actions.pop())  # a disabled service must be allowed to start first
        except StatusError as exc:
            return Outcome(failed=True, msg=f"service {name} {exc} (manager: {manager.name})")
        data = {"manager": manager.name, "running": status.running, "enabled": status.enabled,
                "state": "started" if status.running else "stopped"}
        if isinstance(manager, WindowsServices):
            data["start_mode"] = status.detail
        if not actions:
            return Outcome(msg=f"{name} is {'running' if status.running else 'stopped'}"
                               + ("" if status.enabled is None else f", start mode {status.detail}"
                                  if manager.powershell else f", {'enabled' if status.enabled else 'disabled'}"),
                           data=data)
        diff = self._diff(status, state, actions) if ctx.diff or ctx.check else ""
        def command_for(action: str) -> str:
            if action.startswith("start_mode:"):
                return manager.start_mode(name, action.split(":", 1)[1])
            if action in ("enable", "disable"):
                return manager.enable(name, action == "enable", status)
            return manager.action(name, action)

        needs_root = ""
        if not ctx.become and manager.needs_root:
            user = ctx.facts().get("user") or ctx.run("id -un", become=False).stdout.strip()
            if user != "root":
                needs_root = (f"service changes need root: add become: true "
                              f"(the login user is {user or 'not root'})")
        if ctx.check:
            # what the real run would do: the very commands, or why it would fail
            said = [a.replace("start_mode:", "set start mode ") for a in actions]
            try:
                commands = "; ".join(re.sub(r"^export PATH=\S+; ", "", command_for(a)) for a in actions)
            except StatusError as exc:
                return Outcome(failed=True, msg=f"would fail: service {name} {exc}", data=data)
            if needs_root:
                return Outcome(failed=True, msg=f"would fail: {needs_root}", diff=diff, data=data)
            return Outcome(changed=True, msg=f"would {' and '.join(said)} {name} ({manager.name}: {commands})",
                           diff=diff, data=data)
        if needs_root:
            return Outcome(failed=True, msg=needs_root)

        results: list[CommandResult] = []
        for action in actions:
            try:
                command = command_for(action)
            except StatusError as exc:
                return self._outcome(results, failed=True, msg=str(exc), data=data)
            result = _execute(ctx, manager, command)
            results.append(result)
            if result.rc != 0:
                return self._outcome(results, failed=True, data=data,
                                     msg=f"{action} {name} failed (exit {result.rc}): {_last_line(result)}")
        if any(a in ("start", "stop", "restart") for a in actions):
            should_run = "stop" not in actions
            after = self._settle(ctx, manager, name, should_run)
            data.update(running=after.running, state="started" if after.running else "stopped")
            if after.running != should_run:
                return self._outcome(results, failed=True, data=data, diff=diff,
                                     msg=f"{name} is {'still running' if after.running else 'not running'} "
                                         f"after {' and '.join(actions)} ({manager.name}: {after.detail})")
        if "enable" in actions or "disable" in actions:
            data["enabled"] = "enable" in actions
        for action in actions:
            if action.startswith("start_mode:"):
                data["start_mode"] = WindowsServices.START_MODES[action.split(":", 1)[1]]
                data["enabled"] = data["start_mode"] == "Auto"
        done = " and ".join(_DONE[a] for a in actions)
        return self._outcome(results, changed=True, msg=f"{done} {name}", data=data, diff=diff)

    def _settle(self, ctx: StepContext, manager: InitManager, name: str, running: bool) -> ServiceStatus:
        """The status after a start or stop, asked again for a few seconds until it shows."""
        deadline = time.monotonic() + SETTLE_SECONDS
        delay = 0.1
        while True:
            try:
                status = manager.parse_status(name, _execute(ctx, manager, manager.status(name)))
            except StatusError as exc:
                return ServiceStatus(found=True, running=not running, detail=str(exc))
            if status.running == running or time.monotonic() > deadline:
                return status
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    @staticmethod
    def _diff(status: ServiceStatus, state: str | None, actions: list[str]) -> str:
        lines = []
        before = "started" if status.running else "stopped"
        if state in ("restarted", "reloaded") or state == "started" and "start" in actions \
                or state == "stopped" and "stop" in actions:
            lines.append(f"state: {before} -> {state}")
        if "enable" in actions:
            lines.append("enabled: no -> yes")
        elif "disable" in actions:
            lines.append("enabled: yes -> no")
        for action in actions:
            if action.startswith("start_mode:"):
                lines.append(f"start_mode: {status.detail} -> {WindowsServices.START_MODES[action.split(':', 1)[1]]}")
        return "".join(line + "\n" for line in lines)

    @staticmethod
    def _outcome(results: list[CommandResult], *, changed: bool = False, failed: bool = False, msg: str = "",
                 data: dict[str, Any], diff: str = "") -> Outcome:
        return Outcome(changed=changed and not failed, failed=failed, msg=msg, diff=diff, data=data,
                       command=" && ".join(r.command for r in results) or None,
                       rc=results[-1].rc if results else None, stdout="".join(r.stdout for r in results),
                       stderr="".join(r.stderr for r in results))
