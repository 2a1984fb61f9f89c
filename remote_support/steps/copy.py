"""``copy``: write a controller file, or the given text, to a file on the host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .files import FILE_ARGS, check_file_args, write_file


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
    description = "Write a controller file (src) or text (content) to a file on the host."
    shell_args = frozenset({"validate"})
    args = {
        "src": Arg("str", help="controller file: relative to the task's files/ or its directory, or absolute"),
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
        if args.get("content") is not None:
            value = args["content"]
            text = value if isinstance(value, str) else json.dumps(value, indent=2) if isinstance(value, (list, dict)) \
                else str(value)
            content = text.encode("utf-8")
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
        outcome = write_file(ctx, args["dest"], content, mode=args.get("mode"), owner=args.get("owner"),
                             group=args.get("group"), backup=args.get("backup"), validate=args.get("validate"),
                             follow=args.get("follow"))
        if args.get("src") is not None:
            outcome.data["src"] = str(args["src"])
        return outcome
