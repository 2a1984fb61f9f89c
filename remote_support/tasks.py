"""Tasks: YAML files of steps, with declared parameters, loaded and checked before anything runs.

```yaml
name: Restart a service
description: Restart a systemd or SysV service and show its status.
supports: {os_family: [Debian, RedHat], connection: [ssh, local]}   # optional
params:
  - {name: service, type: str, required: true, description: the service to restart}
steps:
  - name: restart it
    service: {name: "{{ service }}", state: restarted}
    become: true
    notify: show status
handlers:
  - name: show status
    command: systemctl status {{ service }}
    changed_when: false
```
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import TaskError, TemplateError
from .secrets import MASKED, SecretRef, is_secret_name
from .steps import kind_names, step_kind
from .steps.base import StepKind, as_bool
from .yamlfile import Map, Seq, load_yaml

PARAM_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict, "secret": str}

#: keys a step may carry besides its kind
STEP_KEYWORDS = ("name", "when", "loop", "loop_var", "register", "become", "become_user", "timeout", "retries",
                 "delay", "until", "ignore_errors", "changed_when", "failed_when", "notify", "tags",
                 "check_mode", "vars")
TASK_KEYS = ("name", "description", "topic", "supports", "params", "steps", "handlers", "vars", "level",
             "requires_approval")
#: where a task without ``topic:`` is listed
DEFAULT_TOPIC = "other"
#: support level a task needs when it declares none (1: the front line's fixes; 3: the critical ones)
DEFAULT_LEVEL = 2


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "str"
    default: Any = None
    required: bool = False
    description: str = ""
    choices: tuple[Any, ...] = ()

    @property
    def secret(self) -> bool:
        return self.type == "secret"


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    args: Mapping[str, Any]
    where: str  # "file:line"
    when: str | None = None
    loop: Any = None
    loop_var: str = "item"
    register: str | None = None
    become: bool | None = None
    become_user: str | None = None
    timeout: float | None = None
    retries: int = 0
    delay: float = 1.0
    until: str | None = None
    ignore_errors: bool = False
    changed_when: Any = None
    failed_when: Any = None
    notify: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    check_mode: bool | None = None  # False: run even in check mode (a step that only reads)
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def implementation(self) -> StepKind:
        kind = step_kind(self.kind)
        assert kind is not None  # checked at load time
        return kind


@dataclass(frozen=True)
class Task:
    name: str
    path: Path
    description: str = ""
    params: tuple[Param, ...] = ()
    steps: tuple[Step, ...] = ()
    handlers: tuple[Step, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    os_families: tuple[str, ...] = ()  # empty: any
    connections: tuple[str, ...] = ()  # empty: any
    topic: str = DEFAULT_TOPIC  # what `tasks list` groups it under: accounts, disk, network...
    level: int = DEFAULT_LEVEL  # the lowest support level allowed to run it
    requires_approval: bool = False  # an approver other than the operator must approve each real run

    @property
    def short_name(self) -> str:
        return self.path.stem

    def search_path(self) -> list[Path]:
        """Where its templates are looked up: beside the task, templates/ beside or above it, ./templates."""
        here = self.path.parent
        candidates = [here, here / "templates", here.parent / "templates", Path.cwd() / "templates"]
        return [p for p in dict.fromkeys(c.resolve() for c in candidates) if p.is_dir()]

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Declared parameters with defaults applied and types checked; raise TaskError on bad input."""
        values: dict[str, Any] = {}
        declared = {p.name: p for p in self.params}
        for param in self.params:
            if param.name in given:
                values[param.name] = coerce_param(param, given[param.name], self.path)
            elif param.secret and param.default is None and param.required:
                values[param.name] = coerce_param(param, "prompt", self.path)
            elif param.required:
                raise TaskError(f"task {self.short_name} needs the parameter {param.name!r}"
                                f"{' (' + param.description + ')' if param.description else ''}: "
                                f"give it with -e {param.name}=VALUE", source=str(self.path))
            elif param.secret and param.default is not None:
                values[param.name] = coerce_param(param, param.default, self.path)
            else:
                values[param.name] = param.default
        return {**values, **{k: v for k, v in given.items() if k not in declared}}


SECRET_REF = re.compile(r"^(env:\w+|file:.+|prompt(:.*)?)$")


