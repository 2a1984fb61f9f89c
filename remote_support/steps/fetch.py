"""``fetch``: copy a file (or a directory, as a .tar.gz) from the host to the controller.

Files land in ``dest/<host>/<remote path>`` (``dest`` defaults to the run's fetch directory), or in
``dest/<name>`` with ``flat``. A file the login user can read comes straight over SFTP; with ``become``,
or for a directory, the host first makes a copy (or a tarball) in a private temp directory that the
login user can read, which is fetched and then removed. The step never changes the host, so it runs in
check mode too; it reports changed when the local copy was new or different.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..connections.shells import WINDOWS_SHELLS
from . import win_file  # noqa: F401 - registers the win-file-get script used for Windows paths
from ..errors import ConnectError, TaskError, UnreachableError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .files import check_path, refusal, walk_script


class Fetch(StepKind):
    name = "fetch"
    description = "Copy a file, or a directory as a .tar.gz, from the host to the controller."
    read_only = True
    args = {
        "src": Arg("str", required=True, help="file or directory on the host"),
        "dest": Arg("str", help="directory on the controller (default: the run's fetch directory, ./fetched)"),
        "flat": Arg("bool", default=False, help="put it in dest directly instead of dest/<host>/<remote path>"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if isinstance(args.get("src"), str) and "{{" not in args["src"] and "{%" not in args["src"]:
            check_path(args["src"], where, self.name, "src")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        src = str(args["src"])
        if not ctx.connection.can_transfer_files:
            return Outcome(failed=True, msg=f"fetch needs a connection that moves files; {ctx.host.name} is a "
                                            f"{ctx.host.connection} host")
        if ctx.connection.shell in WINDOWS_SHELLS:
            return _windows_file(ctx, src, args)
        q = shlex.quote
        try:
            check_path(src, ctx.where, "fetch", "src")
        except TaskError as exc:
            return Outcome(failed=True, msg=str(exc))
        # walked as files.py walks: links another user could have planted are not followed
        probe = ctx.run(_walk(src) +
                        'p="./$rs_name"; if [ -d "$p" ]; then echo dir; elif [ ! -e "$p" ]; then echo missing; '
                        'elif [ ! -f "$p" ]; then echo other; elif [ ! -r "$p" ]; then echo unreadable; '
                        'else echo file; sha256sum < "$p"; fi')
        refused = {k[3:]: v for k, v in (line.split("=", 1) for line in probe.stdout.splitlines() if "=" in line)
                   if k.startswith("rs-")}
        if refused.get("state") == "nodir":
            return Outcome(failed=True, msg=f"no such file on the host: {src}")
        if refused.get("state"):
            return Outcome(failed=True, msg=(refusal(refused, src) or f"cannot fetch {src}").replace(
                "; the file is not written through it", "; it is not read through it"))
        lines = probe.stdout.split()
        state = lines[0] if probe.rc == 0 and lines else ""
        if state == "missing":
            return Outcome(failed=True, msg=f"no such file on the host: {src}")
        if state == "other":
            return Outcome(failed=True, msg=f"{src} is not a regular file or a directory")
        if state == "unreadable":
            return Outcome(failed=True, msg=f"cannot read {src}: permission denied"
                                            f"{'' if ctx.become else ' for the login user: use become: true'}")
        if state not in ("file", "dir"):
            return Outcome(failed=True, rc=probe.rc, stderr=probe.stderr,
                           msg=f"cannot inspect {src}: {probe.stderr.strip() or f'exit code {probe.rc}'}")

        name = PurePosixPath(src).name or "root"
        if state == "dir":
            name += ".tar.gz"
        local = _local_path(ctx, args, PurePosixPath(src).parts[:-1], name)
        if isinstance(local, Outcome):
            return local

        note = ""
        if state == "file" and not ctx.become:
            expected = lines[1] if len(lines) > 1 else None
            data = _get(ctx, src)
        else:
            staged = _stage(ctx, src, state == "dir")
            if isinstance(staged, Outcome):
                return staged
            temp, expected, note = staged
            try:
                data = _get(ctx, temp)
            finally:
                ctx.run(f"rm -rf -- {q(temp.rsplit('/', 1)[0])}", timeout=30)
        if isinstance(data, Outcome):
            return data
        checksum = hashlib.sha256(data).hexdigest()
        if expected and checksum != expected:
            return Outcome(failed=True, msg=f"{src} changed or arrived damaged while it was fetched "
                                            f"(sha256 {checksum[:12]}, the host had {expected[:12]}): run it again")
        result = {"src": src, "dest": str(local), "size": len(data), "checksum": checksum}
        try:
            changed = _store(local, data, checksum)
        except OSError as exc:
            return Outcome(failed=True, msg=f"cannot write {local} on the controller: {exc.strerror or exc}",
                           data=result)
        msg = f"fetched {src} to {local}" if changed else f"{local} is up to date"
        return Outcome(changed=changed, msg="; ".join(m for m in (msg, note) if m), data=result)


def _windows_file(ctx: StepContext, src: str, args: dict[str, Any]) -> Outcome:
    """A file from a WinRM host: the connection's get checks the SHA-256 of the chunks it moves."""
    data = _get(ctx, src)
    if isinstance(data, Outcome):
        from .winscripts import ScriptError, run_script

        try:
            state = run_script(ctx, "win-file-get", {"path": src})["state"]
        except ScriptError:
            state = ""
        if state == "directory":
            return Outcome(failed=True, msg=f"{src} is a directory: fetch brings single files from Windows hosts "
                                            "(bundle it first, e.g. a powershell step with Compress-Archive)")
        if state == "absent":
            return Outcome(failed=True, msg=f"no such file on the host: {src}")
        return data
    name = PureWindowsPath(src).name or "root"
    parts = [p.replace(":", "").strip("\\") for p in PureWindowsPath(src).parts[:-1]]
    local = _local_path(ctx, args, parts, name)
    if isinstance(local, Outcome):
        return local
    checksum = hashlib.sha256(data).hexdigest()
    result = {"src": src, "dest": str(local), "size": len(data), "checksum": checksum}
    try:
        changed = _store(local, data, checksum)
    except OSError as exc:
        return Outcome(failed=True, msg=f"cannot write {local} on the controller: {exc.strerror or exc}",
                       data=result)
    return Outcome(changed=changed, msg=f"fetched {src} to {local}" if changed else f"{local} is up to date",
                   data=result)


