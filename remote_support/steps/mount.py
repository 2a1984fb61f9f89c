"""``mount``: an /etc/fstab entry and the mount itself, as Ansible's ``mount`` module (ansible.posix).

States: ``present`` (the fstab entry only), ``mounted`` (the entry, and mounted now: the mount point is
created when missing, and a mount whose options changed is remounted), ``unmounted`` (unmounted now, fstab
untouched), ``absent`` (unmounted and the entry removed), ``remounted`` (``mount -o remount`` now).

The entry is found by its mount point; the file is written with the atomic writer of steps/files.py.
With another ``fstab`` file, mounting goes through ``mount -T FILE`` as Ansible does.

```yaml
- mount: {path: /srv/scratch, src: tmpfs, fstype: tmpfs, opts: "size=512m,mode=1777", state: mounted}
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

STATES = ("mounted", "present", "unmounted", "absent", "remounted")
_CONTENT_MARK = "--rs-fstab--"


def _escape(field: str) -> str:
    """fstab writes blanks in paths as octal escapes (\\040 for a space)."""
    return field.replace("\\", "\\134").replace(" ", "\\040").replace("\t", "\\011")


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _same_path(a: str, b: str) -> bool:
    return (a.rstrip("/") or "/") == (b.rstrip("/") or "/")


def fstab_line(src: str, path: str, fstype: str, opts: str, dump: int, passno: int) -> str:
    return f"{_escape(src)} {_escape(path)} {fstype} {opts} {dump} {passno}"


def edit_fstab(text: str, path: str, line: str | None) -> str:
    """``text`` with the entry for mount point ``path`` set to ``line`` (None: removed); the first entry
    is replaced, later ones for the same mount point dropped, a new one appended."""
    lines, placed = [], False
    for current in text.splitlines():
        fields = current.split()
        if fields and not current.lstrip().startswith("#") and len(fields) >= 2 and \
                _same_path(_unescape(fields[1]), path):
            if line is not None and not placed:
                # an equivalent entry written with other spacing is kept as it is
                lines.append(current if current.split() == line.split() else line)
                placed = True
            continue
        lines.append(current)
    if line is not None and not placed:
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


class Mount(StepKind):
    name = "mount"
    description = "An fstab entry, and the file system mounted or unmounted now."
    args = {
        "path": Arg("str", required=True, help="the mount point"),
        "src": Arg("str", help="the device, UUID=..., LABEL=..., server:/export or tmpfs"),
        "fstype": Arg("str", help="the file system type (ext4, nfs, tmpfs...)"),
        "opts": Arg("str", default="defaults", help="mount options, comma-separated"),
        "dump": Arg("int", default=0),
        "passno": Arg("int", default=0),
        "state": Arg("str", required=True, choices=STATES),
        "fstab": Arg("str", default="/etc/fstab", help="the fstab file to edit"),
        "boot": Arg("bool", default=True, help="false: add noauto, not mounted at boot"),
    }

    def validate(self, args: dict[str, Any], where: str) -> None:
        _check(args, where)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        q = shlex.quote
        path, fstab, state = str(args["path"]).rstrip("/") or "/", str(args["fstab"]), args["state"]
        probe = ctx.run(SBIN_PATH + f"""m=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint {q(path)} 2>/dev/null)
if [ -n "$m" ]; then
  echo mounted=yes; printf 'current=%s\\n' "$(printf '%s' "$m" | head -1)"; else echo mounted=no; fi