def coerce_param(param: Param, value: Any, path: Path) -> Any:
    """-e gives strings; turn them into the declared type, or say what is wrong.

    A ``secret`` parameter is given as a reference (``env:NAME``, ``file:PATH`` or ``prompt``), never as
    the secret itself, so it cannot land in shell history or a process list; it is resolved here.
    """
    where = dict(source=str(path))
    shown = MASKED if is_secret_name(param.name) else repr(value)  # an error never echoes a secret
    if param.secret:
        if isinstance(value, SecretRef):
            return value.resolve()
        if not isinstance(value, str) or not SECRET_REF.match(value):
            raise TaskError(f"parameter {param.name!r} is a secret: give a reference, not the value "
                            f"(-e {param.name}=prompt, env:NAME or file:PATH)", **where)
        if value.startswith("prompt"):
            value = "prompt:" + (value.partition(":")[2] or f"{param.description or param.name}")
        return SecretRef(value, source=str(path)).resolve()
    expected = PARAM_TYPES[param.type]
    if isinstance(value, str) and param.type != "str" and param.type != "secret":
        text = value.strip()
        try:
            if param.type == "int":
                value = int(text)
            elif param.type == "float":
                value = float(text)
            elif param.type == "bool":
                if text.lower() not in ("yes", "no", "true", "false", "1", "0", "on", "off"):
                    raise ValueError(text)
                value = as_bool(text)
            elif param.type == "list":
                value = [v.strip() for v in text.split(",") if v.strip()] if not text.startswith("[") else \
                    load_yaml(text, "-e", TaskError)
            elif param.type == "dict":
                value = load_yaml(text, "-e", TaskError)
        except (ValueError, TaskError):
            raise TaskError(f"parameter {param.name!r} must be {param.type}, got {shown}", **where) from None
    if param.type == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (param.type == "int" and isinstance(value, bool)):
        raise TaskError(f"parameter {param.name!r} must be {param.type}, got {type(value).__name__} {shown}",
                        **where)
    if param.choices and value not in param.choices:
        raise TaskError(f"parameter {param.name!r} is {shown}: use one of "
                        f"{', '.join(map(str, param.choices))}", **where)
    return value


# ------------------------------------------------------------------ loading


def find_task(name: str, directories: Sequence[str | Path] = ()) -> Path:
    """A task by path, or by name in tasks/ (``flush-dns`` -> tasks/flush-dns.yml)."""
    path = Path(name)
    if path.is_file():
        return path
    for directory in [*directories, *task_dirs()]:
        for candidate in (Path(directory) / name, Path(directory) / f"{name}.yml", Path(directory) / f"{name}.yaml"):
            if candidate.is_file():
                return candidate
    raise TaskError(f"task {name!r} not found: give a path, or a name from `remote-support tasks list`")


def task_dirs() -> list[Path]:
    """Task directories: $REMOTE_SUPPORT_TASKS (':'-separated), ./tasks, and the shipped library."""
    dirs = [Path(p) for p in os.environ.get("REMOTE_SUPPORT_TASKS", "").split(":") if p]
    dirs.append(Path.cwd() / "tasks")
    # the shipped library: package data in an installed wheel, the checkout's tasks/ in a development install
    package = Path(__file__).resolve().parent
    dirs += [package / "library" / "tasks", package.parent / "tasks"]
    return [d for d in dict.fromkeys(d.resolve() for d in dirs) if d.is_dir()]


class TaskTemplateError(TaskError, TemplateError):
    """A template or expression in a task file that does not parse, or a template file that is missing:
    bad input (exit 5) found when the task is loaded, with the step's file:line."""


def _read_task_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskError(f"cannot be read ({exc.strerror})", source=str(path)) from None
    if b"\x00" in raw:
        raise TaskError("is a binary file, not a YAML task: give the task's .yml file",
                        source=str(path), line=raw[:raw.index(b"\x00")].count(b"\n") + 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskError(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}): save it as UTF-8",
                        source=str(path), line=raw[:exc.start].count(b"\n") + 1) from None


def check_templates(task: Task) -> None:
    """Parse every expression, templated argument and template file of the task now (a ``when`` that does
    not parse, a template syntax error, a missing script or template file stop it before it runs)."""
    from .templating import Templar

    templar = Templar(task.search_path())
    for step in (*task.steps, *task.handlers):
        kind = step.implementation
        try:
            for key, value in step.args.items():
                if key in kind.raw_args:
                    for expression in (value if isinstance(value, list) else [value]):
                        if isinstance(expression, str):
                            templar.check_expression(expression, where=step.where)
                else:
                    templar.check_string(value, where=step.where)
            for expression in (step.when, step.until, step.changed_when, step.failed_when):
                if isinstance(expression, str):
                    templar.check_expression(expression, where=step.where)
            templar.check_string(step.loop, where=step.where)
            templar.check_string(step.vars, where=step.where)
            for template in kind.templates(step.args):
                if isinstance(template, str) and "{{" not in template:
                    templar.check_file(template)
        except TemplateError as exc:
            message = str(exc)
            raise TaskTemplateError(message if message.startswith(step.where) else f"{step.where}: {message}") \
                from None


