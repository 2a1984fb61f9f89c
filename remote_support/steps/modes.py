"""File modes as steps give them: octal (``"0644"``) or symbolic as chmod and Ansible read them (``u+rwx,g-w``).

:func:`parse_mode` checks a value when the task is loaded and returns a :class:`Mode`; ``Mode.resolve``
gives the octal mode for a file whose current mode (and type) is known. As in Ansible and chmod, a clause
without a "who" (``+x``) means ``a`` with the bits of the umask left alone (r, w and x).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import TaskError

_OCTAL = re.compile(r"0?[0-7]{3,4}")
_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")

# per class: its rwx bits (as a shift), its special bit, and what `=` clears
_SHIFT = {"u": 6, "g": 3, "o": 0}
_SPECIAL = {"u": 0o4000, "g": 0o2000, "o": 0o1000}


@dataclass(frozen=True)
class Mode:
    """A mode to set: ``octal`` when absolute, else a ``symbolic`` spec applied to the current mode."""

    octal: int | None = None
    symbolic: str | None = None

    def resolve(self, current: int | None, is_dir: bool = False, umask: int = 0o022) -> int:
        """The mode to set, given the current one (None for a file about to be created)."""
        if self.octal is not None:
            return self.octal
        base = current if current is not None else ((0o777 if is_dir else 0o666) & ~umask)
        return apply_symbolic(str(self.symbolic), base, is_dir, umask)

    def __str__(self) -> str:
        return f"{self.octal:04o}" if self.octal is not None else str(self.symbolic)


def parse_mode(value: Any, where: str, kind: str = "") -> Mode | None:
    """A mode argument as a Mode, or None when not given; TaskError naming the step when it does not parse."""
    if value is None:
        return None
    what = f"{kind} argument 'mode'" if kind else "argument 'mode'"
    if isinstance(value, int) and not isinstance(value, bool):
        raise TaskError(f"{where}: {what} is the number {value}: quote it, e.g. mode: \"0644\" "
                        f"(unquoted, YAML reads 0644 as the decimal number 420)")
    text = str(value).strip()
    if _OCTAL.fullmatch(text):
        return Mode(octal=int(text, 8))
    if text and all(_CLAUSE.fullmatch(clause) for clause in text.split(",")):
        return Mode(symbolic=text)
    raise TaskError(f"{where}: {what} is {value!r}: give octal digits such as \"0644\" or a symbolic mode "
                    f"such as \"u=rw,g=r,o=\" or \"u+x,g-w\" (who: u g o a; op: + - =; perms: r w x X s t)")


def apply_symbolic(spec: str, mode: int, is_dir: bool = False, umask: int = 0o022) -> int:
    """``mode`` changed by the symbolic ``spec`` (comma-separated clauses), as Ansible and chmod do."""
    mode &= 0o7777
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if not match:
            raise ValueError(f"bad symbolic mode clause {clause!r}")
        who = match.group(1) or "a"
        classes = "ugo" if "a" in who else "".join(c for c in "ugo" if c in who)
        keep = umask & 0o777 if not match.group(1) else 0  # no who: the umask's r/w/x bits are not touched
        for op, perms in _ACTION.findall(match.group(2)):
            for cls in classes:
                bits = _bits(cls, perms, mode, is_dir, keep)
                if op == "+":
                    mode |= bits
                elif op == "-":
                    mode &= ~bits
                else:
                    # `=` sets the class's rwx exactly; it clears setuid/setgid/sticky only for that class
                    mode &= ~((0o7 << _SHIFT[cls]) | _SPECIAL[cls])
                    mode |= bits
    return mode


def _bits(cls: str, perms: str, mode: int, is_dir: bool, keep: int = 0) -> int:
    if perms in ("u", "g", "o"):  # copy another class's rwx (from the mode before this clause)
        return ((mode >> _SHIFT[perms]) & 0o7) << _SHIFT[cls]
    value = 0
    for perm in perms:
        if perm == "r":
            value |= (0o4 << _SHIFT[cls]) & ~keep
        elif perm == "w":
            value |= (0o2 << _SHIFT[cls]) & ~keep
        elif perm == "x":
            value |= (0o1 << _SHIFT[cls]) & ~keep
        elif perm == "X" and (is_dir or mode & 0o111):
            value |= 0o1 << _SHIFT[cls]
        elif perm == "s" and cls in "ug":
            value |= _SPECIAL[cls]
        elif perm == "t" and cls == "o":
            value |= 0o1000
    return value
