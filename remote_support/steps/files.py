"""Writing one file on a host, shared by ``template`` and ``copy``: find out, diff, then write atomically.

:func:`write_file` first reads the destination with one read-only command (its real path, whether its
directory exists, mode, owner, group, sha256, and its text when a diff is wanted and it differs). When
nothing differs the step is ok; in check mode it only reports what would change. Otherwise one more
command, run as the step's user (``become`` applies), streams the new content on stdin into a private
temporary file beside the destination, checks its sha256, sets mode/owner/group, runs ``validate`` on
it, makes the backup, and ``mv``\\ s it over the destination, so readers see the old file or the new one,
never half of one. The content travels on the command's stdin rather than through SFTP to /tmp: that
way the file is written by whoever the step becomes (root or any ``become_user``) and never crosses
file systems, so the final ``mv`` stays atomic.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from ..connections.shells import WINDOWS_SHELLS
from ..errors import TaskError
from .base import Arg, Outcome, StepContext, as_bool, unified_diff

#: the old file is read for a diff only up to this size; bigger or binary files get a one-line note
DIFF_LIMIT = 256 * 1024

#: the arguments every file-writing kind has besides its source and ``dest``
FILE_ARGS = {
    "dest": Arg("str", required=True, help="the file to write on the host (its directory must exist)"),
    "mode": Arg("any", help='permissions as an octal string, e.g. "0644" (quoted: YAML reads 0644 as a number)'),
    "owner": Arg("str", help="user that owns the file (a name or a uid; changing it needs become)"),
    "group": Arg("str", help="group of the file (a name or a gid)"),
    "backup": Arg("bool", default=False, help="keep the old file as DEST.<date@time>~ when it changes"),
    "validate": Arg("str", help="command that checks the new file before it replaces DEST; %s is its path "
                                "(e.g. visudo -cf %s)"),
}

_MODE = re.compile(r"0?[0-7]{3,4}")
_CONTENT_MARK = "--rs-content--"

# exit codes of the write command, each with what went wrong
_TEMP_FAILED, _UPLOAD_FAILED, _ATTRS_FAILED, _VALIDATE_FAILED, _BACKUP_FAILED, _MOVE_FAILED = range(90, 96)


def parse_mode(value: Any, where: str, kind: str = "") -> int | None:
    """An octal mode string ("0644", "644", "2775") as an int; TaskError naming the step otherwise."""
    if value is None:
        return None
    what = f"{kind} argument 'mode'" if kind else "argument 'mode'"
    if isinstance(value, int) and not isinstance(value, bool):
        raise TaskError(f"{where}: {what} is the number {value}: quote it, e.g. mode: \"0644\" "
                        f"(unquoted, YAML reads 0644 as the decimal number 420)")
    text = str(value).strip()
    if not _MODE.fullmatch(text):
        raise TaskError(f"{where}: {what} is {value!r}: give octal digits such as \"0644\" or "
                        f"\"0755\" (symbolic modes are not supported)")
    return int(text, 8)


def check_file_args(args: Mapping[str, Any], where: str, kind: str) -> None:
    """Checks shared by the file-writing kinds, at load time for literal values and again after rendering."""
    mode = args.get("mode")
    if not (isinstance(mode, str) and "{" in mode):
        parse_mode(mode, where, kind)
    validate = args.get("validate")
    if isinstance(validate, str) and "{" not in validate and "%s" not in validate:
        raise TaskError(f"{where}: {kind} argument 'validate' must contain %s, where the path of the new file "
                        f"goes (e.g. validate: visudo -cf %s)")


@dataclass
class _Current:
    """The destination as the host has it now."""

    path: str  # the real path (a symlink is followed and its target written)
    state: str  # file, absent, nodir, dir, unreadable, badlink
    mode: int | None = None
    uid: str = ""
    user: str = ""
    gid: str = ""
    group: str = ""
    size: int = 0
    sha256: str = ""
    text: str | None = None  # for the diff, when asked for and small enough


def write_file(ctx: StepContext, dest: str, content: bytes, *, mode: str | int | None = None,
               owner: str | None = None, group: str | None = None, backup: Any = False,
               validate: str | None = None) -> Outcome:
    """Make ``dest`` on the host hold ``content`` with the given attributes; see the module docstring."""
    if ctx.connection.shell in WINDOWS_SHELLS:  # Windows hosts: the same plan in PowerShell (steps/winfiles.py)
        from .winfiles import write_windows_file

        return write_windows_file(ctx, dest, content, mode=mode, owner=owner, group=group, backup=backup,
                                  validate=validate)
    try:
        wanted_mode = parse_mode(mode, ctx.where)
    except TaskError as exc:
        return Outcome(failed=True, msg=str(exc))
    if validate and "%s" not in validate:
        return Outcome(failed=True, msg=f"{ctx.where}: validate must contain %s (the new file's path): {validate}")
    owner = str(owner) if owner not in (None, "") else None
    group = str(group) if group not in (None, "") else None
    checksum = hashlib.sha256(content).hexdigest()
    want_text = ctx.diff or ctx.check
    current = _probe(ctx, dest, checksum, want_text)
    data: dict[str, Any] = {"dest": dest, "path": current.path, "checksum": checksum, "size": len(content),
                            "backup": None}
    problem = _problem(current, dest, ctx)
    if problem:
        return Outcome(failed=True, msg=problem, data=data)

    exists = current.state == "file"
    content_changed = not exists or current.sha256 != checksum
    attributes = _attribute_changes(current, wanted_mode, owner, group) if exists else []
    if not content_changed and not attributes:
        return Outcome(msg=f"{dest} is up to date", data=data)

    diff = ""
    if want_text:
        diff = _diff(current, content, dest) if content_changed else ""
        if attributes:
            diff += f"{dest}: {', '.join(attributes)}\n"
    what = "create" if not exists else ("update" if content_changed else "change attributes of")
    if ctx.check:
        return Outcome(changed=True, msg=f"check mode: would {what} {dest}", diff=diff, data=data)

    if content_changed:
        result = ctx.run(_write_script(current.path, checksum, wanted_mode, owner, group, as_bool(backup),
                                       validate, exists), stdin=content)
        if result.rc != 0:
            return _write_failure(result, current.path, validate, data)
        found = re.search(r"^rs-backup=(.*)$", result.stdout, re.M)
        data["backup"] = found.group(1) if found else None
    else:
        result = ctx.run(_attributes_script(current.path, wanted_mode, owner, group))
        if result.rc != 0:
            return Outcome(failed=True, rc=result.rc, stderr=result.stderr, data=data,
                           msg=f"cannot set {', '.join(attributes)} on {current.path}: "
                               f"{_last_line(result.stderr)}{_become_hint(ctx)}")
    past = {"create": "created", "update": "updated", "change attributes of": "changed attributes of"}[what]
    return Outcome(changed=True, msg=f"{past} {dest}", diff=diff if (ctx.diff or ctx.check) else "", data=data)


# -- reading what is there


def _probe(ctx: StepContext, dest: str, checksum: str, want_text: bool) -> _Current:
    q = shlex.quote
    script = f"""p={q(dest)}