def _component(text: str) -> str | None:
    """One path component from a name the host or the inventory chose: never a separator, "." or ".."."""
    if not str(text).strip("/\\"):  # the root of a remote path adds no directory
        return None
    text = re.sub(r"[/\\\x00-\x1f]", "_", str(text)).strip()
    return None if text in ("", ".", "..") else text


def _local_path(ctx: StepContext, args: dict[str, Any], parts: Any, name: str) -> Path | Outcome:
    """Where the file lands: ``dest/<host>/<remote dirs>/<name>`` (or ``dest/<name>`` with flat), always
    inside dest, whatever the host name (``../../x``, ``/abs``) or the remote path says."""
    base = Path(args.get("dest") or ctx.fetch_dir).expanduser()
    host = _component(ctx.host.name) or "_"
    leaf = _component(name) or "_"
    dirs = [c for c in (_component(p) for p in parts) if c]
    local = base / leaf if as_bool(args.get("flat")) else base.joinpath(host, *dirs, leaf)
    root = os.path.realpath(base)
    # a link planted under dest must not carry the file out of it either
    if os.path.commonpath([root, os.path.realpath(local)]) != root:
        return Outcome(failed=True, msg=f"refusing to write {local}: it resolves outside {base}")
    return local


def _walk(src: str, refuse_rc: int = 0) -> str:
    """files.walk_script to ``src`` (trusted links followed, planted ones refused); "/" is itself."""
    src = src.rstrip("/") if src.strip("/") else "/"
    if src == "/":
        return "cd / || exit 1\nrs_name=.\n"
    return walk_script(src, follow=True, refuse_rc=refuse_rc)


def _stage(ctx: StepContext, src: str, directory: bool) -> tuple[str, str, str] | Outcome:
    """Copy (or tar) ``src`` into a private temp directory the login user can read; (path, sha256, note)."""
    if directory:
        # sorted members and no gzip timestamp: an unchanged directory gives the same bytes again
        produce = ('tar --sort=name -I "gzip -n" -cf "$f" -- "$rs_name"; rc=$?; '
                   '[ $rc -eq 1 ] && echo "rs-note=some files changed while they were read" >&2; [ $rc -le 1 ]')
    else:
        produce = 'cat -- "./$rs_name" > "$f"'
    script = _walk(src, refuse_rc=1) + f"""d=$(mktemp -d /tmp/rs-fetch.XXXXXXXX) || exit 1
f="$d/data"
{{ {produce}; }} || {{ rm -rf -- "$d"; exit 1; }}
if [ -n "${{SUDO_UID:-}}" ] && [ "$(id -u)" != "$SUDO_UID" ]; then
  if ! chown -R -- "$SUDO_UID" "$d" 2>/dev/null; then chmod 0711 "$d" && chmod 0644 "$f" || exit 1; fi
fi
h=$(sha256sum < "$f") || exit 1
printf 'rs-path=%s\\nrs-sha256=%s\\n' "$f" "${{h%% *}}\""""
    result = ctx.run(script)
    fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("rs-"))
    notes = [line.split("=", 1)[1] for line in result.stderr.splitlines() if line.startswith("rs-note=")]
    if result.rc != 0 or "rs-path" not in fields:
        stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("rs-note="))
        return Outcome(failed=True, rc=result.rc, stdout=result.stdout, stderr=stderr,
                       msg=f"cannot {'bundle' if directory else 'copy'} {src} on the host for fetching: "
                           f"{stderr.strip().splitlines()[-1] if stderr.strip() else f'exit code {result.rc}'}")
    return fields["rs-path"], fields.get("rs-sha256", ""), "; ".join(notes)


def _get(ctx: StepContext, path: str) -> bytes | Outcome:
    try:
        return ctx.connection.get(path)
    except UnreachableError:
        raise
    except ConnectError as exc:  # SFTP could not read it: the step fails, the host is still there
        return Outcome(failed=True, msg=exc.reason + (f" ({exc.hint})" if exc.hint else ""))


def _store(local: Path, data: bytes, checksum: str) -> bool:
    """Write ``local`` atomically unless it already holds ``data``; whether it was written."""
    if local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == checksum:
        return False
    local.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=local.parent, prefix=f".{local.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, local)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True
