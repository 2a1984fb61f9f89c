"""Writing one file on a Windows host (``copy``, ``template`` and every file-writing step on ``winrm`` hosts).

The same plan as on POSIX hosts (steps/files.py): one read-only script finds out what is there (the
``file-probe`` contract: state, size, SHA-256, and the old text when a diff is wanted); nothing differs:
ok; check mode: report what would change; else the ``file-write`` script streams the content on stdin into
a temporary file beside the destination, checks its SHA-256, keeps a backup when asked and replaces the
file (``File.Replace``: readers see the old file or the new one, and the old file's ACL stays).

Windows paths are absolute (``C:\\dir\\file`` or ``\\\\server\\share\\file``; ``/`` is read as ``\\``).
``mode``, ``owner`` and ``group`` are POSIX permissions that Windows files do not have (they have ACLs):
they are refused with a clear error rather than ignored, so nobody believes a file was locked down when
it was not. ``validate`` is refused too (no POSIX shell to run it in).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from .base import Outcome, StepContext, as_bool, unified_diff
from .winscripts import ScriptError, run_script

#: the old file is sent back for a diff only up to this size
DIFF_LIMIT = 256 * 1024
#: file bytes per base64 line on stdin
CHUNK = 48 * 1024

_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:\\|\\\\[^\\]+\\[^\\]+)")


def windows_path(path: str) -> str:
    """``path`` with ``/`` as ``\\``; ValueError unless it is absolute (a drive or a UNC share)."""
    text = str(path).replace("/", "\\")
    if not _ABSOLUTE.match(text):
        raise ValueError(f"{path!r} is not an absolute Windows path: give the drive, e.g. C:\\ProgramData\\app\\x.conf "
                         "(or a UNC path \\\\server\\share\\x)")
    return text


def posix_only(mode: Any = None, owner: Any = None, group: Any = None, validate: Any = None) -> str:
    """The message refusing POSIX-only file arguments on a Windows host, or '' when none is given."""
    given = [name for name, value in (("mode", mode), ("owner", owner), ("group", group)) if value not in (None, "")]
    if given:
        return (f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} POSIX permissions; Windows files have "
                "ACLs instead: leave them out for this host (a replaced file keeps its ACL, a new file gets its "
                "directory's)")
    if validate not in (None, ""):
        return "validate runs a POSIX shell command: it is not supported on Windows hosts"
    return ""


def write_windows_file(ctx: StepContext, dest: str, content: bytes, *, mode: Any = None, owner: Any = None,
                       group: Any = None, backup: Any = False, validate: Any = None) -> Outcome:
    """Make ``dest`` on the Windows host hold ``content``; see the module docstring."""
    checksum = hashlib.sha256(content).hexdigest()
    data: dict[str, Any] = {"dest": dest, "path": dest, "checksum": checksum, "size": len(content), "backup": None}
    refused = posix_only(mode, owner, group, validate)
    if refused:
        return Outcome(failed=True, msg=f"{dest}: {refused}", data=data)
    try:
        path = windows_path(dest)
    except ValueError as exc:
        return Outcome(failed=True, msg=f"cannot write {exc}", data=data)
    data["path"] = path
    want_text = ctx.diff or ctx.check
    try:
        current = run_script(ctx, "file-probe", {"path": path, "sha256": checksum.upper(), "want_text": want_text,
                                                 "limit": DIFF_LIMIT})
    except ScriptError as exc:
        return Outcome(failed=True, rc=exc.rc, stderr=exc.stderr, msg=f"cannot inspect {path}: {exc}", data=data)
    state = current["state"]
    if state == "nodir":
        parent = path.rsplit("\\", 1)[0]
        return Outcome(failed=True, data=data, msg=f"cannot write {path}: its directory {parent} does not exist on "
                                                   "the host; create it first (a win_file step with state: directory)")
    if state == "dir":
        return Outcome(failed=True, data=data, msg=f"cannot write {path}: it is a directory; give the full path "
                                                   "of the file")
    exists = state == "file"
    if exists and current["sha256"].lower() == checksum:
        return Outcome(msg=f"{path} is up to date", data=data)
    diff = _diff(current, content, path) if want_text else ""
    what = "update" if exists else "create"
    if ctx.check:
        return Outcome(changed=True, msg=f"check mode: would {what} {path}", diff=diff, data=data)
    lines = b"".join(base64.b64encode(content[i:i + CHUNK]) + b"\n" for i in range(0, len(content), CHUNK))
    try:
        written = run_script(ctx, "file-write", {"path": path, "sha256": checksum.upper(),
                                                 "backup": as_bool(backup)}, stdin=lines)
    except ScriptError as exc:
        return Outcome(failed=True, rc=exc.rc, stderr=exc.stderr, data=data,
                       msg=f"cannot write {path}, left as it was: {exc}")
    if written["sha256"].lower() != checksum:
        return Outcome(failed=True, data=data, msg=f"{path} holds SHA-256 {written['sha256'].lower()[:12]} after "
                                                   f"the write, expected {checksum[:12]}: run it again")
    data["backup"] = written["backup"] or None
    return Outcome(changed=True, msg=f"{'updated' if exists else 'created'} {path}", diff=diff, data=data)


def _diff(current: dict[str, Any], content: bytes, path: str) -> str:
    new_text = _text(content)
    if current["state"] != "file":
        return unified_diff("", new_text, path) if new_text is not None \
            else f"{path}: binary/large file created ({len(content)} bytes)\n"
    old = base64.b64decode(current["text"]) if current.get("text") else None
    old_text = _text(old) if old is not None else None
    if old_text is None or new_text is None:
        return f"{path}: binary/large file changed ({current['size']} -> {len(content)} bytes)\n"
    return unified_diff(old_text, new_text, path)


def _text(content: bytes) -> str | None:
    if len(content) > DIFF_LIMIT or b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def needs_posix(ctx: StepContext, kind: str, instead: str) -> Outcome | None:
    """A failure saying ``kind`` works on POSIX hosts only (and what to use instead), or None on one."""
    from ..connections.shells import POSIX

    if ctx.connection.shell == POSIX:
        return None
    return Outcome(failed=True, msg=f"{kind} works on POSIX (ssh, local) hosts; {ctx.host.name} is a "
                                    f"{ctx.host.connection} host: use {instead}")