def load_task(path: str | Path) -> Task:
    path = Path(path)
    text = _read_task_text(path)
    data = load_yaml(text, str(path), TaskError)
    src = str(path)
    if not isinstance(data, Map):
        raise TaskError("a task file is a mapping with name, params and steps", source=src, line=1)
    unknown = [k for k in data if k not in TASK_KEYS]
    if unknown:
        raise TaskError(f"unknown key {unknown[0]!r}: a task has {', '.join(TASK_KEYS)}", source=src,
                        line=data.line_of(unknown[0]))
    steps = _steps(data.get("steps"), src, data.line_of("steps"), "steps")
    if not steps:
        raise TaskError("a task needs at least one step under `steps:`", source=src, line=data.line)
    handlers = _steps(data.get("handlers") or Seq(), src, data.line_of("handlers"), "handlers")
    names = {h.name for h in handlers}
    for step in (*steps, *handlers):
        for handler in step.notify:
            if handler not in names:
                raise TaskError(f"step {step.name!r} notifies {handler!r}, which is not a handler: define it "
                                f"under `handlers:` (known: {', '.join(sorted(names)) or 'none'})",
                                source=src, line=int(step.where.rsplit(":", 1)[1]))
    if not isinstance(data.get("vars") or {}, dict):
        raise TaskError("`vars` of a task is a mapping of names to values", source=src, line=data.line_of("vars"))
    supports = data.get("supports") or {}
    if not isinstance(supports, dict):
        raise TaskError("`supports` is a mapping: {os_family: [...], connection: [...]}", source=src,
                        line=data.line_of("supports"))
    level = data.get("level", DEFAULT_LEVEL)
    if level not in (1, 2, 3) or isinstance(level, bool):
        raise TaskError(f"`level: {level}`: the support level a task needs is 1, 2 or 3", source=src,
                        line=data.line_of("level"))
    task = Task(name=str(data.get("name") or path.stem), path=path, description=str(data.get("description") or ""),
                level=level, requires_approval=as_bool(data.get("requires_approval", False)),
                params=_params(data.get("params"), src, data.line_of("params")), steps=tuple(steps),
                handlers=tuple(handlers), vars=dict(data.get("vars") or {}),
                os_families=tuple(_strings(supports.get("os_family"))),
                connections=tuple(_strings(supports.get("connection"))),
                topic=_topic(data, src))
    check_templates(task)
    return task


def _topic(data: Map, src: str) -> str:
    topic = data.get("topic")
    if topic is None:
        return DEFAULT_TOPIC
    if not isinstance(topic, str) or not re.fullmatch(r"[a-z0-9][a-z0-9 /-]*", topic):
        raise TaskError("`topic` is one short lower-case word or phrase, such as accounts or disk", source=src,
                        line=data.line_of("topic"))
    return topic


def library() -> list[Task]:
    """Every task in the task directories, the first of each name (as ``find_task`` finds them)."""
    seen: dict[str, Task] = {}
    for directory in task_dirs():
        for path in sorted(directory.glob("*.y*ml")):
            if path.stem not in seen:
                seen[path.stem] = load_task(path)
    return list(seen.values())


