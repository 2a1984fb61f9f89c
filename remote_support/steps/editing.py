"""What ``lineinfile`` and ``blockinfile`` share: their file arguments, and read -> edit -> write on the host.

The file is read as the step's user (become applies) through :func:`files.inspect_file`, edited in Python
by the kind's pure function (bytes in, bytes out: the same function the tests compare with Ansible's
module), and written back with :func:`files.write_file` (atomic, validated, backed up, never through a
planted link). As for every file-writing kind, the diff shows old text only the login user may read.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, as_bool
from .files import FILE_ARGS, check_file_args, check_path, inspect_file, write_file

#: path (Ansible's ``dest`` works too), create, and the arguments of every file-writing kind
EDIT_ARGS = {
    "path": Arg("str", help="the file to edit on the host (alias: dest)"),
    "dest": Arg("str", help="same as path"),
    "create": Arg("bool", default=False, help="create the file (and its directories) when it does not exist"),
    **{name: spec for name, spec in FILE_ARGS.items() if name != "dest"},
}

_BOOLS = ("create", "backup", "follow", "backrefs", "firstmatch", "append_newline", "prepend_newline")


def templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def normalize_path(args: dict[str, Any], where: str, kind: str) -> dict[str, Any]:
    """``dest`` folded into ``path`` (required), literal yes/no as booleans, the shared file checks."""
    if args.get("path") is not None and args.get("dest") is not None:
        raise TaskError(f"{where}: {kind} takes path or dest (the same thing), not both")
    if args.get("path") is None:
        if args.get("dest") is None:
            raise TaskError(f"{where}: {kind} needs the argument 'path' (the file to edit)")
        args["path"] = args["dest"]
    args.pop("dest", None)
    for name in _BOOLS:
        if isinstance(args.get(name), str) and not templated(args[name]):
            args[name] = as_bool(args[name])
    check_file_args({**args, "dest": args["path"]}, where, kind)
    return args


def edit_file(ctx: StepContext, args: Mapping[str, Any], edit: Callable[[bytes | None], Any], *,
              absent_ok: bool = False) -> Outcome:
    """Read ``args["path"]``, apply ``edit`` (bytes or None -> an Edit), write the result when it differs."""
    path = str(args["path"])
    try:
        check_path(path, ctx.where, "the step's", "path")
        check_file_args({**args, "dest": path}, ctx.where, "the step's")
    except TaskError as exc:
        return Outcome(failed=True, msg=str(exc))
    follow, create = as_bool(args.get("follow")), as_bool(args.get("create"))
    current = inspect_file(ctx, path, follow=follow, content="step")
    data: dict[str, Any] = {"path": current.path}
    if current.state in ("absent", "nodir"):
        if not create:
            if absent_ok:
                return Outcome(msg=f"{path} is not there: nothing to remove", data=data)
            return Outcome(failed=True, data=data, msg=f"{path} does not exist on the host: set create: true "
                                                       "to create it")
        original = None
    elif current.state == "dir":
        return Outcome(failed=True, data=data, msg=f"{path} is a directory; give the path of a file")
    elif current.state == "special":
        return Outcome(failed=True, data=data, msg=f"{path} is not a regular file (a device, socket or pipe)")
    elif current.state == "unreadable":
        return Outcome(failed=True, data=data, msg=f"cannot read {path}: permission denied"
                                                   f"{'' if ctx.become else ' for the login user: use become: true'}")
    elif current.problem:
        return Outcome(failed=True, data=data, msg=current.problem)
    elif current.data is None:
        return Outcome(failed=True, data=data, msg=f"cannot edit {path}: {current.note or 'it could not be read'}")
    else:
        original = current.data
    try:
        result = edit(original)
    except (ValueError, TypeError) as exc:  # a rendered regexp that does not compile, a bad backreference
        return Outcome(failed=True, data=data, msg=f"cannot edit {path}: {exc}")
    if result.found is not None:
        data["found"] = result.found
    if result.content is None:
        return Outcome(msg=result.msg or f"{path} is not there", data=data)
    attributes = any(args.get(name) is not None for name in ("mode", "owner", "group"))
    if not result.changed and not attributes:
        return Outcome(msg=f"{path} is as wanted", data=data)
    outcome = write_file(ctx, path, result.content, mode=args.get("mode"), owner=args.get("owner"),
                         group=args.get("group"), backup=args.get("backup"), validate=args.get("validate"),
                         follow=follow, mkdirs=create,
                         # with become the old text for the diff is read again as the login user (by
                         # write_file), so a diff never shows what the login user could not read
                         old_text=None if original is not None and ctx.become else current.text or "")
    outcome.data = {**outcome.data, **data}
    outcome.data.pop("dest", None)
    if result.msg and not outcome.failed and outcome.changed:
        outcome.msg = f"{result.msg}: {outcome.msg}"
    return outcome
