"""``file``: a path's state (directory, file, link, hard link, absent, touched) and its mode/owner/group.

As Ansible's ``file``: ``state: directory`` creates it and its parents (``recurse`` applies mode/owner/group
to everything inside), ``file`` only changes an existing file's attributes, ``touch`` creates or touches,
``link``/``hard`` make ``path`` a link to ``src`` (a file in the way is replaced only with ``force``),
``absent`` removes (a directory with everything in it; a link, not what it points to). Without ``state``
the path keeps the type it has. Modes are octal (``"0750"``) or symbolic (``u=rwx,g=rx,o=``, ``g-w``).

One read-only command finds out what is there; check mode stops at that. The path is walked as
steps/files.py walks it: a link a less privileged user planted is never followed (a link at ``path`` is
refused for directory/file/touch unless ``follow: true``, and then only a trusted one); a directory is
changed from inside it (``chmod .``), a file through an open descriptor, recursive changes with
``chown -R -P``/``chmod -R``, which do not follow links inside the tree.

```yaml
- file: {path: /srv/app/logs, state: directory, owner: app, group: app, mode: "u=rwx,g=rx,o=", recurse: true}
  become: true
```
"""

from __future__ import annotations

import shlex
from collections import Counter
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .editing import templated
from .files import RACED_RC as _RACED
from .files import REFUSED_RC as _REFUSED
from .files import attributes_script, check_path, refusal, walk_script
from .modes import Mode, parse_mode

STATES = ("file", "directory", "link", "hard", "absent", "touch")


