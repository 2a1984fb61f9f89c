"""Jinja2 templating that cannot hurt a host.

- Strict undefined everywhere: an undefined variable is an error naming the variable and where it is,
  found before anything runs (:func:`analyse`). Ansible's idioms for optional variables are honoured, at
  run time and in that early check: ``x | default(...)`` (``| d``), ``x is defined``/``is not defined``,
  ``{% if x is defined %}`` around a use, ``a if x is defined else b``, ``x is defined and x > 1``,
  ``default(omit)`` (the step argument is then left out) and ``x | mandatory``.
- A sandboxed environment: inventory-provided strings cannot reach Python internals.
- Command text (``command`` steps, ``when``-free shell strings) is rendered with every interpolated
  value shell-quoted, unless the template marks it ``| raw``; ``| quote`` quotes explicitly elsewhere.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import jinja2.meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateError


#: the value of ``omit``: a step argument that renders to it is left out, as in Ansible
OMIT = "__omit_place_holder__" + secrets.token_hex(16)


class ChainedStrictUndefined(jinja2.StrictUndefined):
    """Strict, but chained as Ansible's undefined is: ``x.y`` and ``x['y']`` of an undefined ``x`` are
    undefined too (so ``x.y | default('z')`` and ``x.y is defined`` work); printing, iterating, comparing
    or testing it still fails, naming the first undefined name."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, _key: Any) -> Any:
        return self


def _mandatory(value: Any, msg: str | None = None) -> Any:
    """Ansible's ``mandatory`` filter: the value, or an error naming the variable (or saying ``msg``)."""
    if isinstance(value, jinja2.Undefined):
        if msg is not None:
            raise jinja2.TemplateRuntimeError(str(msg))
        name = value._undefined_name  # noqa: SLF001 (jinja keeps the name there)
        raise jinja2.UndefinedError(f"'{name}' is undefined (mandatory)" if name else "a mandatory value is undefined")
    return value


def remove_omit(value: Any) -> Any:
    """Arguments without those that rendered to ``omit`` (in nested mappings and lists too, as Ansible)."""
    if isinstance(value, Mapping):
        return {k: remove_omit(v) for k, v in value.items() if v != OMIT}
    if isinstance(value, list):
        return [remove_omit(v) for v in value if v != OMIT]
    return value


class ShellSafe(str):
    """Text already fit for a shell command line: quoted by ``quote`` or declared safe by ``raw``."""


def _quote(value: Any) -> ShellSafe:
    if isinstance(value, (list, tuple)):
        return ShellSafe(" ".join(shlex.quote(str(v)) for v in value))
    return ShellSafe(shlex.quote(str(value)))


def _raw(value: Any) -> ShellSafe:
    return ShellSafe(str(value))


def _shell_finalize(value: Any) -> Any:
    if isinstance(value, ShellSafe):
        return value
    if isinstance(value, bool) or value is None:
        return shlex.quote(str(value).lower() if isinstance(value, bool) else "")
    return shlex.quote(str(value))


_CMD_UNSAFE = re.compile(r'["%!\r\n^]')
_CMD_SPECIAL = re.compile(r"[\s&|<>()@,;=]")


def _cmd_finalize(value: Any) -> Any:
    """Values in cmd.exe command text on Windows hosts: quoted, and refused when no quoting is safe."""
    if isinstance(value, ShellSafe):
        return value
    text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    if _CMD_UNSAFE.search(text):
        raise TemplateError(f"the value {text!r} cannot be passed safely to cmd.exe (it holds \", %, !, ^ or a "
                            "line break): pass it to a powershell step's params instead")
    return f'"{text}"' if not text or _CMD_SPECIAL.search(text) else text


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "y")
    return bool(value)


def _regex_replace(value: Any, pattern: str, replacement: str = "") -> str:
    return re.sub(pattern, replacement, str(value))


def _regex_search(value: Any, pattern: str) -> str | None:
    match = re.search(pattern, str(value))
    return match.group(0) if match else None


def _human_bytes(value: Any) -> str:
    number = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(number) < 1024 or unit == "TiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return str(value)


FILTERS = {
    "quote": _quote,
    "raw": _raw,
    "bool": _to_bool,
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "from_json": json.loads,
    "to_yaml": lambda v: __import__("yaml").safe_dump(v, default_flow_style=False),
    "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
    "b64decode": lambda v: base64.b64decode(str(v)).decode(),
    "regex_replace": _regex_replace,
    "regex_search": _regex_search,
    "human_bytes": _human_bytes,
    "mandatory": _mandatory,
}
TESTS = {
    "match": lambda v, p: re.match(p, str(v)) is not None,
    "search": lambda v, p: re.search(p, str(v)) is not None,
}