[ -d {q(path)} ] && echo dir=yes || echo dir=no
if [ -f {q(fstab)} ]; then echo fstab=yes; echo {_CONTENT_MARK}; cat -- {q(fstab)}; else echo fstab=no; fi""")
        head, _, text = probe.stdout.partition(_CONTENT_MARK + "\n")
        fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
        if probe.rc != 0 or "mounted" not in fields:
            return Outcome(failed=True, msg=f"cannot read the mounts or {fstab}: {last_line(probe)}{root_hint(ctx)}")
        mounted = fields["mounted"] == "yes"
        old_text = text if fields.get("fstab") == "yes" else ""
        new_text = old_text
        line = None
        if state in ("mounted", "present"):
            opts = str(args["opts"] or "defaults")
            if not as_bool(args.get("boot")) and "noauto" not in opts.split(","):
                opts = "noauto" if opts == "defaults" else f"{opts},noauto"
            line = fstab_line(str(args["src"]), path, str(args["fstype"]), opts, int(args["dump"]),
                              int(args["passno"]))
            new_text = edit_fstab(old_text, path, line)
        elif state == "absent":
            new_text = edit_fstab(old_text, path, None)
        fstab_changed = new_text != old_text
        current = fields.get("current", "").split()
        commands, changes = [], []
        if fstab_changed:
            changes.append(f"{'remove' if state == 'absent' else 'write'} the {fstab} entry for {path}")
        other = f"-T {q(fstab)} " if fstab != "/etc/fstab" else ""
        if state == "mounted":
            if not mounted:
                if fields.get("dir") != "yes":
                    commands.append(f"mkdir -p -- {q(path)}")
                commands.append(f"mount {other}{q(path)}")
                changes.append(f"mount {path}")
            elif fstab_changed:
                if current[:2] != [str(args["src"]), str(args["fstype"])]:
                    commands += [f"umount -- {q(path)}", f"mount {other}{q(path)}"]
                    changes.append(f"mount {args['src']} on {path} instead of {' '.join(current[:2])}")
                else:
                    commands.append(f"mount {other}-o remount {q(path)}")
                    changes.append(f"remount {path}")
        elif state in ("unmounted", "absent") and mounted:
            commands.append(f"umount -- {q(path)}")
            changes.append(f"unmount {path}")
        elif state == "remounted":
            if not mounted:
                return Outcome(failed=True, msg=f"cannot remount {path}: nothing is mounted there")
            commands.append(f"mount {other}-o remount {q(path)}")
            changes.append(f"remount {path}")
        data = {"path": path, "fstab": fstab, "mounted": mounted, "line": line}
        if not changes:
            return Outcome(msg=f"{path} is {'mounted' if mounted else 'not mounted'}"
                               + ("" if state == "unmounted" else f", {fstab} as wanted"), data=data)
        diff = ""
        if ctx.diff or ctx.check:
            diff = unified_diff(old_text, new_text, fstab) if fstab_changed else ""
            diff += "".join(f"{path}: {c}\n" for c in changes if not c.endswith(f"entry for {path}"))
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would {'; '.join(changes)}", diff=diff, data=data)
        if fstab_changed:
            written = write_file(ctx, fstab, new_text.encode(), mode=None if old_text else "0644")
            if written.failed:
                written.data.update(data)
                return written
        for command in commands:
            result = ctx.run(SBIN_PATH + command)
            if result.rc != 0:
                return Outcome(failed=True, command=command, rc=result.rc, stdout=result.stdout, stderr=result.stderr,
                               diff=diff, data=data, msg=f"`{command}` failed: {last_line(result)}{root_hint(ctx)}")
        return Outcome(changed=True, command="\n".join(commands) or None, rc=0 if commands else None,
                       msg="; ".join(changes), diff=diff if ctx.diff else "", data=data)


def _check(args: dict[str, Any], where: str) -> None:
    def literal(key: str) -> bool:
        value = args.get(key)
        return isinstance(value, str) and "{" not in value

    if args.get("state") in ("mounted", "present"):
        missing = [k for k in ("src", "fstype") if not args.get(k)]
        if missing:
            raise TaskError(f"{where}: mount with state {args['state']} needs {' and '.join(missing)}")
    for key in ("path", "fstab"):
        if literal(key) and not str(args[key]).startswith("/"):
            raise TaskError(f"{where}: mount {key} must be an absolute path, not {args[key]!r}")
    for key in ("src", "fstype", "opts"):
        if literal(key) and ("\n" in args[key] or (key != "src" and re.search(r"\s", args[key]))):
            raise TaskError(f"{where}: mount {key} {args[key]!r} must not contain blanks or line breaks")
    if literal("path") and "\n" in args["path"]:
        raise TaskError(f"{where}: mount path must be one line")