def by_topic(tasks: Sequence[Task]) -> dict[str, list[Task]]:
    """Tasks grouped by topic, topics in alphabetical order ("other" last), tasks by name within each."""
    groups: dict[str, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.short_name):
        groups.setdefault(task.topic, []).append(task)
    return dict(sorted(groups.items(), key=lambda item: (item[0] == DEFAULT_TOPIC, item[0])))


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _params(data: Any, src: str, line: int) -> tuple[Param, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise TaskError("`params` is a list of {name, type, default, required, description}", source=src, line=line)
    params = []
    for index, item in enumerate(data):
        item_line = data.line_of(index) if isinstance(data, Seq) else line
        if not isinstance(item, dict) or "name" not in item:
            raise TaskError("each parameter is a mapping with at least a name", source=src, line=item_line)
        unknown = set(item) - {"name", "type", "default", "required", "description", "choices"}
        if unknown:
            raise TaskError(f"parameter {item['name']!r} has unknown key {sorted(unknown)[0]!r}", source=src,
                            line=item_line)
        ptype = str(item.get("type", "str"))
        if ptype not in PARAM_TYPES:
            raise TaskError(f"parameter {item['name']!r} has type {ptype!r}: use one of {', '.join(PARAM_TYPES)}",
                            source=src, line=item_line)
        param = Param(name=str(item["name"]), type=ptype, default=item.get("default"),
                      required=_flag(item, "required", src, item_line), description=str(item.get("description", "")),
                      choices=tuple(item.get("choices") or ()))
        if param.default is not None and not param.secret:
            coerce_param(param, param.default, Path(src))
        params.append(param)
    return tuple(params)


def _steps(data: Any, src: str, line: int, what: str) -> list[Step]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise TaskError(f"`{what}` is a list of steps", source=src, line=line)
    steps = []
    for index, item in enumerate(data):
        item_line = data.line_of(index) if isinstance(data, Seq) else line
        steps.append(_step(item, src, item_line, index + 1))
    return steps


def _step(item: Any, src: str, line: int, number: int) -> Step:
    where = f"{src}:{line}"
    if not isinstance(item, dict):
        raise TaskError("a step is a mapping such as {name: ..., command: ...}", source=src, line=line)
    kinds = [k for k in item if k not in STEP_KEYWORDS]
    if not kinds:
        raise TaskError(f"step has no kind: add one of {', '.join(kind_names())}", source=src, line=line)
    if len(kinds) > 1:
        known = [k for k in kinds if step_kind(k)]
        unknown = [k for k in kinds if not step_kind(k)]
        if unknown:
            raise TaskError(f"unknown step kind or keyword {unknown[0]!r}: step kinds are {', '.join(kind_names())}; "
                            f"keywords are {', '.join(STEP_KEYWORDS)}", source=src, line=_line(item, unknown[0], line))
        raise TaskError(f"a step has one kind, this one has {', '.join(known)}: split it in two", source=src, line=line)
    kind_name = kinds[0]
    kind = step_kind(kind_name)
    if kind is None:
        raise TaskError(f"unknown step kind {kind_name!r}: use one of {', '.join(kind_names())}", source=src,
                        line=_line(item, kind_name, line))
    args = kind.normalize(item[kind_name], f"{src}:{_line(item, kind_name, line)}")
    kind.validate(args, f"{src}:{_line(item, kind_name, line)}")

    def number_of(key: str, cast):
        value = item.get(key)
        if value is None:
            return None
        try:
            result = cast(value)
        except (TypeError, ValueError):
            raise TaskError(f"{key} must be a number, not {value!r}", source=src, line=_line(item, key, line)) from None
        if result < 0:
            raise TaskError(f"{key} must not be negative", source=src, line=_line(item, key, line))
        return result

    for key in ("when", "until"):
        if key in item and not isinstance(item[key], (str, bool)):
            raise TaskError(f"`{key}` is one Jinja2 expression (a string)", source=src, line=_line(item, key, line))
    notify = _strings(item.get("notify"))
    tags = _strings(item.get("tags"))
    step_vars = item.get("vars") or {}
    if not isinstance(step_vars, dict):
        raise TaskError("`vars` of a step is a mapping", source=src, line=_line(item, "vars", line))
    return Step(
        name=str(item.get("name") or f"{kind_name} #{number}"), kind=kind_name, args=args, where=where,
        when=_expression(item.get("when")), loop=item.get("loop"), loop_var=str(item.get("loop_var") or "item"),
        register=str(item["register"]) if item.get("register") else None,
        become=_flag(item, "become", src, line) if "become" in item else None,
        become_user=str(item["become_user"]) if item.get("become_user") else None,
        timeout=number_of("timeout", float), retries=number_of("retries", int) or 0,
        delay=number_of("delay", float) if item.get("delay") is not None else 1.0,
        until=_expression(item.get("until")), ignore_errors=_flag(item, "ignore_errors", src, line),
        changed_when=item.get("changed_when"), failed_when=item.get("failed_when"),
        notify=tuple(notify), tags=tuple(tags),
        check_mode=_flag(item, "check_mode", src, line) if "check_mode" in item else None, vars=dict(step_vars),
    )


_TRUE = ("yes", "true", "on", "1", "y")
_FALSE = ("no", "false", "off", "0", "n", "")


def _flag(item: Mapping[str, Any], key: str, src: str, line: int) -> bool:
    """A yes/no keyword: ``become: maybe`` is an error, not a silent false."""
    value = item.get(key, False)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise TaskError(f"`{key}` is true or false (yes/no), not {value!r}", source=src, line=_line(item, key, line))


def _expression(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _line(item: Any, key: str, default: int) -> int:
    return item.line_of(key) if isinstance(item, Map) else default