class Templar:
    """Renders task strings, template files and expressions for one task's search path."""

    def __init__(self, search_path: Sequence[str | Path] = ()):
        self.search_path = [str(p) for p in search_path]
        loader = jinja2.FileSystemLoader(self.search_path) if self.search_path else None
        self.env = self._environment(loader)
        self.shell_env = self._environment(loader, finalize=_shell_finalize)
        self.cmd_env = self._environment(loader, finalize=_cmd_finalize)
        self._lock = threading.Lock()  # jinja's template cache is thread-safe; compiling twice is only waste

    @staticmethod
    def _environment(loader, finalize=None) -> ImmutableSandboxedEnvironment:
        env = ImmutableSandboxedEnvironment(loader=loader, undefined=ChainedStrictUndefined,
                                            keep_trailing_newline=True, autoescape=False,
                                            finalize=finalize)
        env.filters.update(FILTERS)
        env.tests.update(TESTS)
        return env

    # -- rendering

    def render(self, text: Any, variables: Mapping[str, Any], *, where: str, shell: bool | str = False) -> Any:
        """Render a value from a task file: strings are templates; lists and dicts are rendered inside.

        ``shell=True`` quotes interpolated values for a POSIX shell, ``shell="cmd"`` for cmd.exe.

        A string that is one expression (``"{{ packages }}"``) renders to the value itself, not its text,
        so loops and parameters keep their type.
        """
        if isinstance(text, str):
            if "{{" not in text and "{%" not in text:
                return text
            single = re.fullmatch(r"\s*\{\{(.*)\}\}\s*", text, re.S)
            if single and not shell and "}}" not in single.group(1) and "{{" not in single.group(1):
                return self.evaluate(single.group(1), variables, where=where)
            env = self.cmd_env if shell == "cmd" else self.shell_env if shell else self.env
            try:
                template = env.from_string(text)
                return template.render(variables)
            except jinja2.TemplateError as exc:
                raise _error(exc, where, text) from None
            except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
                raise TemplateError(f"{where}: template error in {text!r}: {type(exc).__name__}: {exc}") from None
        if isinstance(text, Mapping):
            return {k: self.render(v, variables, where=where, shell=shell) for k, v in text.items()}
        if isinstance(text, (list, tuple)):
            return [self.render(v, variables, where=where, shell=shell) for v in text]
        return text

    def render_file(self, name: str, variables: Mapping[str, Any]) -> str:
        """Render a template file found on the search path (templates/ beside the task, ...)."""
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise TemplateError(f"template {name!r} not found in {', '.join(self.search_path) or 'no directory'}: "
                                "check the name or put it in templates/") from None
        except jinja2.TemplateSyntaxError as exc:
            raise _error(exc, name, None) from None
        try:
            return template.render(variables)
        except jinja2.TemplateError as exc:
            raise _error(exc, template.filename or name, None, tb_file=template.filename) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
            line = _template_line(exc, template.filename) if template.filename else None
            raise TemplateError(f"{template.filename or name}{':' + str(line) if line else ''}: template error: "
                                f"{type(exc).__name__}: {exc}") from None

    def evaluate(self, expression: str, variables: Mapping[str, Any], *, where: str) -> Any:
        """Evaluate a Jinja2 expression (``when``, ``until``, ``changed_when``...) to a Python value."""
        expression = expression.strip()
        if expression.startswith("{{") and expression.endswith("}}"):
            expression = expression[2:-2]
        try:
            compiled = self.env.compile_expression(expression, undefined_to_none=False)
            value = compiled(**variables)
        except jinja2.TemplateError as exc:
            raise _error(exc, where, expression) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
            raise TemplateError(f"{where}: cannot evaluate {expression!r}: {type(exc).__name__}: {exc}") from None
        if isinstance(value, jinja2.Undefined):
            # StrictUndefined raises on use, not on return: make an undefined result an error too
            try:
                str(value)
            except jinja2.UndefinedError as exc:
                raise _error(exc, where, expression) from None
        return value

    # -- checking before anything runs

    def analyse_expression(self, expression: str, *, where: str) -> Uses:
        """Parse an expression now (a ``when`` that does not parse fails the task before it runs); say
        which variables it needs and which it only reads behind a guard."""
        expression = expression.strip()
        if expression.startswith("{{") and expression.endswith("}}"):
            expression = expression[2:-2]
        try:
            ast = self.env.parse("{{ (" + expression + ") }}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: expression {expression!r} does not parse: {exc.message}") from None
        return _uses(ast, self.env)

    def analyse_string(self, text: Any, *, where: str) -> Uses:
        """Parse a templated value (strings inside lists and mappings too) now; the variables it uses."""
        uses = Uses()
        for piece in _strings(text):
            if "{{" not in piece and "{%" not in piece:
                continue
            try:
                ast = self.env.parse(piece)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
            uses.update(_uses(ast, self.env))
        return uses

    def analyse_file(self, name: str, _seen: frozenset[str] = frozenset()) -> Uses:
        """Parse a template file now (its includes too); the variables it uses, with file and line."""
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name) if self.env.loader else (None, None, None)
        except jinja2.TemplateNotFound:
            source = None
        if source is None:
            raise TemplateError(f"template {name!r} not found in {', '.join(self.search_path) or 'no directory'}: "
                                "check the name or put it in templates/")
        try:
            ast = self.env.parse(source, name, filename)
        except jinja2.TemplateSyntaxError as exc:
            raise _error(exc, filename or name, None) from None
        uses = _uses(ast, self.env, template=name)
        for ref in jinja2.meta.find_referenced_templates(ast):
            if ref and ref not in _seen:
                uses.update(self.analyse_file(ref, _seen | {name}))
        return uses

    def defined_when_true(self, expression: str, *, where: str) -> frozenset[str]:
        """Variables an expression proves defined when it is true (``when: proxy is defined``)."""
        expression = expression.strip()
        if expression.startswith("{{") and expression.endswith("}}"):
            expression = expression[2:-2]
        try:
            ast = self.env.parse("{{ (" + expression + ") }}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: expression {expression!r} does not parse: {exc.message}") from None
        output = ast.body[0]
        return proven(output.nodes[0], True) if isinstance(output, jinja2.nodes.Output) and output.nodes else frozenset()

    def check_expression(self, expression: str, *, where: str) -> set[str]:
        """The variables an expression needs (used outside any guard such as ``default`` or ``is defined``)."""
        return set(self.analyse_expression(expression, where=where).required)

    def check_string(self, text: Any, *, where: str) -> set[str]:
        """The variables a templated value needs."""
        return set(self.analyse_string(text, where=where).required)

    def check_file(self, name: str) -> set[str]:
        """The variables a template file needs (its includes included)."""
        return set(self.analyse_file(name).required)


