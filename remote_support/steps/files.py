"""Writing files on a host safely, shared by every kind that writes one (``copy``, ``template``, ``lineinfile``...).

The API, for step kinds:

- :func:`check_path` ``(value, where, kind, arg="dest")`` at load (literal values) and at run (rendered
  ones): a path with a newline or another control character is refused.
- :func:`write_file` ``(ctx, dest, content, *, mode, owner, group, backup, validate, follow=False)`` makes
  ``dest`` hold ``content`` (bytes) and returns the step's Outcome (ok / changed / failed, diff, data with
  ``dest``, ``path``, ``checksum``, ``backup``). Check mode reports and writes nothing.
- :func:`inspect_file` ``(ctx, path, *, follow=False, content="none"|"login"|"step")`` reads what is at
  ``path`` (a :class:`FileState`), with its text when asked: ``"step"`` reads it as the step's user
  (become applies: kinds that edit a file need its text), ``"login"`` only as the login user (for a diff).
- :func:`walk_script` ``(path, follow=..., refuse_rc=..., mkdir=..., keep_link=...)``: the shell prologue the
  other two use, for kinds that act on a path with their own commands (``file``): it leaves the shell in
  the path's directory, with ``$rs_name`` the last component; :func:`refusal` words its ``rs-state=`` lines.
- :func:`fill_script` ``(fill, mode=, owner=, group=, exists=)``: after :func:`walk_script`, the same safe
  write with content the host makes itself (``get_url``); :func:`write_failure` words its exit codes.
- :func:`parse_mode` an octal mode as an int (for kinds that need a number); ``mode`` arguments of
  ``write_file`` may also be symbolic (``u=rw,g=r,o=``, see steps/modes.py).

**Links a less privileged user planted are never followed.** The host walks the path from ``/`` one
directory at a time with ``cd -P``, checking after each step that it is in the directory it looked at
(the physical ``$PWD`` is the parent's plus the name), so a directory swapped for a link half-way is
noticed; once there, every command works on names in that directory, which no later rename of an
ancestor can redirect. A symbolic link among the directories is followed only when it is owned by root or by the step's user and no one else
can replace it (its directory is theirs, not world-writable, or sticky); otherwise the step fails, naming
the link. A destination that is itself a link is refused unless the step says ``follow: true``, and even
then only such a trusted link is followed (a link another user put in /tmp never is). ``..`` in a path is
refused. The new content goes into a temporary file created exclusively (``set -C``) in that directory,
is checked (sha256), gets its mode and owner through the open file descriptor (``/proc/self/fd``, never
by a name someone could swap), is validated, and is ``rename``\\ d over the name, which replaces a link
planted in the meantime instead of writing through it. The backup is a hard link to the old file.

**A diff never shows what the login user could not read**: with become the old text is read by a second
command as the login user; when that one may not read it, the diff says so instead of showing it.

The content travels on the command's stdin, so the file is written by whoever the step becomes and never
crosses file systems: the final rename stays atomic, readers see the old file or the new one. Without
``--check`` or ``--diff`` that is the only command (the host compares the old file's sha256 and writes only
when it differs); with them, or for a symbolic mode or a file over ONE_TRIP_LIMIT, the path is inspected
first and the content sent only when it must be.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from ..connections.shells import WINDOWS_SHELLS
from ..errors import TaskError
from .base import Arg, Outcome, StepContext, as_bool, unified_diff
from .modes import Mode
from .modes import parse_mode as parse_any_mode

#: the old file is read for a diff only up to this size; bigger or binary files get a one-line note
DIFF_LIMIT = 256 * 1024
#: a file a kind edits (``content="step"``) is read only up to this size
EDIT_LIMIT = 16 * 1024 * 1024
#: content up to this size is written in one command (sent even when the host has it already); a bigger
#: file is compared first, by its sha256, and sent only when it differs
ONE_TRIP_LIMIT = 256 * 1024

#: the arguments every file-writing kind has besides its source and ``dest``
FILE_ARGS = {
    "dest": Arg("str", required=True, help="the file to write on the host (its directory must exist)"),
    "mode": Arg("any", help='permissions: octal as a string ("0644"; YAML reads an unquoted 0644 as a number) '
                            'or symbolic ("u=rw,g=r,o=")'),
    "owner": Arg("str", help="user that owns the file (a name or a uid; changing it needs become)"),
    "group": Arg("str", help="group of the file (a name or a gid)"),
    "backup": Arg("bool", default=False, help="keep the old file as DEST.<date@time>~ when it changes"),
    "validate": Arg("str", help="command that checks the new file before it replaces DEST; %s is its path "
                                "(e.g. visudo -cf %s)"),
    "follow": Arg("bool", default=False, help="DEST may be a symbolic link (owned by root or the step's user): "
                                              "write the file it points to; otherwise a link is refused"),
}

_CONTENT_MARK = "--rs-content--"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# exit codes of the write command, each with what went wrong (REFUSED_RC, RACED_RC: see walk_script)
(_TEMP_FAILED, _UPLOAD_FAILED, _ATTRS_FAILED, _VALIDATE_FAILED, _BACKUP_FAILED, _MOVE_FAILED,
 _REFUSED, _RACED) = range(90, 98)
REFUSED_RC, RACED_RC = _REFUSED, _RACED


def check_path(value: Any, where: str, kind: str, arg: str = "dest") -> None:
    """Refuse a path with a newline or another control character (a template is checked once rendered)."""
    if isinstance(value, str) and _CONTROL.search(value):
        char = _CONTROL.search(value).group(0)
        raise TaskError(f"{where}: {kind} argument {arg!r} contains the control character {char!r} "
                        f"({value!r}): file paths with control characters are refused")


def parse_mode(value: Any, where: str, kind: str = "") -> int | None:
    """An octal mode ("0644", "644", "2775") as an int, None when not given; TaskError naming the step otherwise.

    For kinds that need a number; symbolic modes ("u+rwx,g-w") are read by :func:`modes.parse_mode`,
    which ``write_file`` and ``check_file_args`` use.
    """
    mode = parse_any_mode(value, where, kind)
    if mode is not None and mode.octal is None:
        what = f"{kind} argument 'mode'" if kind else "argument 'mode'"
        raise TaskError(f"{where}: {what} is {value!r}: give octal digits such as \"0644\" or \"0755\" "
                        f"(symbolic modes are not supported here)")
    return None if mode is None else mode.octal


def check_file_args(args: Mapping[str, Any], where: str, kind: str) -> None:
    """Checks shared by the file-writing kinds, at load time for literal values and again after rendering."""
    mode = args.get("mode")
    if not (isinstance(mode, str) and "{" in mode):
        parse_any_mode(mode, where, kind)
    validate = args.get("validate")
    if isinstance(validate, str) and "{" not in validate and "%s" not in validate:
        raise TaskError(f"{where}: {kind} argument 'validate' must contain %s, where the path of the new file "
                        f"goes (e.g. validate: visudo -cf %s)")
    dest = args.get("dest")
    if isinstance(dest, str) and "{{" not in dest and "{%" not in dest:
        check_path(dest, where, kind)


# -- walking to a path on the host


def walk_script(path: str, *, follow: bool = False, refuse_rc: int = 0, mkdir: bool = False,
                keep_link: bool = False, on_mkdir: str = "") -> str:
    """Shell that goes safely to ``path``'s directory (see the module docstring).

    Afterwards the shell's working directory is that directory, ``$rs_name`` the last component,
    ``$rs_dir`` the directory's physical path and ``$rs_path`` both joined; the positional parameters are
    used up. When the path may not be walked it prints ``rs-state=...`` lines (``dotdot``,
    ``badname``, ``nodir``, ``dirlink``, ``link``, ``raced``) and exits ``refuse_rc``. ``mkdir`` creates
    missing directories on the way (as ``mkdir -p``, mode from the umask); ``keep_link`` leaves a final
    link as it is (for kinds that replace or remove the link itself) instead of refusing or following it.
    ``on_mkdir`` is shell run inside each directory it creates (on ``.``: ``chmod 0750 .``).
    """
    q = shlex.quote
    return f"""set -f
