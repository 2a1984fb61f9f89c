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
import heapq
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jinja2
import jinja2.meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .connections.shells import QuotingError, cmd_quote, posix_quote, ps_quote
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
    "mandatory": _mandatory,
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


#: seconds one rendering or expression may take: nested loops that print nothing are bounded too
MAX_RENDER_SECONDS = 10.0


class _RenderTimeout(SecurityError):
    def __init__(self, message: str = "") -> None:
        super().__init__(message or f"the template ran longer than {MAX_RENDER_SECONDS:g}s: refused by the "
                         "template sandbox (loops too large?)")


class _TimeBound:
    """Past MAX_RENDER_SECONDS the watchdog raises _RenderTimeout in the rendering thread (CPython's async
    exception, delivered at its next bytecode): next to no cost while a template is within its time."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.done = self.fired = False

    def __enter__(self) -> "_TimeBound":
        _WATCHDOG.watch(self, time.monotonic() + MAX_RENDER_SECONDS)
        return self

    def __exit__(self, *exc: object) -> None:
        with _WATCHDOG.lock:
            self.done = True
            if self.fired:  # not delivered yet (or already raised): nothing may arrive after this point
                _async_raise(self.thread, None)

    def fire(self) -> None:  # called by the watchdog with its lock held
        if not self.done:
            self.fired = True
            _async_raise(self.thread, _RenderTimeout)


class _Watchdog:
    """One thread for every rendering in the process: it sleeps until the nearest deadline."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.heap: list[tuple[float, int, _TimeBound]] = []
        self.counter = 0
        self.thread: threading.Thread | None = None

    def watch(self, bound: _TimeBound, deadline: float) -> None:
        with self.lock:
            self.counter += 1
            heapq.heappush(self.heap, (deadline, self.counter, bound))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="template-watchdog", daemon=True)
                self.thread.start()
            elif self.heap[0][2] is bound:
                self.wake.notify()

    def _run(self) -> None:
        with self.lock:
            while True:
                while self.heap and self.heap[0][2].done:
                    heapq.heappop(self.heap)
                if not self.heap:
                    self.wake.wait()
                    continue
                left = self.heap[0][0] - time.monotonic()
                if left > 0:
                    self.wake.wait(left)
                    continue
                heapq.heappop(self.heap)[2].fire()


_WATCHDOG = _Watchdog()


def _async_raise(thread: int, exc: type[BaseException] | None) -> None:
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc) if exc else None)


def render_bounded(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """``template.render(variables)``, stopped once the text passes MAX_OUTPUT characters or the
    rendering takes longer than MAX_RENDER_SECONDS."""
    parts: list[str] = []
    size = 0
    with _TimeBound():
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
        self.ps_env = self._environment(loader, finalize=_ps_finalize)
        # Compiled strings and expressions, by source: a task renders the same few strings on every host,
        # and compiling one costs ~100x rendering it (jinja caches files itself, not from_string). Compiled
        # templates are immutable, so threads share them; two threads compiling the same source at once
        # only waste one compile. Bounded: a source can differ per host (a host variable holding a template).
        self._compiled: dict[tuple[int, str], Any] = {}

    @staticmethod
    def _environment(loader, finalize=None) -> ImmutableSandboxedEnvironment:
        env = _BoundedSandbox(loader=loader, undefined=ChainedStrictUndefined, keep_trailing_newline=True,
                              autoescape=False, finalize=finalize)
        env.globals["range"] = _bounded_range
        for name in ("center", "indent", "wordwrap", "format", "slice"):
            env.filters[name] = _bounded_filter(name, env.filters[name])
        env.filters.update(FILTERS)
        env.tests.update(TESTS)
        return env

    _CACHE_LIMIT = 2048

    def _remember(self, key: tuple[int, str], compiled: Any) -> Any:
        if len(self._compiled) >= self._CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[key] = compiled
        return compiled

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
                template = self._compiled.get((id(env), text))
                if template is None:
                    template = self._remember((id(env), text), env.from_string(text))
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
            compiled = self._compiled.get((0, expression))
            if compiled is None:
                compiled = self._remember((0, expression),
                                          self.env.compile_expression(expression, undefined_to_none=False))
            with _TimeBound():
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