@dataclass(frozen=True)
class Need:
    """Where a template needs a variable: the template file (None: the task file), the line, and the
    message of a ``mandatory('...')`` filter when there is one."""

    template: str | None = None
    line: int | None = None
    message: str | None = None


@dataclass
class Uses:
    """The variables templates read: ``required`` ones fail when undefined (the first place each is
    needed); ``optional`` ones are read only behind a guard (``default``, ``is defined``, ``if``)."""

    required: dict[str, Need] = field(default_factory=dict)
    optional: set[str] = field(default_factory=set)

    def update(self, other: "Uses") -> None:
        for name, need in other.required.items():
            self.required.setdefault(name, need)
        self.optional |= other.optional

    @property
    def names(self) -> set[str]:
        """Every variable read, guarded or not."""
        return set(self.required) | self.optional


_DEFAULT_FILTERS = ("default", "d")
_DEFINED_TESTS = {"defined": True, "undefined": False}


def _root(node: jinja2.nodes.Node) -> str | None:
    while isinstance(node, (jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
        node = node.node
    return node.name if isinstance(node, jinja2.nodes.Name) else None


def proven(node: jinja2.nodes.Node, when: bool) -> frozenset[str]:
    """Names known to be defined when the expression ``node`` evaluates to ``when``."""
    if isinstance(node, jinja2.nodes.Test) and node.name in _DEFINED_TESTS:
        name = _root(node.node)
        return frozenset([name]) if name and _DEFINED_TESTS[node.name] == when else frozenset()
    if isinstance(node, jinja2.nodes.Not):
        return proven(node.node, not when)
    if isinstance(node, jinja2.nodes.And):
        return (proven(node.left, True) | proven(node.right, True)) if when else \
            (proven(node.left, False) & proven(node.right, False))
    if isinstance(node, jinja2.nodes.Or):
        return (proven(node.left, True) & proven(node.right, True)) if when else \
            (proven(node.left, False) | proven(node.right, False))
    return frozenset()


def _uses(ast: jinja2.nodes.Template, env: jinja2.Environment, template: str | None = None) -> Uses:
    """The variables a template reads from outside, each as required or guarded (optional).

    A name is guarded where an undefined value cannot fail: the subject of ``default``/``d`` and of the
    ``defined``/``undefined`` tests, and any place a test proved it defined first (``if``/``elif``/``else``
    bodies, the right of ``and``/``or``, a ``... if ... else ...``). Names the template sets itself
    (``set``, loop targets, macro parameters) are not read from outside; nor are the environment's globals.
    """
    local = {node.name for node in ast.find_all(jinja2.nodes.Name) if node.ctx in ("store", "param")}
    local |= set(env.globals)
    uses = Uses()

    def guarded(node: jinja2.nodes.Node) -> None:
        names = [node] if isinstance(node, jinja2.nodes.Name) else list(node.find_all(jinja2.nodes.Name))
        uses.optional.update(n.name for n in names if n.ctx == "load" and n.name not in local)

    def visit(node: jinja2.nodes.Node, safe: frozenset[str], message: str | None = None) -> None:
        if isinstance(node, jinja2.nodes.Name):
            if node.ctx == "load" and node.name not in local:
                if node.name in safe:
                    uses.optional.add(node.name)
                else:
                    uses.required.setdefault(node.name, Need(template, node.lineno, message))
            return
        if isinstance(node, jinja2.nodes.Filter) and node.node is not None:
            if node.name in _DEFAULT_FILTERS:
                guarded(node.node)
                for child in (*node.args, *node.kwargs):
                    visit(child, safe)
                return
            if node.name == "mandatory":
                given = node.args[0].value if node.args and isinstance(node.args[0], jinja2.nodes.Const) else None
                visit(node.node, safe, str(given) if given is not None else None)
                for child in (*node.args, *node.kwargs):
                    visit(child, safe)
                return
        if isinstance(node, jinja2.nodes.Test) and node.name in _DEFINED_TESTS:
            guarded(node.node)
            return
        if isinstance(node, jinja2.nodes.And):
            visit(node.left, safe)
            visit(node.right, safe | proven(node.left, True))
            return
        if isinstance(node, jinja2.nodes.Or):
            visit(node.left, safe)
            visit(node.right, safe | proven(node.left, False))
            return
        if isinstance(node, jinja2.nodes.CondExpr):
            visit(node.test, safe)
            visit(node.expr1, safe | proven(node.test, True))
            if node.expr2 is not None:
                visit(node.expr2, safe | proven(node.test, False))
            return
        if isinstance(node, jinja2.nodes.If):
            visit(node.test, safe)
            for child in node.body:
                visit(child, safe | proven(node.test, True))
            otherwise = safe | proven(node.test, False)
            for branch in node.elif_:  # each elif test runs only when the tests before it were false
                visit(branch.test, otherwise)
                for child in branch.body:
                    visit(child, otherwise | proven(branch.test, True))
                otherwise = otherwise | proven(branch.test, False)
            for child in node.else_:
                visit(child, otherwise)
            return
        for child in node.iter_child_nodes():
            visit(child, safe, message)

    visit(ast, frozenset())
    return uses


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _error(exc: jinja2.TemplateError, where: str, text: str | None, tb_file: str | None = None) -> TemplateError:
    """A TemplateError that names the variable, the file and the line."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        location = exc.filename or exc.name or where
        return TemplateError(f"{location}:{exc.lineno}: template syntax error: {exc.message}")
    line = _template_line(exc, tb_file) if tb_file else None
    location = f"{where}:{line}" if line else where
    message = exc.message or str(exc)
    undefined = re.search(r"'([^']+)' is undefined", message) or re.search(r"has no attribute '([^']+)'", message)
    if isinstance(exc, jinja2.UndefinedError) and undefined:
        return TemplateError(f"{location}: undefined variable {undefined.group(1)!r} ({message}): define it in "
                             "the inventory, as a task parameter or with -e")
    return TemplateError(f"{location}: template error: {message}")


def _template_line(exc: BaseException, filename: str) -> int | None:
    """Jinja maps its frames to template lines: find the deepest frame in the template file."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
