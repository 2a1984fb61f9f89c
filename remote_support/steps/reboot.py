"""``reboot``: reboot the host, wait until it is back, and prove it rebooted (its boot id changed).

The connection drops during the reboot; that is expected. The step then reconnects on the same
Connection object (``close()`` then ``open()`` again) until the host answers ``test_command`` with a boot
id different from the one read before, so later steps run on the rebooted host.

On a Windows host (WinRM) the defaults are ``shutdown /r /t 0 /c MSG`` and, as boot id,
Win32_OperatingSystem.LastBootUpTime read through PowerShell.
"""

from __future__ import annotations

import time
from typing import Any

from ..connections.shells import CMD, POWERSHELL, posix_quote
from ..errors import CommandTimeout, ConnectError, TaskError, UnreachableError
from .base import Arg, Outcome, StepContext, StepKind

DEFAULT_MSG = "remote-support reboot"
#: the reboot command itself gets this long before the host counts as going down under it
_COMMAND_TIMEOUT = 60.0


class _Posix:
    boot_id_command = "cat /proc/sys/kernel/random/boot_id"

    @staticmethod
    def reboot_command(msg: str) -> str:
        return f"shutdown -r now {posix_quote(msg)}"

    def read_boot_id(self, ctx: StepContext, command: str | None, timeout: float):
        return ctx.run(command or self.boot_id_command, timeout=timeout)


class _Windows:
    boot_id_command = "(Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToFileTimeUtc()"

    @staticmethod
    def reboot_command(msg: str) -> str:
        return f'shutdown /r /t 0 /c "{msg.replace(chr(34), chr(39))}"'

    def read_boot_id(self, ctx: StepContext, command: str | None, timeout: float):
        if command:  # the user's own: a cmd.exe command line
            return ctx.run(command, timeout=timeout)
        return ctx.connection.run_in(POWERSHELL, self.boot_id_command, timeout=timeout)


#: the connection's shell -> defaults and how the boot id is read; anything else is POSIX
PLATFORMS = {CMD: _Windows, POWERSHELL: _Windows}


class Reboot(StepKind):
    name = "reboot"
    description = "Reboot the host and wait until it is back with a new boot id."
    shell_args = frozenset({"reboot_command", "test_command", "boot_id_command"})
    args = {
        "reboot_timeout": Arg("float", default=600, help="seconds to wait for the host to come back"),
        "pre_reboot_delay": Arg("float", default=0, help="seconds to wait before rebooting"),
        "post_reboot_delay": Arg("float", default=0, help="seconds to wait after the reboot command before "
                                                          "trying to reconnect"),
        "test_command": Arg("str", default="whoami", help="must succeed for the host to count as back"),
        "reboot_command": Arg("str", help=f'default: shutdown -r now "{DEFAULT_MSG}" (with msg as the message); '
                                          "needs become: true unless the login user is root; on Windows "
                                          "shutdown /r /t 0 /c MSG"),
        "boot_id_command": Arg("str", help="prints a value that changes with every boot (default: "
                                           "cat /proc/sys/kernel/random/boot_id; Windows: LastBootUpTime)"),
        "msg": Arg("str", help=f"message logged and shown to users by shutdown (default: {DEFAULT_MSG})"),
    }

    #: seconds between reconnection attempts
    poll = 1.0

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value or {}, where)
        for key in ("reboot_timeout", "pre_reboot_delay", "post_reboot_delay"):
            value = args.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise TaskError(f"{where}: reboot {key} must not be negative")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        if ctx.check:
            return Outcome(skipped=True, msg="check mode: would reboot")
        if not ctx.connection.can_detect_reboot:
            return Outcome(failed=True, msg=f"reboot cannot follow a {ctx.host.connection} host through a reboot "
                                            "(it cannot reconnect and tell the boots apart)")
        timeout = float(args["reboot_timeout"])
        platform = PLATFORMS.get(ctx.connection.shell, _Posix)()
        own_boot_id = args.get("boot_id_command") or None
        boot_id_command = own_boot_id or platform.boot_id_command
        command = args.get("reboot_command") or platform.reboot_command(args.get("msg") or DEFAULT_MSG)

        before = platform.read_boot_id(ctx, own_boot_id, ctx.timeout or 60)
        if before.rc != 0 or not before.stdout.strip():
            return Outcome(failed=True, command=boot_id_command, rc=before.rc, stdout=before.stdout,
                           stderr=before.stderr, msg=f"cannot read the boot id with `{boot_id_command}`: "
                                                     f"{_reason(before)}; set boot_id_command")
        boot_id = before.stdout.strip()
        time.sleep(float(args["pre_reboot_delay"]))

        try:
            result = ctx.run(command, timeout=min(_COMMAND_TIMEOUT, timeout) or _COMMAND_TIMEOUT)
        except (UnreachableError, CommandTimeout):
            pass  # the host went down under the command: what a reboot looks like
        else:
            # rc None: the channel closed without an exit status, the host went down under the command
            if result.rc is not None and result.rc != 0:
                return Outcome(failed=True, command=command, rc=result.rc, stdout=result.stdout,
                               stderr=result.stderr, msg=f"the reboot command failed: {_reason(result)}")
        started = time.monotonic()
        deadline = started + timeout
        ctx.connection.close()
        time.sleep(float(args["post_reboot_delay"]))

        test_command = str(args["test_command"])
        connected = False
        last = "not tried yet"
        while True:
            try:
                if not connected:
                    ctx.connection.open()
                    connected = True
                remaining = max(1.0, deadline - time.monotonic())
                test = ctx.run(test_command, timeout=min(30.0, remaining))
                if test.rc != 0:
                    last = f"`{test_command}` failed: {_reason(test)}"
                else:
                    now = platform.read_boot_id(ctx, own_boot_id, min(30.0, remaining))
                    new_id = now.stdout.strip()
                    if now.rc != 0 or not new_id:
                        last = f"cannot read the boot id: {_reason(now)}"
                    elif new_id != boot_id:
                        elapsed = time.monotonic() - started
                        return Outcome(changed=True, command=command, msg=f"rebooted, back after {elapsed:.1f}s",
                                       data={"elapsed": round(elapsed, 3), "boot_id": new_id,
                                             "previous_boot_id": boot_id})
                    else:
                        last = "the boot id has not changed: the host has not gone down (yet)"
            except ConnectError as exc:
                last = exc.reason
                ctx.connection.close()
                connected = False
            if time.monotonic() + self.poll > deadline:
                return Outcome(failed=True, command=command,
                               msg=f"timed out after {timeout:g}s waiting for the host to come back "
                                   f"(last: {last})", data={"previous_boot_id": boot_id})
            time.sleep(self.poll)


def _reason(result) -> str:
    text = result.stderr.strip() or result.stdout.strip()
    return (text.splitlines()[-1] if text else "no output") + f" (exit code {result.rc})"
