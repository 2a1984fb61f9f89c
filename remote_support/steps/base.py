"""What every step kind implements, and what it is given to work with.

A kind declares its arguments (checked when the task is loaded), and ``run`` returns an Outcome. A kind
that changes a host first finds out whether a change is needed with read-only commands, then applies it
unless ``ctx.check`` is set: check mode is "plan without execute", and reports what would change.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

from ..errors import TaskError
from ..results import CommandResult, Outcome  # noqa: F401 - Outcome: what every kind returns

if TYPE_CHECKING:
    from ..connections.base import Connection
    from ..inventory import Host
    from ..templating import Templar


@dataclass(frozen=True)
class Arg:
    """One argument of a step kind."""

    type: str = "str"  # str, int, float, bool, list, dict, any
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""


class StepContext:
    """Everything a step kind may use on one host: the connection, variables, modes and helpers."""

    def __init__(self, *, connection: "Connection", host: "Host", variables: Mapping[str, Any],
                 templar: "Templar", check: bool, diff: bool, become: bool, timeout: float | None,
                 where: str, facts: Callable[[], dict[str, Any]], task_dir: Path, fetch_dir: Path):
        self.connection = connection
        self.host = host
        self.vars = variables
        self.templar = templar
        self.check = check
        self.diff = diff
        self.become = become
        self.timeout = timeout
        self.where = where  # "task.yml:12" of the step, for messages
        self._facts = facts
        self.task_dir = task_dir
        self.fetch_dir = fetch_dir  # where fetched files go on the controller: fetch_dir/<host>/...

    def facts(self, refresh: bool = False) -> dict[str, Any]:
        """The host's facts, gathered once per host per run (``refresh``: gather them again now)."""
        return self._facts(refresh=True) if refresh else self._facts()

    def run(self, command: str, *, stdin: bytes | str | None = None, become: bool | None = None,
            timeout: float | None = None) -> CommandResult:
        """Run a command with the step's become and timeout unless told otherwise."""
        return self.connection.run(command, stdin=stdin, become=self.become if become is None else become,
                                   timeout=timeout or self.timeout)


class StepKind:
    """Base of every step kind. Subclasses set ``name``, ``args`` and implement ``run``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    args: ClassVar[dict[str, Arg]] = {}
    #: a step written as ``kind: "text"`` puts the text in this argument (``command: uptime``)
    free_form: ClassVar[str | None] = None
    #: arguments rendered as shell command text: interpolated values are shell-quoted
    shell_args: ClassVar[frozenset[str]] = frozenset()
    #: arguments passed unrendered (expressions the kind evaluates itself, e.g. assert's ``that``)
    raw_args: ClassVar[frozenset[str]] = frozenset()
    #: arguments that hold secrets whatever they are called (a user's password, a registry value's data):
    #: their rendered values are masked everywhere and never echoed in an error
    secret_args: ClassVar[frozenset[str]] = frozenset()
    #: whether the kind only reads, so it runs in check mode too
    read_only: ClassVar[bool] = False

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        """The step's arguments as a dict, checked against ``args`` (templated strings are checked later)."""
        if not isinstance(value, Mapping):
            if self.free_form is None:
                raise TaskError(f"{where}: step kind {self.name!r} takes a mapping of arguments "
                                f"({', '.join(self.args)})")
            value = {self.free_form: value}
        args = dict(value)
        unknown = sorted(set(args) - set(self.args))
        if unknown:
            raise TaskError(f"{where}: {self.name} has no argument {', '.join(map(repr, unknown))}: "
                            f"valid ones are {', '.join(self.args)}")
        for name, spec in self.args.items():
            if name not in args:
                if spec.required:
                    raise TaskError(f"{where}: {self.name} needs the argument {name!r}")
                args[name] = spec.default
                continue
            check_arg(self.name, name, spec, args[name], where, secret=name in self.secret_args)
        return args

    def validate(self, args: dict[str, Any], where: str) -> None:
        """Checks beyond each argument's type (how arguments go together, what a value may be); raise
        TaskError. Called on the loaded arguments (a templated value is still its template then) and again
        on the rendered ones just before the step runs, where the error fails the step on that host."""

    def defines(self, args: Mapping[str, Any]) -> set[str]:
        """Variables this step sets for the steps after it (known before anything runs)."""
        return set()

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        """Template files this step renders (checked before anything runs)."""
        return []

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        raise NotImplementedError


_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (list, tuple),
          "dict": (dict,), "any": (object,)}


def check_arg(kind: str, name: str, spec: Arg, value: Any, where: str, *, secret: bool = False) -> None:
    """Check one argument; a value still holding a template is checked after rendering. The message
    never shows the value of a secret argument."""
    if value is None or (isinstance(value, str) and ("{{" in value or "{%" in value)):
        return
    types = _TYPES[spec.type]
    if spec.type == "bool" and isinstance(value, str) and value.lower() in ("yes", "no", "true", "false"):
        return
    if spec.type in ("int", "float") and isinstance(value, bool) or not isinstance(value, types):
        raise TaskError(f"{where}: {kind} argument {name!r} must be {spec.type}, not {type(value).__name__} "
                        f"({_shown(name, value, secret)})")
    if spec.choices and value not in spec.choices:
        raise TaskError(f"{where}: {kind} argument {name!r} is {_shown(name, value, secret)}: use one of "
                        f"{', '.join(map(str, spec.choices))}")


def _shown(name: str, value: Any, secret: bool) -> str:
    """A bad argument's value as an error shows it: never a secret one."""
    from ..secrets import MASKED, is_secret_name

    return MASKED if secret or is_secret_name(name) else repr(value)


def unified_diff(before: str, after: str, path: str) -> str:
    """A unified diff as ``diff -u`` shows it, for --diff and the journal."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"{path} (before)", tofile=f"{path} (after)")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return text


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "y")
    return bool(value)