rs_euid=
rs_p={q(path)}
case "$rs_p" in /*) ;; *) rs_p="$(pwd)/$rs_p" ;; esac
rs_hops=0
rs_trusted() {{ [ "$1" = 0 ] && return 0; rs_euid=${{rs_euid:-$(id -u)}}; [ "$1" = "$rs_euid" ]; }}
# could someone other than root and us replace entry $1 of the current directory?
rs_replaceable() {{
  set -- "$1" $(stat -c '%u %a' .) $(stat -c %u -- "$1")
  rs_trusted "$2" || return 0
  [ $(( 0$3 & 2 )) = 0 ] && return 1
  [ $(( 0$3 & 01000 )) = 0 ] && return 0
  rs_trusted "$4" && return 1
  return 0
}}
rs_refuse() {{ printf 'rs-state=%s\\n' "$1"; shift; [ $# = 0 ] || printf '%s\\n' "$@"; exit {refuse_rc}; }}
while :; do
  rs_name=${{rs_p##*/}}
  rs_parent=${{rs_p%/*}}
  case "$rs_name" in ''|.|..) rs_refuse badname "rs-path=$rs_p" ;; esac
  cd / || exit 1
  rs_ifs=$IFS; IFS=/; set -- ${{rs_parent#/}}; IFS=$rs_ifs
  for rs_c do
    case "$rs_c" in ''|.) continue ;; ..) rs_refuse dotdot "rs-path=$rs_p" ;; esac
    rs_here=${{PWD%/}}
    if [ -L "$rs_c" ]; then
      if ! rs_trusted "$(stat -c %u -- "$rs_c")" || rs_replaceable "$rs_c"; then
        rs_refuse dirlink "rs-link=$rs_here/$rs_c" "rs-owner=$(stat -c %U -- "$rs_c")" \\
          "rs-target=$(readlink -- "$rs_c")"
      fi
      cd -P -- "$rs_c" 2>/dev/null || rs_refuse nodir "rs-dir=$rs_here/$rs_c"
      continue
    fi
    rs_made=
    [ {int(mkdir)} = 1 ] && [ ! -e "$rs_c" ] && {{ mkdir -- "$rs_c" || exit 1; rs_made=1; }}
    [ -d "$rs_c" ] || rs_refuse nodir "rs-dir=$rs_here/$rs_c"
    cd -P -- "$rs_c" || exit 1
    # cd -P sets PWD to the physical path: a link swapped in after the -L test took us elsewhere
    [ "$PWD" = "$rs_here/$rs_c" ] || rs_refuse raced "rs-dir=$rs_here/$rs_c"
    [ -z "$rs_made" ] || {{ echo "rs-made=$PWD"; {on_mkdir or ":"}; }} || exit 1
  done
  rs_dir=$PWD
  if [ {int(keep_link)} = 0 ] && [ -L "$rs_name" ]; then
    rs_target=$(readlink -- "$rs_name")
    if [ {int(follow)} = 1 ] && rs_trusted "$(stat -c %u -- "$rs_name")" && ! rs_replaceable "$rs_name"; then
      rs_hops=$((rs_hops + 1))
      [ $rs_hops -le 20 ] || rs_refuse badname "rs-path=$rs_p"
      rs_p=$(readlink -f -- "$rs_name") || rs_refuse nodir "rs-dir=$rs_target"
      continue
    fi
    rs_refuse link "rs-path=${{rs_dir%/}}/$rs_name" "rs-target=$rs_target" \\
      "rs-owner=$(stat -c %U -- "$rs_name")" "rs-follow={int(follow)}"
  fi
  break
done
rs_path="${{rs_dir%/}}/$rs_name"
"""


def refusal(fields: Mapping[str, str], dest: str, kind_hint: str = "") -> str | None:
    """The message for a walk that stopped (``rs-state=`` from :func:`walk_script`), or None."""
    state = fields.get("state", "")
    if state == "dotdot":
        return f"cannot use {dest}: a path with '..' is refused; give the path without it"
    if state == "badname":
        return f"cannot use {dest}: it does not name a file (or its links go round in circles)"
    if state == "nodir":
        parent = dest.rsplit("/", 1)[0] or "/" if "/" in dest else "."
        missing = fields.get("dir", parent)
        return (f"cannot write {dest}: its directory {parent} does not exist on the host"
                f"{f' ({missing} is missing)' if missing != parent else ''}; create it first "
                f"(e.g. a file step with state: directory, or mkdir -p {shlex.quote(parent)})")
    if state == "dirlink":
        return (f"refusing {dest}: the directory {fields.get('link')} on its path is a symbolic link to "
                f"{fields.get('target')!r} owned by {fields.get('owner')} (or in a directory others can write), "
                f"which could point anywhere; use the real directory's path")
    if state == "link":
        if fields.get("follow") == "1":
            return (f"refusing {dest}: it is a symbolic link to {fields.get('target')!r} owned by "
                    f"{fields.get('owner')} (or in a directory others can write); follow: true only follows "
                    f"links of root or the step's user that no one else can replace")
        return (f"refusing {dest}: it is a symbolic link to {fields.get('target')!r} (owner "
                f"{fields.get('owner')}); the file is not written through it. Give the real path, remove the "
                f"link, or set follow: true to write the file it points to{kind_hint}")
    if state == "raced":
        return f"cannot use {dest}: a directory on its path changed while it was checked; run the step again"
    if state == "dir":
        return f"cannot write {dest}: it is a directory; give the full path of the file"
    if state == "special":
        return f"cannot write {dest}: it is not a regular file (a device, socket or pipe)"
    if state == "temp":
        return (f"cannot write {dest}: its temporary file {fields.get('temp', '')} was replaced by something else "
                "(a link or a device someone put there?) before it was written; nothing was written through it: "
                "look at who can write that directory, then run the step again")
    return None


# -- reading what is there


@dataclass
class FileState:
    """A path as the host has it now."""

    path: str  # the real path (after the directories' trusted links, and the file's with follow)
    state: str  # file, absent, dir, special, unreadable, error:..., or a walk refusal (dotdot, link, ...)
    mode: int | None = None
    uid: str = ""
    user: str = ""
    gid: str = ""
    group: str = ""
    size: int = 0
    sha256: str = ""
    umask: int = 0o022
    text: str | None = None  # when asked for and small enough
    data: bytes | None = None  # the exact bytes, with content="step"
    note: str = ""  # why there is no text although it was asked for
    fields: dict[str, str] | None = None

    @property
    def problem(self) -> str | None:
        """The refusal or error message when the path cannot be used, else None."""
        if self.state.startswith("error:"):
            return f"cannot inspect {self.path}: {self.state[6:]}"
        return refusal(self.fields or {"state": self.state}, self.path)


def inspect_file(ctx: StepContext, path: str, *, follow: bool = False, content: str = "none",
                 skip_if_sha: str = "", limit: int | None = None) -> FileState:
    """What is at ``path`` on the host (one command, two when the login user must read the text).

    ``content``: ``"none"``; ``"login"`` (text for a diff, read only as the login user; not read when its
    sha256 is ``skip_if_sha``); ``"step"`` (read as the step's user, for kinds that edit the file).
    """
    limit = limit or (EDIT_LIMIT if content == "step" else DIFF_LIMIT)
    read_here = content == "step" or (content == "login" and not ctx.become)
    reader = 'base64 -w0 < "./$rs_name"; echo' if content == "step" else 'cat -- "./$rs_name"'
    script = walk_script(path, follow=follow) + f"""printf 'rs-path=%s\\nrs-umask=%s\\n' "$rs_path" "$(umask)"
[ -d "$rs_name" ] && {{ echo rs-state=dir; exit 0; }}
[ -e "$rs_name" ] || [ -L "$rs_name" ] || {{ echo rs-state=absent; exit 0; }}
[ -f "$rs_name" ] || {{ echo rs-state=special; exit 0; }}
[ -r "$rs_name" ] || {{ echo rs-state=unreadable; exit 0; }}
echo rs-state=file
stat -c 'rs-stat=%a %u %U %g %G %s' -- "$rs_name" || exit 1
h=$(sha256sum < "./$rs_name") || exit 1
h=${{h%% *}}
echo "rs-sha256=$h"
if [ {int(read_here)} = 1 ] && [ "$h" != {shlex.quote(skip_if_sha or "-")} ] && \\
   [ "$(stat -c %s -- "$rs_name")" -le {limit} ]; then
  echo {_CONTENT_MARK}; {reader}
fi"""
    result = ctx.run(script)
    head, marked, text = result.stdout.partition(_CONTENT_MARK + "\n")
    fields = {k[3:]: v for k, v in (line.split("=", 1) for line in head.splitlines() if "=" in line)
              if k.startswith("rs-")}
    current = FileState(path=fields.get("path", path), state=fields.get("state", ""), fields=fields)
    if result.rc != 0 or not current.state:
        current.state = "error:" + (_last_line(result.stderr) or f"exit code {result.rc}")
        return current
    if fields.get("umask", "").strip():
        current.umask = int(fields["umask"], 8)
    if "stat" in fields:
        mode, uid, user, gid, group, size = fields["stat"].split(" ")
        current.mode, current.uid, current.user, current.gid, current.group = int(mode, 8), uid, user, gid, group
        current.size = int(size)
    current.sha256 = fields.get("sha256", "")
    if marked and content == "step":
        # base64: the bytes exactly, untouched by the output's decoding and secret masking
        current.data = base64.b64decode(text.strip())
        current.text = current.data.decode("utf-8", "replace")
    elif marked:
        current.text = text
    elif current.state == "file" and content != "none" and current.sha256 != skip_if_sha:
        if current.size > limit:
            current.note = f"{current.size} bytes, more than the {limit} read"
        elif not read_here:
            # become: the old text is read by the login user, so a diff shows only what they may read
            login = ctx.run(f"cat -- {shlex.quote(current.path)}", become=False)
            if login.rc == 0:
                current.text = login.stdout
            else:
                current.note = f"the login user may not read {current.path}"
    return current


# -- writing


def write_file(ctx: StepContext, dest: str, content: bytes, *, mode: str | int | Mode | None = None,
               owner: str | None = None, group: str | None = None, backup: Any = False,
               validate: str | None = None, follow: Any = False, mkdirs: bool = False,
               old_text: str | None = None) -> Outcome:
    """Make ``dest`` on the host hold ``content`` with the given attributes; see the module docstring.

    ``mkdirs`` creates missing directories (as ``lineinfile``'s ``create`` does); ``old_text`` is the old
    content for the diff when the kind has read it already (``inspect_file(content="step")``).
    """
    if ctx.connection.shell in WINDOWS_SHELLS:  # Windows hosts: the same plan in PowerShell (steps/winfiles.py)
        from .winfiles import write_windows_file

        return write_windows_file(ctx, dest, content, mode=mode, owner=owner, group=group, backup=backup,
                                  validate=validate)
    try:
        check_path(dest, ctx.where, "the step's")
        wanted = mode if isinstance(mode, Mode) or mode is None else parse_any_mode(mode, ctx.where)
    except TaskError as exc:
        return Outcome(failed=True, msg=str(exc))
    if validate and "%s" not in validate:
        return Outcome(failed=True, msg=f"{ctx.where}: validate must contain %s (the new file's path): {validate}")
    follow = as_bool(follow)
    owner = str(owner) if owner not in (None, "") else None
    group = str(group) if group not in (None, "") else None
    checksum = hashlib.sha256(content).hexdigest()
    want_text = ctx.diff or ctx.check
    if not want_text and len(content) <= ONE_TRIP_LIMIT \
            and (wanted is None or wanted.octal is not None):
        return _write_in_one_trip(ctx, dest, content, checksum, wanted.octal if wanted else None, owner, group,
                                  as_bool(backup), validate, follow, mkdirs)
    current = inspect_file(ctx, dest, follow=follow, content="login" if want_text and old_text is None
                           else "none", skip_if_sha=checksum)
    if old_text is not None:
        current.text = old_text
    if mkdirs and current.state == "nodir":
        current.state = "absent"
    data: dict[str, Any] = {"dest": dest, "path": current.path, "checksum": checksum, "size": len(content),
                            "backup": None}
    problem = _problem(current, dest, ctx)
    if problem:
        return Outcome(failed=True, msg=problem, data=data)

    exists = current.state == "file"
    wanted_mode = wanted.resolve(current.mode if exists else None, umask=current.umask) if wanted else None
    content_changed = not exists or current.sha256 != checksum
    attributes = attribute_changes(current, wanted_mode, owner, group) if exists else []
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
        script = walk_script(dest, follow=follow, refuse_rc=_REFUSED, mkdir=mkdirs) + _replace_script(
            checksum, wanted_mode, owner, group, as_bool(backup), validate)
        result = ctx.run(script, stdin=content)
        if result.rc != 0:
            return _write_failure(result, current.path, validate, data, dest)
        found = re.search(r"^rs-backup=(.*)$", result.stdout, re.M)
        data["backup"] = found.group(1) if found else None
    else:
        result = ctx.run(walk_script(dest, follow=follow, refuse_rc=_REFUSED)
                         + attributes_script(wanted_mode, owner, group))
        if result.rc != 0:
            if result.rc in (_REFUSED, _RACED):
                return _write_failure(result, current.path, validate, data, dest)
            return Outcome(failed=True, rc=result.rc, stderr=result.stderr, data=data,
                           msg=f"cannot set {', '.join(attributes)} on {current.path}: "
                               f"{_last_line(result.stderr)}{_become_hint(ctx)}")
    past = {"create": "created", "update": "updated", "change attributes of": "changed attributes of"}[what]
    return Outcome(changed=True, msg=f"{past} {dest}", diff=diff if want_text else "", data=data)


def _write_in_one_trip(ctx: StepContext, dest: str, content: bytes, checksum: str, mode: int | None,
                       owner: str | None, group: str | None, backup: bool, validate: str | None, follow: bool,
                       mkdirs: bool) -> Outcome:
    """:func:`write_file` without check or diff, in one command: the host compares what is there with what
    arrives and writes only when it differs, so a file costs one round trip and a handful of processes
    (two commands and twice the processes otherwise: this is the hot path of a batch of templates)."""
    data: dict[str, Any] = {"dest": dest, "path": dest, "checksum": checksum, "size": len(content), "backup": None}
    script = walk_script(dest, follow=follow, refuse_rc=_REFUSED, mkdir=mkdirs) + _replace_script(
        checksum, mode, owner, group, backup, validate, compare=True,
        attributes=mode is not None or owner is not None or group is not None)
    result = ctx.run(script, stdin=content)
    fields = {k[3:]: v for k, v in (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
              if k.startswith("rs-")}
    data["path"] = fields.get("path", dest)
    if result.rc == _REFUSED and fields.get("state") == "unreadable":
        return Outcome(failed=True, msg=_problem(FileState(path=data["path"], state="unreadable"), dest, ctx), data=data)
    if result.rc != 0 or "done" not in fields:
        return _write_failure(result, data["path"], validate, data, dest)
    found = re.search(r"^rs-backup=(.*)$", result.stdout, re.M)
    data["backup"] = found.group(1) if found else None
    if fields["done"] == "created":
        return Outcome(changed=True, msg=f"created {dest}", data=data)
    if fields["done"] == "updated":
        return Outcome(changed=True, msg=f"updated {dest}", data=data)
    # the same content: are the attributes asked for there too?
    current = FileState(path=data["path"], state="file", fields=fields)
    if "stat" in fields:
        mode_now, current.uid, current.user, current.gid, current.group, _size = fields["stat"].split(" ")
        current.mode = int(mode_now, 8)
    attributes = attribute_changes(current, mode, owner, group) if "stat" in fields else []
    if not attributes:
        return Outcome(msg=f"{dest} is up to date", data=data)
    result = ctx.run(walk_script(dest, follow=follow, refuse_rc=_REFUSED) + attributes_script(mode, owner, group))
    if result.rc != 0:
        if result.rc in (_REFUSED, _RACED):
            return _write_failure(result, data["path"], validate, data, dest)
        return Outcome(failed=True, rc=result.rc, stderr=result.stderr, data=data,
                       msg=f"cannot set {', '.join(attributes)} on {data['path']}: "
                           f"{_last_line(result.stderr)}{_become_hint(ctx)}")
    return Outcome(changed=True, msg=f"changed attributes of {dest}", data=data)


def _problem(current: FileState, dest: str, ctx: StepContext) -> str:
    if current.state == "unreadable":
        return f"cannot read {dest} to compare it{_become_hint(ctx) or ': permission denied'}"
    if current.state.startswith("error:"):
        reason = current.state[6:]
        denied = not ctx.become and any(word in reason for word in ("ermission denied", "can't cd", "not permitted"))
        return f"cannot inspect {dest}: {reason}" + (" (the login user may not: use become: true)" if denied else "")
    return refusal(current.fields or {}, dest) or ""


def attribute_changes(current: FileState, mode: int | None, owner: str | None, group: str | None) -> list[str]:
    """What differs between a file's mode/owner/group and the wanted ones, as ``mode 0644 -> 0600`` notes."""
    changes = []
    if mode is not None and current.mode != mode:
        changes.append(f"mode {current.mode:04o} -> {mode:04o}" if current.mode is not None else f"mode {mode:04o}")
    if owner is not None and owner not in ((current.uid,) if owner.isdigit() else (current.user,)):
        changes.append(f"owner {current.user} -> {owner}")
    if group is not None and group not in ((current.gid,) if group.isdigit() else (current.group,)):
        changes.append(f"group {current.group} -> {group}")
    return changes


def _diff(current: FileState, content: bytes, dest: str) -> str:
    new_text = _text(content)
    if current.state != "file":
        if new_text is None:
            return f"{dest}: binary/large file created ({len(content)} bytes)\n"
        return unified_diff("", new_text, dest)
    if current.text is None and current.note:
        return f"{dest}: changed, old content not shown ({current.note}; {current.size} -> {len(content)} bytes)\n"
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


def _chown_spec(owner: str | None, group: str | None) -> str | None:
    if owner is None and group is None:
        return None
    return (owner or "") + (f":{group}" if group is not None else "")


def attributes_script(mode: int | None, owner: str | None, group: str | None) -> str:
    """After :func:`walk_script`: set mode/owner/group of ``$rs_name`` in place, through an open descriptor.

    The name is opened, checked to still be the regular file (not a link) it was, and changed through
    ``/proc/self/fd``, so a link swapped in is never followed.
    """
    q = shlex.quote
    lines = [f'[ ! -L "$rs_name" ] && [ -f "$rs_name" ] || {{ echo "rs-state=raced"; exit {_RACED}; }}',
             'exec 4< "./$rs_name"',
             f'[ "$(stat -c %d:%i -- "$rs_name")" = "$(stat -L -c %d:%i /proc/self/fd/4)" ] || '
             f'{{ echo "rs-state=raced"; exit {_RACED}; }}']
    spec = _chown_spec(owner, group)
    if spec:
        lines.append(f"chown -- {q(spec)} /proc/self/fd/4")
    if mode is not None:
        lines.append(f"chmod -- {mode:04o} /proc/self/fd/4")
    return "\n".join(lines) + "\n"


def fill_script(fill: str, *, mode: int | None, owner: str | None, group: str | None) -> str:
    """After :func:`walk_script`: make ``$rs_name`` hold what the shell ``fill`` writes to descriptor 3, as
    :func:`write_file` writes (a temporary file created exclusively beside it, attributes set through the
    descriptor, renamed over the name). ``fill`` must exit non-zero (with its own code, below 90) when
    the content is not the right one; nothing is replaced then. For kinds whose content comes from the
    host itself (``get_url`` downloads it); :func:`write_failure` words the other exit codes."""
    return _replace_script("", mode, owner, group, False, None, fill=fill)


def write_failure(result, path: str, dest: str = "") -> Outcome:
    """The failed Outcome for an exit code of :func:`fill_script` or :func:`walk_script` (90 and above)."""
    return _write_failure(result, path, None, {"dest": dest or path, "path": path}, dest)


def _replace_script(checksum: str, mode: int | None, owner: str | None, group: str | None, backup: bool,
                    validate: str | None, *, fill: str | None = None, compare: bool = False,
                    attributes: bool = False) -> str:
    """After :func:`walk_script`: make ``$rs_name`` hold the content on stdin (sha256 ``checksum``), or what
    the shell ``fill`` writes to descriptor 3.

    The new content goes into a temporary file beside the name; its name comes from here (no ``mktemp``)
    and it is opened once, exclusively (``set -C``), on descriptor 3, which must then be a regular file
    that the name still is (``-ef``, a shell builtin); mode and owner are set through the descriptor; it is
    validated, the old file hard-linked as the backup, and the temporary file renamed over the name, which
    must then be the descriptor's file. Few processes, because each costs the host about a millisecond and
    a batch pays that on every host. A new file without a mode is created with what the umask allows, as any
    new file; otherwise nobody else may read it until its own mode is set (umask 077).

    ``compare``: one ``sha256sum`` also reads the old file and, when it holds the content already, nothing
    is written (``rs-done=same``, with ``rs-stat=`` when ``attributes`` are asked for, for the caller to
    compare). Prints ``rs-path=``, then ``rs-done=created|updated`` (or ``same``);
    ``rs-state=dir|special|unreadable`` with exit REFUSED when the name cannot be written.
    """
    q = shlex.quote
    fd = "/proc/self/fd/3"
    lines = [
        'printf \'rs-path=%s\\n\' "$rs_path"',
        f'[ -d "$rs_name" ] && {{ echo rs-state=dir; exit {_REFUSED}; }}',
        "rs_old=0",
        'if [ -e "$rs_name" ]; then',
        f'  [ -f "$rs_name" ] || {{ echo rs-state=special; exit {_REFUSED}; }}',
        f'  [ -r "$rs_name" ] || {{ echo rs-state=unreadable; exit {_REFUSED}; }}',
        "  rs_old=1",
        "fi",
        f't="./.$rs_name.rs-{secrets.token_hex(4)}"',
        f'[ $rs_old = 0 ] && [ {int(mode is not None)} = 0 ] || umask 077',
        # `command` keeps a failed redirection from ending the shell (exec is a special builtin); the braces
        # keep the 2>/dev/null to this line (exec would make it the script's)
        f'set -C; {{ command exec 3>"$t"; }} 2>/dev/null || {{ echo "cannot create a temporary file in $rs_dir" >&2; '
        f'exit {_TEMP_FAILED}; }}; set +C',
        # set -C opens a name that exists only when it is not a regular file: the descriptor must be one,
        # and still the file by that name (only then is the name ours to remove)
        f'[ -f {fd} ] && [ ! -L "$t" ] && [ "$t" -ef {fd} ] || {{ echo "rs-state=temp"; '
        f'echo "rs-temp=$rs_dir/${{t#./}}"; exit {_RACED}; }}',
        "trap 'rm -f -- \"$t\"' EXIT",
    ]
    if fill is not None:
        lines.append(fill)
    else:
        lines.append(f"cat >&3 || exit {_UPLOAD_FAILED}")
        if compare:
            lines += ['if [ $rs_old = 1 ]; then',
                      f'  set -- $(sha256sum {fd} - < "./$rs_name") && [ $# = 4 ] || exit 1',
                      "  rs_old_sum=$3",
                      "else",
                      f"  set -- $(sha256sum < {fd}) || exit 1",
                      "  rs_old_sum=",
                      "fi"]
        else:
            lines += [f"set -- $(sha256sum < {fd}) || exit 1", "rs_old_sum="]
        lines.append(f'[ "$1" = {checksum} ] || {{ echo "the content arrived incomplete" >&2; exit {_UPLOAD_FAILED}; }}')
        if compare:
            lines += [f'if [ "$rs_old_sum" = {checksum} ]; then',
                      *(['  stat -c \'rs-stat=%a %u %U %g %G %s\' -- "$rs_name" || exit 1'] if attributes else []),
                      "  echo rs-done=same; exit 0",
                      "fi"]
    # attributes not asked for: the old file's, or what a new file gets
    if mode is None:
        lines.append(f'[ $rs_old = 0 ] || chmod --reference="./$rs_name" -- {fd} || exit {_ATTRS_FAILED}')
    if owner is None or group is None:
        # the new file is ours: the old one's owner and group are copied unless they are ours as well
        lines.append(f'[ $rs_old = 0 ] || {{ [ -O "$rs_name" ] && [ -G "$rs_name" ] && [ -G {fd} ]; }} || '
                     f'chown --reference="./$rs_name" -- {fd} 2>/dev/null || :')
    spec = _chown_spec(owner, group)
    if spec:
        lines.append(f"chown -- {q(spec)} {fd} || exit {_ATTRS_FAILED}")
    if mode is not None:
        lines.append(f"chmod -- {mode:04o} {fd} || exit {_ATTRS_FAILED}")
    if validate:
        command = validate.replace("%s", '"$rs_dir/${t#./}"')
        lines.append(f'( {command} ) < /dev/null || {{ echo "rs-validate-rc=$?" >&2; exit {_VALIDATE_FAILED}; }}')
    if backup:
        # a hard link keeps the old file (its inode, mode and owner) under the new name; never through a link
        lines += ["if [ $rs_old = 1 ]; then",
                  '  b="$rs_name.$(date +%Y-%m-%d@%H:%M:%S)~"',
                  f'  ln -P -- "./$rs_name" "./$b" || exit {_BACKUP_FAILED}',
                  '  printf "rs-backup=%s\\n" "$rs_dir/$b"',
                  "fi"]
    lines += [f'mv -fT -- "$t" "./$rs_name" || exit {_MOVE_FAILED}', "trap - EXIT",
              f'[ ! -L "./$rs_name" ] && [ "./$rs_name" -ef {fd} ] || '
              f'{{ echo "$rs_path was replaced while it was written" >&2; exit {_MOVE_FAILED}; }}',
              "[ $rs_old = 1 ] && echo rs-done=updated || echo rs-done=created"]
    return "\n".join(lines) + "\n"


def _write_failure(result, path: str, validate: str | None, data: dict[str, Any], dest: str = "") -> Outcome:
    stderr = re.sub(r"^rs-validate-rc=.*\n?", "", result.stderr, flags=re.M)
    reason = _last_line(stderr) or f"exit code {result.rc}"
    directory = path.rpartition("/")[0] or "/"
    if result.rc in (_REFUSED, _RACED):
        fields = {k[3:]: v for k, v in (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
                  if k.startswith("rs-")}
        msg = refusal(fields, dest or path) or f"cannot write {path}: it changed while it was written"
    elif result.rc == _VALIDATE_FAILED:
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
