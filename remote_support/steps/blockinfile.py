"""``blockinfile``: a block of lines between two marker lines, kept in a file, as Ansible's module does.

``block`` (alias ``content``) goes between ``marker`` lines (default ``# {mark} ANSIBLE MANAGED BLOCK``,
``{mark}`` replaced by ``marker_begin`` / ``marker_end``); an existing block between the markers is
replaced, a new one goes ``insertafter`` / ``insertbefore`` a regexp (or ``EOF``, the default, / ``BOF``);
``state: absent`` (or an empty block) removes it. ``prepend_newline`` / ``append_newline``, ``create``,
``backup``, ``validate``, mode/owner/group as in Ansible; results compared with ansible-core's module
in tests/steps/test_lineinfile.py. Reading and writing go through steps/files.py (see there).

```yaml
- blockinfile:
    path: /etc/hosts
    marker: "# {mark} support hosts"
    block: |
      10.0.0.5 intranet
      10.0.0.6 wiki
  become: true
```
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .editing import EDIT_ARGS, edit_file, normalize_path, templated
from .lineinfile import Edit

DEFAULT_MARKER = "# {mark} ANSIBLE MANAGED BLOCK"


def edit_block(original: bytes | None, *, block: str = "", marker: str = DEFAULT_MARKER,
               marker_begin: str = "BEGIN", marker_end: str = "END", insertafter: str | None = None,
               insertbefore: str | None = None, state: str = "present", append_newline: bool = False,
               prepend_newline: bool = False) -> Edit:
    """The blockinfile edit of ``original`` (None: no such file yet), without touching any host."""
    present = state == "present"
    if not present and original is None:
        return Edit(None, False, "file not present")
    lines = original.splitlines(True) if original is not None else []
    if insertbefore is None and insertafter is None:
        insertafter = "EOF"
    if insertafter not in (None, "EOF"):
        anchor = re.compile(insertafter.encode())
    elif insertbefore not in (None, "BOF"):
        anchor = re.compile(insertbefore.encode())
    else:
        anchor = None
    # the replacement is a template as in re.sub (so marker_begin's backslashes act as Ansible's do)
    begin = re.sub(rb"{mark}", marker_begin.encode(), marker.encode()) + b"\n"
    end = re.sub(rb"{mark}", marker_end.encode(), marker.encode()) + b"\n"
    body = block.encode()
    if present and body:
        if not body.endswith(b"\n"):
            body += b"\n"
        new_block = [begin, *body.splitlines(True), end]
    else:
        new_block = []

    first = last = None
    for number, current in enumerate(lines):
        if current == begin:
            first = number
        if current == end:
            last = number
    if first is None or last is None:
        if anchor is not None:
            at = None
            if anchor.flags & re.MULTILINE:
                hit = anchor.search(original or b"")
                if hit:
                    text = (original or b"").decode("utf-8", "surrogateescape")
                    at = text.count("\n", 0, hit.end() if insertafter else hit.start())
            else:
                for number, current in enumerate(lines):
                    if anchor.search(current):
                        at = number
            if at is None:
                at = len(lines)
            elif insertafter is not None:
                at += 1
        elif insertbefore is not None:
            at = 0  # BOF
        else:
            at = len(lines)  # EOF
    elif first < last:
        del lines[first:last + 1]
        at = first
    else:
        del lines[last:first + 1]
        at = last
    if at > 0 and not lines[at - 1].endswith(b"\n"):
        lines[at - 1] += b"\n"
    if prepend_newline and present and at != 0 and lines[at - 1] != b"\n":
        lines[at:at] = [b"\n"]
        at += 1
    lines[at:at] = new_block
    if append_newline and present:
        after = at + len(new_block)
        if after < len(lines) and lines[after] != b"\n":
            lines[after:after] = [b"\n"]
    result = b"".join(lines)
    if result == original:
        return Edit(result, False)
    if original is None:
        return Edit(result, True, "File created")
    return Edit(result, True, "Block removed" if not new_block else "Block inserted")


def check_block_args(args: Mapping[str, Any], where: str, kind: str = "blockinfile") -> None:
    if args.get("insertbefore") is not None and args.get("insertafter") is not None:
        raise TaskError(f"{where}: {kind} takes insertbefore or insertafter, not both")
    if args.get("block") is not None and args.get("content") is not None:
        raise TaskError(f"{where}: {kind} takes block or content (the same thing), not both")
    for name in ("insertafter", "insertbefore"):
        value = args.get(name)
        if isinstance(value, str) and not templated(value) and value not in ("BOF", "EOF"):
            try:
                re.compile(value)
            except re.error as exc:
                raise TaskError(f"{where}: {kind} argument {name!r} is not a valid regular expression "
                                f"({exc}): {value!r}") from None


class BlockInFile(StepKind):
    name = "blockinfile"
    description = "Keep a block of lines between marker lines in a file (Ansible's blockinfile)."
    shell_args = frozenset({"validate"})
    args = {
        "block": Arg("str", help="the lines between the markers (empty: remove the block)"),
        "content": Arg("str", help="same as block"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "marker": Arg("str", default=DEFAULT_MARKER, help="marker line; {mark} becomes marker_begin/marker_end"),
        "marker_begin": Arg("str", default="BEGIN"),
        "marker_end": Arg("str", default="END"),
        "insertafter": Arg("str", help="regexp (last match) or EOF (default): where a new block goes"),
        "insertbefore": Arg("str", help="regexp (last match) or BOF: where a new block goes"),
        "append_newline": Arg("bool", default=False, help="a blank line after the block"),
        "prepend_newline": Arg("bool", default=False, help="a blank line before the block"),
        **EDIT_ARGS,
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        return normalize_path(super().normalize(value, where), where, self.name)

    def validate(self, args: dict[str, Any], where: str) -> None:
        check_block_args(args, where, self.name)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        from .winfiles import needs_posix

        refused = needs_posix(ctx, self.name, "a powershell step, or copy/template for the whole file")
        if refused:
            return refused
        block = args.get("block") if args.get("block") is not None else args.get("content")
        return edit_file(ctx, args, lambda original: edit_block(
            original, block="" if block is None else str(block), marker=str(args.get("marker") or DEFAULT_MARKER),
            marker_begin=str(args.get("marker_begin") or "BEGIN"), marker_end=str(args.get("marker_end") or "END"),
            insertafter=_str(args.get("insertafter")), insertbefore=_str(args.get("insertbefore")),
            state=args.get("state") or "present", append_newline=as_bool(args.get("append_newline")),
            prepend_newline=as_bool(args.get("prepend_newline"))))  # a missing file fails, as Ansible's


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