case "$p" in /*) ;; *) p="$(pwd)/$p" ;; esac
if [ -L "$p" ]; then p=$(readlink -f -- "$p") || {{ echo state=badlink; exit 0; }}; fi
printf 'path=%s\\n' "$p"
[ -d "$(dirname -- "$p")" ] || {{ echo state=nodir; exit 0; }}
[ -d "$p" ] && {{ echo state=dir; exit 0; }}
[ -e "$p" ] || {{ echo state=absent; exit 0; }}
[ -r "$p" ] || {{ echo state=unreadable; exit 0; }}
echo state=file
stat -c 'stat=%a %u %U %g %G %s' -- "$p" || exit 1
h=$(sha256sum < "$p") || exit 1
h=${{h%% *}}
echo "sha256=$h"
if [ {int(want_text)} = 1 ] && [ "$h" != {checksum} ] && [ "$(stat -c %s -- "$p")" -le {DIFF_LIMIT} ]; then
  echo {_CONTENT_MARK}; cat -- "$p"
fi"""
    result = ctx.run(script)
    head, _, text = result.stdout.partition(_CONTENT_MARK + "\n")
    fields = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    current = _Current(path=fields.get("path", dest), state=fields.get("state", ""))
    if result.rc != 0 or not current.state:
        current.state = "error:" + (_last_line(result.stderr) or f"exit code {result.rc}")
        return current
    if "stat" in fields:
        mode, uid, user, gid, group, size = fields["stat"].split(" ")
        current.mode, current.uid, current.user, current.gid, current.group = int(mode, 8), uid, user, gid, group
        current.size = int(size)
    current.sha256 = fields.get("sha256", "")
    if _CONTENT_MARK + "\n" in result.stdout:
        current.text = text
    return current


def _problem(current: _Current, dest: str, ctx: StepContext) -> str:
    if current.state == "nodir":
        parent = current.path.rsplit("/", 1)[0] or "/"
        return (f"cannot write {dest}: its directory {parent} does not exist on the host; create it first "
                f"(e.g. a command step: mkdir -p {shlex.quote(parent)})")
    if current.state == "dir":
        return f"cannot write {dest}: it is a directory; give the full path of the file"
    if current.state == "badlink":
        return f"cannot write {dest}: it is a symbolic link that cannot be resolved"
    if current.state == "unreadable":
        return f"cannot read {dest} to compare it{_become_hint(ctx) or ': permission denied'}"
    if current.state.startswith("error:"):
        return f"cannot inspect {dest}: {current.state[6:]}"
    return ""


def _attribute_changes(current: _Current, mode: int | None, owner: str | None, group: str | None) -> list[str]:
    changes = []
    if mode is not None and current.mode != mode:
        changes.append(f"mode {current.mode:04o} -> {mode:04o}")
    if owner is not None and owner not in ((current.uid,) if owner.isdigit() else (current.user,)):
        changes.append(f"owner {current.user} -> {owner}")
    if group is not None and group not in ((current.gid,) if group.isdigit() else (current.group,)):
        changes.append(f"group {current.group} -> {group}")
    return changes


def _diff(current: _Current, content: bytes, dest: str) -> str:
    new_text = _text(content)
    if current.state != "file":
        if new_text is None:
            return f"{dest}: binary/large file created ({len(content)} bytes)\n"
        return unified_diff("", new_text, dest)
    old_text = current.text if current.text is not None and "\ufffd" not in current.text \
        and "\x00" not in current.text else None
    if old_text is None or new_text is None:
        return f"{dest}: binary/large file changed ({current.size} -> {len(content)} bytes)\n"
    return unified_diff(old_text, new_text, dest)


def _text(content: bytes) -> str | None:
    if len(content) > DIFF_LIMIT or b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- writing


def _chown_spec(owner: str | None, group: str | None) -> str | None:
    if owner is None and group is None:
        return None
    return (owner or "") + (f":{group}" if group is not None else "")


def _attributes_script(path: str, mode: int | None, owner: str | None, group: str | None) -> str:
    q = shlex.quote
    commands = []
    spec = _chown_spec(owner, group)
    if spec:
        commands.append(f"chown -- {q(spec)} {q(path)}")
    if mode is not None:
        commands.append(f"chmod -- {mode:04o} {q(path)}")
    return " && ".join(commands)


def _write_script(path: str, checksum: str, mode: int | None, owner: str | None, group: str | None,
                  backup: bool, validate: str | None, exists: bool) -> str:
    q = shlex.quote
    directory, _, name = path.rpartition("/")
    directory = directory or "/"
    lines = [
        f"p={q(path)}",
        f't=$(mktemp {q(directory.rstrip("/") + "/." + name + ".rs-XXXXXXXX")}) || exit {_TEMP_FAILED}',
        "trap 'rm -f -- \"$t\"' EXIT",
        f'cat > "$t" || exit {_UPLOAD_FAILED}',
        'h=$(sha256sum < "$t") || exit 1',
        f'[ "${{h%% *}}" = {checksum} ] || {{ echo "the content arrived incomplete" >&2; exit {_UPLOAD_FAILED}; }}',
    ]
    # attributes not asked for: keep the old file's, or a new file gets what the umask allows
    if exists:
        if mode is None:
            lines.append(f'chmod --reference="$p" -- "$t" || exit {_ATTRS_FAILED}')
        if owner is None or group is None:
            lines.append('chown --reference="$p" -- "$t" 2>/dev/null || :')
    elif mode is None:
        lines.append(f'm=$(umask); chmod -- "$(printf %o $(( 0666 & ~m )))" "$t" || exit {_ATTRS_FAILED}')
    spec = _chown_spec(owner, group)
    if spec:
        lines.append(f'chown -- {q(spec)} "$t" || exit {_ATTRS_FAILED}')
    if mode is not None:
        lines.append(f'chmod -- {mode:04o} "$t" || exit {_ATTRS_FAILED}')
    if validate:
        command = validate.replace("%s", '"$t"')
        lines.append(f'( {command} ) < /dev/null || {{ echo "rs-validate-rc=$?" >&2; exit {_VALIDATE_FAILED}; }}')
    if backup and exists:
        lines += ['b="$p.$(date +%Y-%m-%d@%H:%M:%S)~"',
                  f'cp -p -- "$p" "$b" || exit {_BACKUP_FAILED}',
                  'printf "rs-backup=%s\\n" "$b"']
    lines += [f'mv -f -- "$t" "$p" || exit {_MOVE_FAILED}', "trap - EXIT"]
    return "\n".join(lines)


def _write_failure(result, path: str, validate: str | None, data: dict[str, Any]) -> Outcome:
    stderr = re.sub(r"^rs-validate-rc=.*\n?", "", result.stderr, flags=re.M)
    reason = _last_line(stderr) or f"exit code {result.rc}"
    directory = path.rpartition("/")[0] or "/"
    if result.rc == _VALIDATE_FAILED:
        code = re.search(r"^rs-validate-rc=(\d+)", result.stderr, re.M)
        output = _last_line(stderr) or _last_line(result.stdout)
        msg = (f"validation failed, {path} left as it was: `{validate}` exited "
               f"{code.group(1) if code else 'non-zero'}" + (f": {output}" if output else ""))
    else:
        msg = {
            _TEMP_FAILED: f"cannot create a temporary file in {directory}: {reason}",
            _UPLOAD_FAILED: f"cannot write the new content beside {path}: {reason}",
            _ATTRS_FAILED: f"cannot set the mode/owner/group of the new {path}: {reason}",
            _BACKUP_FAILED: f"cannot back up {path}, left as it was: {reason}",
            _MOVE_FAILED: f"cannot replace {path}: {reason}",
        }.get(result.rc, f"cannot write {path}: {reason}")
        if "ermission denied" in reason or "not permitted" in reason:
            msg += " (the login user may not do this: use become: true)"
    return Outcome(failed=True, msg=msg, rc=result.rc, stdout=result.stdout, stderr=stderr, data=data)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _become_hint(ctx: StepContext) -> str:
    return "" if ctx.become else " as the login user: use become: true"
