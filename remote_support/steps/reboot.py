"""``reboot``: reboot the host, wait until it is back, and prove it rebooted (its boot id changed).

The connection drops during the reboot; that is expected. The step then reconnects on the same
Connection object (``close()`` then ``open()`` again) until the host answers ``test_command`` with a boot
id different from the one read before, so later steps run on the rebooted host.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from ..errors import CommandTimeout, ConnectError, TaskError, UnreachableError
from .base import Arg, Outcome, StepContext, StepKind

DEFAULT_MSG = "remote-support reboot"
#: the reboot command itself gets this long before the host counts as going down under it
_COMMAND_TIMEOUT = 60.0


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
                                          "needs become: true unless the login user is root"),
        "boot_id_command": Arg("str", default="cat /proc/sys/kernel/random/boot_id",
                               help="prints a value that changes with every boot"),
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
        timeout = float(args["reboot_timeout"])
        boot_id_command = str(args["boot_id_command"])
        command = args.get("reboot_command") or f"shutdown -r now {shlex.quote(args.get('msg') or DEFAULT_MSG)}"

        before = ctx.run(boot_id_command)
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
                    now = ctx.run(boot_id_command, timeout=min(30.0, remaining))
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
