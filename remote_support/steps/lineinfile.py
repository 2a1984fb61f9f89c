"""``lineinfile``: make sure one line is in a file (or is not), as Ansible's module of that name does.

The same arguments and the same result on the same file: ``line`` with ``regexp`` (the last matching line
is replaced, or the first with ``firstmatch``) or ``search_string``, else inserted ``insertafter`` /
``insertbefore`` a regexp (or ``BOF``/``EOF``; the default is the end), ``backrefs`` (the line is built
from the regexp's groups, and nothing is added when it does not match), ``state: absent`` (remove every
matching line), ``create``, ``backup``, ``validate``, mode/owner/group. tests/steps/test_lineinfile.py
compares the bytes and the changed flag with ansible-core's own module on a table of cases.

The file is read and written through steps/files.py (links a less privileged user planted are refused;
a link is followed only with ``follow: true``, where Ansible always follows one). Conflicting arguments
Ansible refuses are refused when the task is loaded, with the file and line.

```yaml
- lineinfile: {path: /etc/ssh/sshd_config, regexp: '^#?PermitRootLogin', line: PermitRootLogin no,
               validate: /usr/sbin/sshd -t -f %s}
  become: true
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .editing import EDIT_ARGS, edit_file, normalize_path, templated


@dataclass
class Edit:
    """What an edit made of a file's bytes: the new bytes (None: leave the file alone), changed, a note."""

    content: bytes | None
    changed: bool
    msg: str = ""
    found: int | None = None


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their ``\\n`` kept, split only at ``\\n`` (as Python's readlines on a binary file)."""
    lines, start = [], 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            if start < len(data):
                lines.append(data[start:])
            return lines
        lines.append(data[start:end + 1])
        start = end + 1


def edit_lines(original: bytes | None, *, line: str | None = None, regexp: str | None = None,
               search_string: str | None = None, insertafter: str | None = None,
               insertbefore: str | None = None, backrefs: bool = False, firstmatch: bool = False,
               state: str = "present") -> Edit:
    """The lineinfile edit of ``original`` (None: the file does not exist yet), without touching any host."""
    lines = split_lines(original or b"")
    want = (line or "").encode("utf-8", "surrogateescape")
    if state == "absent":
        if original is None:
            return Edit(None, False, "file not present", 0)
        pattern = re.compile(regexp.encode()) if regexp is not None else None
        needle = search_string.encode() if search_string is not None else None

        def matches(current: bytes) -> bool:
            if pattern is not None:
                return bool(pattern.search(current))
            if needle is not None:
                return needle in current
            return want == current.rstrip(b"\r\n")

        kept = [current for current in lines if not matches(current)]
        removed = len(lines) - len(kept)
        return Edit(b"".join(kept), removed > 0, f"{removed} line(s) removed" if removed else "", removed)

    if insertbefore is None and insertafter is None:
        insertafter = "EOF"
    if insertafter not in (None, "BOF", "EOF"):
        anchor = re.compile(insertafter.encode())
    elif insertbefore not in (None, "BOF"):
        anchor = re.compile(str(insertbefore).encode())
    else:
        anchor = None

    # where the line is (a regexp or search_string match, else the line itself), where it would go
    found, insert_at = -1, -1
    match: Any = None
    if regexp is not None:
        pattern = re.compile(regexp.encode())
        for number, current in enumerate(lines):
            hit = pattern.search(current)
            if hit:
                found, match = number, hit
                if firstmatch:
                    break
    if search_string is not None:
        needle = search_string.encode()
        for number, current in enumerate(lines):
            if needle in current:
                found, match = number, True
                if firstmatch:
                    break
    if not match:
        for number, current in enumerate(lines):
            if want == current.rstrip(b"\r\n"):
                found = number
            elif anchor is not None and anchor.search(current):
                insert_at = number + 1 if insertafter else number
                if firstmatch:
                    break

    if found != -1:
        new = match.expand(want) if backrefs and match is not None and match is not True else want
        if not new.endswith(b"\n"):
            new += b"\n"
        if lines[found] == new:
            return Edit(b"".join(lines), False)
        lines[found] = new
        return Edit(b"".join(lines), True, "line replaced")
    if backrefs:
        return Edit(b"".join(lines), False)  # nothing to build the line from: leave the file as it is
    if insertbefore == "BOF" or insertafter == "BOF":
        lines.insert(0, want + b"\n")
    elif insertafter == "EOF" or insert_at == -1:
        if lines and lines[-1][-1:] not in (b"\n", b"\r"):
            lines.append(b"\n")
        lines.append(want + b"\n")
    elif insertafter:
        if insert_at == len(lines):
            if lines[insert_at - 1].rstrip(b"\r\n") == want:
                return Edit(b"".join(lines), False)
            lines.append(want + b"\n")
        elif lines[insert_at].rstrip(b"\r\n") == want:
            return Edit(b"".join(lines), False)
        else:
            lines.insert(insert_at, want + b"\n")
    else:
        lines.insert(insert_at, want + b"\n")
    return Edit(b"".join(lines), True, "line added")


def check_line_args(args: Mapping[str, Any], where: str, kind: str = "lineinfile") -> None:
    """The combinations Ansible refuses, and regexps that do not compile (templated values: at run)."""
    given = {name for name, value in args.items() if value is not None and value is not False
             and not (name in ("backrefs", "firstmatch") and value in ("no", "false", "False"))}
    for pair in (("insertbefore", "insertafter"), ("regexp", "search_string"), ("backrefs", "search_string")):
        if set(pair) <= given:
            raise TaskError(f"{where}: {kind} takes {pair[0]} or {pair[1]}, not both")
    state = args.get("state") or "present"
    if state == "present":
        if args.get("backrefs") is True and args.get("regexp") is None:
            raise TaskError(f"{where}: {kind} with backrefs: true needs a regexp (the groups to build the line from)")
        if args.get("line") is None:
            raise TaskError(f"{where}: {kind} needs line with state: present (the line the file must have)")
    elif all(args.get(name) is None for name in ("line", "regexp", "search_string")):
        raise TaskError(f"{where}: {kind} with state: absent needs one of line, regexp or search_string "
                        f"(what to remove)")
    for name in ("regexp", "insertafter", "insertbefore"):
        value = args.get(name)
        if isinstance(value, str) and not templated(value) and value not in ("BOF", "EOF"):
            try:
                re.compile(value)
            except re.error as exc:
                raise TaskError(f"{where}: {kind} argument {name!r} is not a valid regular expression "
                                f"({exc}): {value!r}") from None


class LineInFile(StepKind):
    name = "lineinfile"
    description = "Make sure a line is in a file, or replace or remove lines (Ansible's lineinfile)."
    shell_args = frozenset({"validate"})
    args = {
        "line": Arg("str", help="the line the file must have (state: present); with backrefs, \\1 etc. from regexp"),
        "regexp": Arg("str", help="Python regular expression: the last matching line is replaced (or removed)"),
        "search_string": Arg("str", help="a literal string instead of regexp"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "insertafter": Arg("str", help="regexp (last match), or EOF (default) or BOF: where a new line goes"),
        "insertbefore": Arg("str", help="regexp (last match) or BOF: where a new line goes"),
        "backrefs": Arg("bool", default=False, help="build line from regexp's groups; add nothing when no match"),
        "firstmatch": Arg("bool", default=False, help="use the first match of regexp/insertafter/insertbefore"),
        **EDIT_ARGS,
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        return normalize_path(super().normalize(value, where), where, self.name)

    def validate(self, args: dict[str, Any], where: str) -> None:
        check_line_args(args, where, self.name)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        from .winfiles import needs_posix

        refused = needs_posix(ctx, self.name, "a powershell step, or copy/template for the whole file")
        if refused:
            return refused
        return edit_file(ctx, args, lambda original: edit_lines(
            original, line=_str(args.get("line")), regexp=_str(args.get("regexp")),
            search_string=_str(args.get("search_string")), insertafter=_str(args.get("insertafter")),
            insertbefore=_str(args.get("insertbefore")), backrefs=as_bool(args.get("backrefs")),
            firstmatch=as_bool(args.get("firstmatch")), state=args.get("state") or "present"),
            absent_ok=args.get("state") == "absent")


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
