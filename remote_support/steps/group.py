"""``group``: a local group is present (with a gid) or absent, as Ansible's ``group`` module.

```yaml
- group: {name: helpdesk, gid: 2001}
  become: true
```
"""

from __future__ import annotations

import shlex
from typing import Any

from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .probing import applied, check_name, last_line, pairs, planned, run_all, SBIN_PATH


class Group(StepKind):
    name = "group"
    description = "A local group is present (with a gid) or absent."
    args = {
        "name": Arg("str", required=True, help="the group name"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "gid": Arg("int", help="the numeric group id it must have"),
        "system": Arg("bool", default=False, help="create it as a system group (gid from the system range)"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        check_name(self.name, "name", args["name"], where)
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        name = args["name"]
        check_name(self.name, "name", name, ctx.where)
        q = shlex.quote(name)
        probe = ctx.run(SBIN_PATH + f"if e=$(getent group {q}); then echo found=yes; "
                        f"echo gid=$(printf '%s' \"$e\" | cut -d: -f3); else echo found=no; fi")
        fields = pairs(probe.stdout)
        if probe.rc != 0 or "found" not in fields:
            return Outcome(failed=True, msg=f"cannot look up group {name}: {last_line(probe)}")
        exists = fields["found"] == "yes"
        gid = args.get("gid")
        changes, commands = [], []
        if args["state"] == "absent":
            if exists:
                changes.append(f"remove group {name}")
                commands.append(f"groupdel {q}")
        elif not exists:
            changes.append(f"create group {name}" + (f" (gid {gid})" if gid is not None else ""))
            commands.append("groupadd " + (f"-g {int(gid)} " if gid is not None else "")
                            + ("-r " if as_bool(args.get("system")) else "") + q)
        elif gid is not None and fields.get("gid") != str(int(gid)):
            changes.append(f"change gid {fields.get('gid')} -> {int(gid)}")
            commands.append(f"groupmod -g {int(gid)} {q}")
        data = {"name": name, "state": args["state"]}
        if not changes:
            return Outcome(msg=f"group {name} is {'present' if exists else 'absent'}", data=data)
        if ctx.check:
            outcome = planned(ctx, changes, f"group {name}")
        else:
            outcome = applied(ctx, changes, f"group {name}", run_all(ctx, commands))
        outcome.data.update(data)
        return outcome
