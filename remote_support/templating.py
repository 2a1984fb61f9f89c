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
import shlex
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import jinja2.meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import TemplateError


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
}
TESTS = {
    "match": lambda v, p: re.match(p, str(v)) is not None,
    "search": lambda v, p: re.search(p, str(v)) is not None,
}


# ------------------------------------------------------------------ sandbox limits
# A template comes from a task file or an inventory value: it must not take the controller's memory or
# minutes of CPU (range(10**8), "x" * 10**10, 10 ** 10 ** 10, "%0999999999d", center(10**9)).

#: characters one rendering may produce, and items or characters one operation may build
MAX_OUTPUT = 32 * 1024 * 1024
MAX_ITEMS = 1_000_000
#: a width or count argument (ljust, center, indent, a format's width or precision) at most this
MAX_WIDTH = 1_000_000
# widths and precisions in printf-style (%0999999999d) and str.format ({:>999999999}) specifications
_FORMAT_WIDTH = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d*))?[a-zA-Z]|\{[^{}:]*:[^{}\d]*(\d*)(?:\.(\d*))?[^{}]*\}")


def _too_big(what: str) -> SecurityError:
    return SecurityError(f"{what}: refused by the template sandbox (limit {MAX_ITEMS:,} items, "
                         f"{MAX_OUTPUT // (1024 * 1024)} MiB of text)")


def _bounded_range(*args: Any) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise _too_big(f"range of {len(numbers):,} numbers")
    return numbers


def _check_format(spec: Any) -> None:
    if isinstance(spec, str) and any(len(n) > 6 and int(n) > MAX_WIDTH
                                     for match in _FORMAT_WIDTH.findall(spec) for n in match if n):
        raise _too_big("a format width or precision over a million")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with bounds on what one operation may build."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _size(seq)
                if size is not None and isinstance(times, int) and size * times > MAX_ITEMS * 32:
                    raise _too_big(f"repeating a value of length {size:,} {times:,} times")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 and \
                    right * max(abs(left).bit_length(), 1) > 64 * 1024:
                raise _too_big(f"{left} ** {right}")
        elif operator == "%":
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # str.ljust(10**9), "{:>999999999}".format(1), lipsum(10**7) ... : widths and counts bounded
        target = getattr(__obj, "__wrapped__", __obj)
        name = getattr(target, "__name__", "")
        if name in _WIDTH_CALLS and _over_width(args, kwargs):
            raise _too_big(f"{name} with a width or count over a million")
        if name in ("format", "format_map"):
            _check_format(getattr(target, "__self__", None))
        return super().call(__context, __obj, *args, **kwargs)


#: callables whose integer arguments are widths or counts of what they build
_WIDTH_CALLS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "generate_lorem_ipsum"})


def _over_width(args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    return any(isinstance(a, int) and not isinstance(a, bool) and a > MAX_WIDTH for a in (*args, *kwargs.values()))


def _bounded_filter(name: str, original: Any) -> Any:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not isinstance(a, jinja2.Environment)]  # (environment,) value, widths
        if name == "format":
            _check_format(values[0] if values else None)
        elif _over_width(values[1:], kwargs):
            raise _too_big(f"the {name} filter with a width or count over a million")
        return original(*args, **kwargs)

    for attribute in ("jinja_pass_arg",):  # keep how jinja passes the environment or context
        if hasattr(original, attribute):
            setattr(bounded, attribute, getattr(original, attribute))
    return bounded


def render_bounded(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """``template.render(variables)``, stopped once the text passes MAX_OUTPUT characters."""
    parts: list[str] = []
    size = 0
    for chunk in template.generate(variables):
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _too_big("the rendered text")
        parts.append(chunk)
    return "".join(parts)


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
        env = _BoundedSandbox(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False, finalize=finalize)
        env.globals["range"] = _bounded_range
        for name in ("center", "indent", "wordwrap", "format", "slice"):
            env.filters[name] = _bounded_filter(name, env.filters[name])
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
                return render_bounded(template, variables)
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
            return render_bounded(template, variables)
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
