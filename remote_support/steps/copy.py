"""``copy``: write a controller file, or the given text, to a file on the host; with ``remote_src: true``
(as Ansible's) ``src`` is a file on the host itself.

A host source is read on the host by the step's user (``become`` applies), reached as every path is
reached (files.inspect_file: only links of root or the step's user are followed, so another user cannot
point ``src`` at a file they may not read), and written to ``dest`` through files.write_file like any
other content: check mode, diff, backup, mode/owner/group and idempotency are the same, and a diff does
not show a src the login user may not read. Without ``mode``
a file it replaces takes src's mode and a new one the umask's, as Ansible's module does (tested against
it); unlike Ansible's, a replaced file keeps its owner and group (Ansible's gives it to the step's user). It is one file,
at most :data:`REMOTE_LIMIT` bytes (it travels through the connection twice); a directory is refused.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path
from typing import Any

from ..connections.shells import WINDOWS_SHELLS
from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .files import FILE_ARGS, FileState, check_file_args, check_path, inspect_file, refusal, write_file

#: the largest host file a remote_src copy reads (base64 through the connection, then written back)
REMOTE_LIMIT = 64 * 1024 * 1024


def find_local_file(src: str, task_dir: Path) -> Path | None:
    """``src`` as an absolute path, or in files/ beside the task, or beside the task; None if nowhere."""
    path = Path(src).expanduser()
    candidates = [path] if path.is_absolute() else [task_dir / "files" / path, task_dir / path]
    return next((c for c in candidates if c.exists()), None)


def _places(src: str, task_dir: Path) -> str:
    if Path(src).expanduser().is_absolute():
        return src
    return f"{task_dir / 'files'} or {task_dir}"


class Copy(StepKind):
    name = "copy"
    description = "Write a controller file (src), a file on the host (src, remote_src) or text (content) to a file."
    shell_args = frozenset({"validate"})
    args = {
        "src": Arg("str", help="controller file: relative to the task's files/ or its directory, or absolute"),
        "remote_src": Arg("bool", default=False, help="true: src is a file on the host (read there, with become "
                                                     "when the step has it), as Ansible's"),
        "content": Arg("any", help="the text to write instead of a file (lists and mappings are written as JSON)"),
        **FILE_ARGS,
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        given = [name for name in ("src", "content") if args.get(name) is not None]
        if len(given) != 1:
            problem = "both src and content" if given else "neither src nor content"
            raise TaskError(f"{where}: copy needs exactly one of src (a controller file) and content (text), "
                            f"this one has {problem}")
        check_file_args(args, where, self.name)
        src = args.get("src")
        remote = args.get("remote_src")
        templated = isinstance(remote, str) and "{" in remote
        if not templated and as_bool(remote) and args.get("content") is not None:
            raise TaskError(f"{where}: copy remote_src needs src (a file on the host), not content")
        if templated or as_bool(remote):
            if isinstance(src, str) and "{" not in src:
                check_path(src, where, self.name, "src")
            return args
        if isinstance(src, str) and "{" not in src:
            task_dir = Path(where.rsplit(":", 1)[0]).parent
            found = find_local_file(src, task_dir)
            if found is None:
                raise TaskError(f"{where}: copy src {src!r} not found in {_places(src, task_dir)}: "
                                "check the name, or put the file in files/ beside the task")
            if found.is_dir():
                raise TaskError(f"{where}: copy src {src!r} is a directory; copy writes one file "
                                "(bundle a directory with a command step, or copy each file)")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        mode = args.get("mode")
        hidden_src = ""
        if as_bool(args.get("remote_src")) and args.get("content") is not None:
            return Outcome(failed=True, msg="copy remote_src needs src (a file on the host), not content")
        if args.get("content") is not None:
            value = args["content"]
            text = value if isinstance(value, str) else json.dumps(value, indent=2) if isinstance(value, (list, dict)) \
                else str(value)
            content = text.encode("utf-8")
        elif as_bool(args.get("remote_src")):
            found = _read_host_file(ctx, str(args["src"]))
            if isinstance(found, Outcome):
                return found
            content = found.data
            if ctx.become and (ctx.diff or ctx.check) and \
                    ctx.run(f"test -r {shlex.quote(found.path)}", become=False).rc != 0:
                hidden_src = found.path
            if mode is None:
                # as Ansible's copy with remote_src: a file it replaces takes src's mode (a new one the umask's)
                old = inspect_file(ctx, args["dest"], follow=as_bool(args.get("follow")))
                if old.state == "file" and old.sha256 != hashlib.sha256(content).hexdigest():
                    mode = f"{found.mode:04o}"
        else:
            src = str(args["src"])
            found = find_local_file(src, ctx.task_dir)
            if found is None or found.is_dir():
                what = "is a directory" if found else f"not found in {_places(src, ctx.task_dir)}"
                return Outcome(failed=True, msg=f"copy src {src!r} {what}")
            try:
                content = found.read_bytes()
            except OSError as exc:
                return Outcome(failed=True, msg=f"cannot read {found} on the controller: {exc.strerror}")
        outcome = write_file(ctx, args["dest"], content, mode=mode, owner=args.get("owner"),
                             group=args.get("group"), backup=args.get("backup"), validate=args.get("validate"),
                             follow=args.get("follow"))
        if args.get("src") is not None:
            outcome.data["src"] = str(args["src"])
            outcome.data["remote_src"] = as_bool(args.get("remote_src"))
        if hidden_src and outcome.diff:
            # as for the old file (files.py): a diff never shows what the login user could not read
            outcome.diff = (f"{args['dest']}: changed, content not shown (the login user may not read src "
                            f"{hidden_src}; {len(content)} bytes)\n")
        return outcome


def _read_host_file(ctx: StepContext, src: str) -> FileState | Outcome:
    """``src`` on the host with its bytes (``.data``), read as the step's user, or the failed Outcome."""
    data = {"src": src, "remote_src": True}
    if ctx.connection.shell in WINDOWS_SHELLS:
        return Outcome(failed=True, data=data, msg=f"copy remote_src reads src on POSIX hosts only; on this "
                       f"Windows host copy {src} with a powershell step (Copy-Item)")
    try:
        check_path(src, ctx.where, "copy", "src")
    except TaskError as exc:
        return Outcome(failed=True, msg=str(exc), data=data)
    found = inspect_file(ctx, src, follow=True, content="step", limit=REMOTE_LIMIT)
    where = f"on the host{'' if ctx.become else ' (read as the login user)'}"
    state = found.state
    if state == "file" and found.data is not None:
        return found
    if state == "file":
        msg = (f"copy src {src} {where} is {found.size} bytes, more than the {REMOTE_LIMIT} a remote_src copy "
               f"reads: copy it with a command step (cp)")
    elif state in ("absent", "nodir"):
        msg = f"copy src {src} not found {where}: check the path (remote_src: true reads src on the host)"
    elif state == "dir":
        msg = f"copy src {src} {where} is a directory; copy with remote_src copies one file"
    elif state == "special":
        msg = f"copy src {src} {where} is not a regular file (a device, socket or pipe)"
    elif state == "unreadable":
        msg = f"cannot read copy src {src} {where}: permission denied" + ("" if ctx.become else "; use become: true")
    elif state == "link":
        fields = found.fields or {}
        msg = (f"refusing copy src {src}: it is a symbolic link to {fields.get('target')!r} owned by "
               f"{fields.get('owner')} (or in a directory others can write); a host src is read through links "
               "of root or the step's user only: give the real path")
    else:
        msg = (refusal(found.fields or {}, src) or f"cannot read copy src {src} {where}: {state.removeprefix('error:')}")
    return Outcome(failed=True, msg=msg, data=data)
