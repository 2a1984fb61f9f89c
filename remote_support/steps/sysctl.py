"""``sysctl``: a kernel setting has a value now (``sysctl -w``) and after a reboot (a line in a
/etc/sysctl.d file), as Ansible's ``sysctl`` module.

The file is edited as Ansible edits it: the first ``key=value`` line for the key is replaced, later
duplicates are dropped, a missing key is appended; ``state: absent`` drops every line of the key. It is
written with the atomic file writer of steps/files.py. When the file changed and ``reload`` is set, the
file is applied with ``sysctl -p FILE``; otherwise, when the running value differs and ``sysctl_set`` is
set (the default here, unlike Ansible, so that "runtime and persisted" holds), ``sysctl -w`` sets it.

```yaml
- sysctl: {name: vm.swappiness, value: "10"}
  become: true
```
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool, unified_diff
from .files import write_file
from .probing import SBIN_PATH, last_line, root_hint

DEFAULT_FILE = "/etc/sysctl.d/99-remote-support.conf"
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$")
_CONTENT_MARK = "--rs-sysctl-file--"


def _canonical(key: str) -> str:
    return key.replace("/", ".")


def edit_sysctl_file(text: str, key: str, value: str | None) -> str:
    """``text`` with ``key`` set to ``value`` (None: removed), as Ansible's sysctl module edits it."""
    lines, placed = [], False
    for line in text.splitlines():
        stripped = line.strip()
        name = stripped.split("=", 1)[0].strip() if "=" in stripped and not stripped.startswith(("#", ";")) else None
        if name is not None and _canonical(name) == _canonical(key):
            if value is not None and not placed:
                lines.append(f"{key}={value}")
                placed = True
            continue
        lines.append(line)
    if value is not None and not placed:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n" if lines else ""


def _normal(value: str) -> str:
    """sysctl prints several numbers separated by tabs: compare them word by word."""
    return " ".join(str(value).split())


class Sysctl(StepKind):
    name = "sysctl"
    description = "A kernel setting has a value at runtime and in a sysctl.d file (or is dropped from the file)."
    args = {
        "name": Arg("str", required=True, help="the key, e.g. vm.swappiness"),
        "value": Arg("any", help="its value (required with state present)"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "sysctl_file": Arg("str", default=DEFAULT_FILE, help="where it is persisted"),
        "reload": Arg("bool", default=True, help="apply the file with sysctl -p FILE when it changed"),
        "sysctl_set": Arg("bool", default=True, help="set the running value with sysctl -w when it differs"),
        "ignoreerrors": Arg("bool", default=False, help="sysctl -e: ignore unknown keys when reloading"),
    }

    def validate(self, args: dict[str, Any], where: str) -> None:
        _check(args, where)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        key, path = str(args["name"]), str(args["sysctl_file"])
        present = args["state"] == "present"
        value = _normal(args["value"]) if present else None
        q = shlex.quote
        probe = ctx.run(SBIN_PATH + f"""if v=$(sysctl -n {q(key)} 2>&1); then
  printf 'known=yes\\nvalue=%s\\n' "$(printf '%s' "$v" | tr '\\t\\n' '  ')"
else printf 'known=no\\nerror=%s\\n' "$v" | head -2; fi
if [ -f {q(path)} ]; then echo file=yes; echo {_CONTENT_MARK}; cat -- {q(path)}; else echo file=no; fi""")
        head, _, text = probe.stdout.partition(_CONTENT_MARK + "\n")
        fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
        if probe.rc != 0 or "known" not in fields:
            return Outcome(failed=True, msg=f"cannot read sysctl {key} or {path}: {last_line(probe)}{root_hint(ctx)}")
        if present and fields["known"] != "yes":
            return Outcome(failed=True, msg=f"the kernel has no setting {key}: {fields.get('error', '')}".rstrip(": "))
        running = _normal(fields.get("value", ""))
        old_text = text if fields.get("file") == "yes" else ""
        new_text = edit_sysctl_file(old_text, key, value)
        file_changes = new_text != old_text
        runtime_changes = present and running != value
        data = {"name": key, "value": value, "running": running, "sysctl_file": path}
        changes = []
        if file_changes:
            changes.append(f"{'set' if present else 'remove'} {key} in {path}")
        reload_file = file_changes and as_bool(args.get("reload"))
        set_now = runtime_changes and (reload_file or as_bool(args.get("sysctl_set")))
        if set_now:
            changes.append(f"{key} {running} -> {value} now")
        if not changes:
            where = f", as in {path}" if present else f", not in {path}"
            return Outcome(msg=f"{key} is {running}{where}", data=data)
        diff = ""
        if ctx.diff or ctx.check:
            diff = unified_diff(old_text, new_text, path) if file_changes else ""
            if set_now:
                diff += f"{key} (running): {running} -> {value}\n"
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would {'; '.join(changes)}", diff=diff, data=data)
        commands = []
        if file_changes:
            written = write_file(ctx, path, new_text.encode(), mode=None)
            if written.failed:
                written.data.update(data)
                return written
        flag = "-e " if as_bool(args.get("ignoreerrors")) else ""
        if reload_file:
            commands.append(f"sysctl {flag}-p {q(path)}")
        elif set_now:
            commands.append(f"sysctl -w {q(key + '=' + str(value))}")
        for command in commands:
            result = ctx.run(SBIN_PATH + command)
            if result.rc != 0:
                return Outcome(failed=True, command=command, rc=result.rc, stdout=result.stdout, stderr=result.stderr,
                               diff=diff, data=data, msg=f"`{command}` failed: {last_line(result)}{root_hint(ctx)}")
        return Outcome(changed=True, command="\n".join(commands) or None, rc=0, msg="; ".join(changes),
                       diff=diff if ctx.diff else "", data=data)


def _check(args: dict[str, Any], where: str) -> None:
    key = args.get("name")
    if isinstance(key, str) and "{" not in key and not _KEY.match(key):
        raise TaskError(f"{where}: sysctl name {key!r} is not a sysctl key (such as vm.swappiness)")
    value = args.get("value")
    if args.get("state") == "present" and value is None:
        raise TaskError(f"{where}: sysctl with state present needs value")
    if args.get("state") == "absent" and value is not None:
        raise TaskError(f"{where}: sysctl with state absent takes no value")
    if value is not None and not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise TaskError(f"{where}: sysctl value must be a string or a number, not {type(value).__name__}")
    if isinstance(value, str) and ("\n" in value or not value.strip()) and "{" not in value:
        raise TaskError(f"{where}: sysctl value must be one non-empty line")
    path = args.get("sysctl_file")
    if isinstance(path, str) and "{" not in path and not path.startswith("/"):
        raise TaskError(f"{where}: sysctl sysctl_file must be an absolute path, not {path!r}")