class File(StepKind):
    name = "file"
    description = "Directories, links, absent or touched files, and mode/owner/group (Ansible's file)."
    args = {
        "path": Arg("str", help="the path on the host (aliases: dest, name)"),
        "dest": Arg("str", help="same as path"),
        "name": Arg("str", help="same as path"),
        "state": Arg("str", choices=STATES, help="default: what the path is now (file when it does not exist)"),
        "src": Arg("str", help="what a link points to (state: link / hard)"),
        "mode": Arg("any", help='octal as a string ("0755") or symbolic ("u=rwx,go=rx", "g-w")'),
        "owner": Arg("str", help="user (a name or uid)"),
        "group": Arg("str", help="group (a name or gid)"),
        "recurse": Arg("bool", default=False, help="state: directory: apply mode/owner/group to all inside"),
        "force": Arg("bool", default=False, help="link/hard: replace a file that is in the way; link: allow "
                                                 "a src that does not exist yet"),
        "follow": Arg("bool", default=False, help="path may be a link (of root or the step's user): act on what "
                                                  "it points to"),
        "modification_time": Arg("str", choices=("now", "preserve"), help="touch: now (default) or preserve"),
        "access_time": Arg("str", choices=("now", "preserve"), help="touch: now (default) or preserve"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        paths = [n for n in ("path", "dest", "name") if args.get(n) is not None]
        if len(paths) != 1:
            raise TaskError(f"{where}: file needs the argument 'path' (once: dest and name are the same)"
                            if not paths else f"{where}: file takes one of path, dest, name, not {', '.join(paths)}")
        args["path"] = args[paths[0]]
        args.pop("dest", None)
        args.pop("name", None)
        for name in ("recurse", "force", "follow"):
            if isinstance(args.get(name), str) and not templated(args[name]):
                args[name] = as_bool(args[name])
        _check(args, where)
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        from .winfiles import needs_posix

        refused = needs_posix(ctx, self.name, "win_file")
        if refused:
            return refused
        try:
            _check(args, ctx.where, rendered=True)
            mode = parse_mode(args.get("mode"), ctx.where, self.name)
        except TaskError as exc:
            return Outcome(failed=True, msg=str(exc))
        path = str(args["path"])
        state = args.get("state")
        owner = str(args["owner"]) if args.get("owner") not in (None, "") else None
        group = str(args["group"]) if args.get("group") not in (None, "") else None
        follow, recurse, force = as_bool(args.get("follow")), as_bool(args.get("recurse")), as_bool(args.get("force"))
        keep = state in ("link", "hard", "absent")
        src = None if args.get("src") is None else str(args["src"])
        now = _probe(ctx, path, follow=follow and not keep, keep_link=keep, src=src if keep else None,
                     recurse=recurse and state in ("directory", None))
        data: dict[str, Any] = {"path": now.get("path", path), "state": state}
        stopped = now.get("state")
        if stopped == "nodir" and state in ("directory", "absent"):
            now = {"type": "absent", "path": path, "umask": now.get("umask", "0022")}
        elif stopped:
            return Outcome(failed=True, msg=refusal(now, path) or f"cannot inspect {path}", data=data)
        if "error" in now:
            return Outcome(failed=True, msg=f"cannot inspect {path}: {now['error']}{_hint(ctx)}", data=data)
        kind = now["type"]
        state = state or (kind if kind in ("file", "directory", "link") else "file")
        data["state"] = state
        try:
            plan, notes = _plan(now, state, path, src, mode, owner, group, recurse, force, args)
        except _Refused as exc:
            return Outcome(failed=True, msg=str(exc), data=data)
        # as Ansible: directories created on the way get the same mode/owner/group as the last one
        made = _made_attributes(mode, owner, group, int(now.get("umask") or "0022", 8)) \
            if state == "directory" and now["type"] == "absent" else ""
        if not notes:
            return Outcome(msg=f"{path} is {_describe(state, src)}", data=data)
        diff = f"{path}: {', '.join(notes)}\n" if (ctx.diff or ctx.check) else ""
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would {'; '.join(notes)}", diff=diff, data=data)
        script = walk_script(path, follow=follow and not keep, keep_link=keep, refuse_rc=_REFUSED,
                             mkdir=state == "directory", on_mkdir=made) + plan
        result = ctx.run(script)
        if result.rc != 0:
            fields = _fields(result.stdout)
            msg = (refusal(fields, path) if result.rc in (_REFUSED, _RACED) else None) or \
                f"cannot change {path} ({'; '.join(notes)}): {_last(result.stderr) or f'exit code {result.rc}'}" \
                f"{_hint(ctx)}"
            return Outcome(failed=True, msg=msg, rc=result.rc, stdout=result.stdout, stderr=result.stderr, data=data)
        return Outcome(changed=True, msg="; ".join(notes), diff=diff, data=data)


class _Refused(Exception):
    pass


def _check(args: dict[str, Any], where: str, rendered: bool = False) -> None:
    state = args.get("state")
    check_path(args.get("path"), where, "file", "path")
    mode = args.get("mode")
    if not templated(mode):
        parse_mode(mode, where, "file")
    if state in ("link", "hard") and args.get("src") is None:
        raise TaskError(f"{where}: file with state: {state} needs src (what the link points to)")
    if args.get("src") is not None and state not in ("link", "hard") and not templated(state):
        raise TaskError(f"{where}: file src is only for state: link or hard")
    if as_bool(args.get("recurse")) and args.get("recurse") is not None and state not in ("directory", None) \
            and not templated(state) and not templated(args.get("recurse")):
        raise TaskError(f"{where}: file recurse is only for state: directory")
    if state == "absent" and any(args.get(n) is not None for n in ("mode", "owner", "group")):
        raise TaskError(f"{where}: file with state: absent takes no mode, owner or group")
    if isinstance(args.get("src"), str):
        check_path(args["src"], where, "file", "src")


def _probe(ctx: StepContext, path: str, *, follow: bool, keep_link: bool, src: str | None,
           recurse: bool) -> dict[str, str]:
    q = shlex.quote
    lines = [walk_script(path, follow=follow, keep_link=keep_link),
             'printf "rs-path=%s\\nrs-umask=%s\\n" "$rs_path" "$(umask)"',
             'if [ -L "$rs_name" ]; then t=link; elif [ -d "$rs_name" ]; then t=directory; '
             'elif [ -f "$rs_name" ]; then t=file; elif [ -e "$rs_name" ]; then t=special; else t=absent; fi',
             'echo "rs-type=$t"',
             '[ $t = absent ] || stat -c "rs-stat=%a %u %U %g %G %d:%i %h" -- "$rs_name" || exit 1',
             '[ $t = link ] && printf "rs-target=%s\\n" "$(readlink -- "$rs_name")"',
             '[ $t = directory ] && [ -n "$(ls -A -- "$rs_name" 2>/dev/null | head -1)" ] && echo rs-nonempty=1']
    if src is not None:
        lines.append(f's={q(src)}; if [ -L "$s" ]; then echo rs-src=link; elif [ -f "$s" ]; then '
                     f'echo rs-src=file; stat -c "rs-srcid=%d:%i" -- "$s"; elif [ -e "$s" ]; then echo rs-src=other; '
                     f'else echo rs-src=absent; fi')
    if recurse:
        # what the tree holds, counted by (mode, owner, group, type): enough to know whether anything differs
        lines.append('if [ $t = directory ]; then (cd -P -- "$rs_name" && find . -mindepth 1 ! -type l '
                     '-printf "%m %u %U %g %G %y\\n" | sort | uniq -c | sed "s/^ */rs-tree=/"); fi')
    result = ctx.run("\n".join(lines) + "\nexit 0")
    fields = _fields(result.stdout)
    fields["tree"] = "\n".join(line[8:] for line in result.stdout.splitlines() if line.startswith("rs-tree="))
    if result.rc != 0 or ("type" not in fields and "state" not in fields):
        fields["error"] = _last(result.stderr) or f"exit code {result.rc}"
    return fields


def _fields(stdout: str) -> dict[str, str]:
    return {k[3:]: v for k, v in (line.split("=", 1) for line in stdout.splitlines() if "=" in line)
            if k.startswith("rs-")}


def _plan(now: dict[str, str], state: str, path: str, src: str | None, mode: Mode | None, owner: str | None,
          group: str | None, recurse: bool, force: bool, args: dict[str, Any]) -> tuple[str, list[str]]:
    """The shell to run after the walk (in the path's directory), and what it changes, as short notes."""
    q = shlex.quote
    kind = now["type"]
    umask = int(now.get("umask") or "0022", 8)
    stat_ = (now.get("stat") or "").split(" ")
    current_mode = int(stat_[0], 8) if len(stat_) > 1 else None
    notes: list[str] = []
    lines: list[str] = []
    if state == "absent":
        if kind == "absent":
            return "", []
        return 'rm -rf -- "./$rs_name"\n', [f"remove {path}" + (" and everything in it" if kind == "directory"
                                                                 and now.get("nonempty") else "")]
    if state in ("file", "directory") and kind == "special":
        raise _Refused(f"{path} is a device, socket or pipe, not a {state}")
    if state == "file":
        if kind == "absent":
            raise _Refused(f"{path} does not exist: state: file only changes an existing file; use state: touch "
                           "(or copy) to create it")
        if kind != "file":
            raise _Refused(f"{path} is a {kind}, not a file")
    if state == "directory" and kind not in ("directory", "absent"):
        raise _Refused(f"{path} exists and is a {kind}, not a directory: remove it first (state: absent)")
    if state in ("link", "hard"):
        return _plan_link(now, state, path, str(src), owner, group, force)

    created = kind == "absent"
    if created:
        if state == "directory":
            lines.append('[ -d "$rs_name" ] || mkdir -- "$rs_name" || exit 1')
            notes.append(f"create directory {path}")
        else:  # touch
            lines.append(f'(umask {umask:04o}; set -C; : > "$rs_name") || exit 1')
            notes.append(f"create {path}")
    is_dir = state == "directory" or kind == "directory"
    base = current_mode if not created else ((0o777 if is_dir else 0o666) & ~umask)
    wanted = mode.resolve(base, is_dir, umask) if mode else None
    if wanted is not None and wanted != base:
        notes.append(f"mode {base:04o} -> {wanted:04o}")
    if owner is not None and (created or owner not in (stat_[1], stat_[2])):
        notes.append(f"owner {'' if created else stat_[2] + ' -> '}{owner}")
    if group is not None and (created or group not in (stat_[3], stat_[4])):
        notes.append(f"group {'' if created else stat_[4] + ' -> '}{group}")
    spec = (owner or "") + (f":{group}" if group is not None else "") if (owner or group) else None
    attrs_needed = any(n.startswith(("mode", "owner", "group")) for n in notes) or (created and (spec is not None or wanted is not None))
    if is_dir:
        tree = _tree_changes(now.get("tree", ""), mode, owner, group, umask) if recurse else []
        notes += tree
        if attrs_needed or tree:
            lines += ['rs_id=$(stat -c %d:%i -- "$rs_name") && cd -P -- "$rs_name" && '
                      f'[ "$(stat -c %d:%i .)" = "$rs_id" ] || {{ echo rs-state=raced; exit {_RACED}; }}']
            if recurse and tree:
                if spec:
                    lines.append(f"chown -R -P -h -- {q(spec)} .")
                if mode:
                    lines.append(f"chmod -R -- {q(_chmod_spec(mode))} .")
            if spec:
                lines.append(f"chown -- {q(spec)} .")
            if wanted is not None:
                lines.append(f"chmod -- {wanted:04o} .")
    elif attrs_needed:
        lines.append(attributes_script(wanted, owner, group))
    if state == "touch":
        times = [flag for flag, name in (("-m", "modification_time"), ("-a", "access_time"))
                 if (args.get(name) or "now") == "now"]
        if times and not created:
            lines.append(f'touch -c -h {" ".join(times)} -- "./$rs_name"')
            notes.append(f"touch {path}")
    return "\n".join(lines) + "\n", notes


def _plan_link(now: dict[str, str], state: str, path: str, src: str, owner: str | None, group: str | None,
               force: bool) -> tuple[str, list[str]]:
    q = shlex.quote
    kind = now["type"]
    stat_ = (now.get("stat") or "").split(" ")
    spec = (owner or "") + (f":{group}" if group is not None else "") if (owner or group) else None
    source = now.get("src", "absent")
    notes: list[str] = []
    if state == "link":
        if source == "absent" and not force:
            raise _Refused(f"the link's src {src} does not exist (relative to {path}'s directory): "
                           "use force: true to make a link to it anyway")
        same = kind == "link" and now.get("target") == src
    else:
        if source == "absent":
            raise _Refused(f"the hard link's src {src} does not exist")
        if source != "file":
            raise _Refused(f"the hard link's src {src} is a {source}: hard links here are to regular files")
        same = kind == "file" and len(stat_) > 5 and stat_[5] == now.get("srcid")
    if not same:
        if kind == "directory":
            raise _Refused(f"{path} is a directory: refusing to make it a {'symbolic' if state == 'link' else 'hard'} "
                           "link (remove it first with state: absent)")
        if kind in ("file", "special") and not force and not (state == "hard" and kind == "link"):
            raise _Refused(f"{path} is a {'file' if kind == 'file' else kind}: refusing to replace it with a link "
                           "(use force: true)")
        what = f"symbolic link to {src}" if state == "link" else f"hard link to {src}"
        notes.append(f"{'replace ' + path + ' with' if kind != 'absent' else 'create'} {what}"
                     + (f" (was a link to {now.get('target')})" if kind == "link" else ""))
    if spec and (not same or (owner and owner not in (stat_[1], stat_[2])) or (group and group not in
                                                                             (stat_[3], stat_[4]))):
        notes.append(f"owner/group {spec}")
    lines: list[str] = []
    if not same:
        make = f"ln -s -- {q(src)} \"$t\"" if state == "link" else f"ln -P -- {q(src)} \"$t\""
        lines += ['t=$(mktemp -u "./.$rs_name.rs-XXXXXXXX") || exit 1',
                  f'{make} || exit 1',
                  'mv -fT -- "$t" "./$rs_name" || { rm -f -- "$t"; exit 1; }']
    if spec and notes:
        lines.append(f'chown -h -- {q(spec)} "./$rs_name"' if state == "link" else attributes_script(None, owner, group))
    return "\n".join(lines) + "\n", notes


def _made_attributes(mode: Mode | None, owner: str | None, group: str | None, umask: int) -> str:
    """Shell (on ``.``) for a directory the walk just created."""
    q = shlex.quote
    spec = (owner or "") + (f":{group}" if group is not None else "") if (owner or group) else None
    commands = [f"chown -- {q(spec)} ."] if spec else []
    if mode is not None:
        commands.append(f"chmod -- {mode.resolve(None, True, umask):04o} .")
    return " && ".join(commands)


def _chmod_spec(mode: Mode) -> str:
    """A mode for ``chmod -R``: chmod reads symbolic modes as Ansible does (with the same umask: same shell)."""
    return f"{mode.octal:04o}" if mode.octal is not None else str(mode.symbolic)


def _tree_changes(tree: str, mode: Mode | None, owner: str | None, group: str | None, umask: int) -> list[str]:
    """How many entries inside a directory would change, from the counted (mode, owner, group, type) lines."""
    counts: Counter[str] = Counter()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) != 7:
            continue
        number, octal, user, uid, grp, gid, kind = int(parts[0]), int(parts[1], 8), *parts[2:]
        if mode is not None and mode.resolve(octal, kind == "d", umask) != octal:
            counts["mode"] += number
        if owner is not None and owner not in (user, uid):
            counts["owner"] += number
        if group is not None and group not in (grp, gid):
            counts["group"] += number
    return [f"{what} of {number} entr{'y' if number == 1 else 'ies'} inside" for what, number in counts.items()]


def _describe(state: str, src: str | None) -> str:
    return {"link": f"a link to {src}", "hard": f"a hard link to {src}", "absent": "absent",
            "directory": "a directory as wanted", "touch": "as wanted", "file": "a file as wanted"}[state]


def _last(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _hint(ctx: StepContext) -> str:
    return "" if ctx.become else " (as the login user: use become: true if it needs root)"
