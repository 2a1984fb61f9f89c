"""Jinja2 templating that cannot hurt a host.

- StrictUndefined everywhere: an undefined variable is an error naming the variable and where it is.
- A sandboxed environment: inventory-provided strings cannot reach Python internals.
- Command text (``command`` steps, ``when``-free shell strings) is rendered with every interpolated
  value shell-quoted, unless the template marks it ``| raw``; ``| quote`` quotes explicitly elsewhere.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import jinja2.meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .connections.shells import QuotingError, cmd_quote, posix_quote, ps_quote
from .errors import TemplateError


class ShellSafe(str):
    """Text already fit for a shell command line: quoted by ``quote`` or declared safe by ``raw``."""


def _quote(value: Any) -> ShellSafe:
    if isinstance(value, (list, tuple)):
        return ShellSafe(" ".join(posix_quote(str(v)) for v in value))
    return ShellSafe(posix_quote(str(value)))


def _raw(value: Any) -> ShellSafe:
    return ShellSafe(str(value))


def _shell_finalize(value: Any) -> Any:
    if isinstance(value, ShellSafe):
        return value
    if isinstance(value, bool) or value is None:
        return posix_quote(str(value).lower() if isinstance(value, bool) else "")
    return posix_quote(str(value))


def _cmd_finalize(value: Any) -> Any:
    """Values in cmd.exe command text on Windows hosts: quoted, and refused when no quoting is safe."""
    if isinstance(value, ShellSafe):
        return value
    text = "" if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    try:
        return cmd_quote(text)
    except QuotingError as exc:
        raise TemplateError(str(exc)) from None


def _ps_finalize(value: Any) -> Any:
    """Values in PowerShell command text: single-quoted string literals."""
    if isinstance(value, ShellSafe):
        return value
    return ps_quote("" if value is None else (str(value).lower() if isinstance(value, bool) else str(value)))


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
        self.ps_env = self._environment(loader, finalize=_ps_finalize)
        self._lock = threading.Lock()  # jinja's template cache is thread-safe; compiling twice is only waste

    @staticmethod
    def _environment(loader, finalize=None) -> ImmutableSandboxedEnvironment:
        env = ImmutableSandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined,
                                            keep_trailing_newline=True, autoescape=False,
                                            finalize=finalize)
        env.filters.update(FILTERS)
        env.tests.update(TESTS)
        return env

    # -- rendering

    def render(self, text: Any, variables: Mapping[str, Any], *, where: str, shell: bool | str = False) -> Any:
        """Render a value from a task file: strings are templates; lists and dicts are rendered inside.

        ``shell`` names the shell whose quoting interpolated values get (connections/shells.py):
        ``"posix"`` (or True), ``"cmd"``, ``"powershell"``; ``"network-cli"`` and False quote nothing.

        A string that is one expression (``"{{ packages }}"``) renders to the value itself, not its text,
        so loops and parameters keep their type.
        """
        if isinstance(text, str):
            if "{{" not in text and "{%" not in text:
                return text
            single = re.fullmatch(r"\s*\{\{(.*)\}\}\s*", text, re.S)
            if single and not shell and "}}" not in single.group(1) and "{{" not in single.group(1):
                return self.evaluate(single.group(1), variables, where=where)
            env = {"cmd": self.cmd_env, "powershell": self.ps_env, "network-cli": self.env}.get(
                shell, self.shell_env) if shell else self.env
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

    def check_expression(self, expression: str, *, where: str) -> set[str]:
        """Parse an expression now (a ``when`` that does not parse fails the task before it runs)."""
        expression = expression.strip()
        if expression.startswith("{{") and expression.endswith("}}"):
            expression = expression[2:-2]
        try:
            ast = self.env.parse("{{ (" + expression + ") }}")
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: expression {expression!r} does not parse: {exc.message}") from None
        return _undeclared(ast)

    def check_string(self, text: Any, *, where: str) -> set[str]:
        """Parse a templated value now; return the variables it uses."""
        names: set[str] = set()
        for piece in _strings(text):
            if "{{" not in piece and "{%" not in piece:
                continue
            try:
                ast = self.env.parse(piece)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
            names |= _undeclared(ast)
        return names

    def check_file(self, name: str) -> set[str]:
        """Parse a template file now; return the variables it uses (its includes included)."""
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
        names = _undeclared(ast)
        for ref in jinja2.meta.find_referenced_templates(ast):
            if ref:
                names |= self.check_file(ref)
        return names


def _undeclared(ast: jinja2.nodes.Template) -> set[str]:
    """Variables a template reads from outside. Jinja's own answer also lists names the template sets
    inside an ``if`` or a loop body (``{% set a = 1 %}`` there), which are not undefined: drop them."""
    assigned = {node.name for node in ast.find_all(jinja2.nodes.Name) if node.ctx in ("store", "param")}
    return set(jinja2.meta.find_undeclared_variables(ast)) - assigned


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
