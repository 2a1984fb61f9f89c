"""Fuzzing the inventory, task and template loaders (hypothesis): any input ends in success or in a
RemoteSupportError (exit 5 with a message for the loaders), within a time bound (hypothesis' deadline)
and a memory bound (the address-space limit set around each test), never another exception.

The quick runs go with the suite; ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import os
import resource
import string
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from remote_support.errors import RemoteSupportError  # noqa: E402
from remote_support.inventory import load_inventory  # noqa: E402
from remote_support.secrets import NAMES  # noqa: E402
from remote_support.tasks import STEP_KEYWORDS, load_task  # noqa: E402
from remote_support.templating import Templar  # noqa: E402

QUICK = settings(max_examples=150, deadline=timedelta(seconds=3),
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=3000, deadline=timedelta(seconds=3),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HEADROOM = 1024 * 1024 * 1024  # what one example may add to the address space


@pytest.fixture(autouse=True)
def memory_bound():
    """Cap the address space at what the process has now plus 1 GiB: a bomb ends in MemoryError, which
    the test reports as the failure it is. The soft limit is put back afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + HEADROOM, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        NAMES.configure()


def _loads_or_says_why(load, *, exit_code: int | None = 5) -> None:
    try:
        load()
    except RemoteSupportError as exc:
        assert str(exc).strip(), "an error must say what is wrong"
        if exit_code is not None:
            assert exc.exit_code == exit_code, (type(exc).__name__, str(exc))


# ------------------------------------------------------------------ values

words = st.sampled_from(["web", "db", "all", "lab-001", "x", "", " ", "..", "[1:3]", "web[1:2]", "{{ x }}",
                         "{% if %}", "*a", "&a", "!vault", "secret", "env:HOME", "file:/nonexistent",
                         "prompt", "10.0.0.1", "::1", "user@jump:22", "-J x", "ansible_host", "yes", "no",
                         "maybe", "null", "~", "1e9", "0x10", "\x1b[2J", "\u202e", "é"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True),
                    st.text(max_size=20), words)


def structures(keys):
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(keys, st.text(max_size=8)), inner, max_size=5)),
        max_leaves=25)


INVENTORY_KEYS = st.sampled_from(
    ["defaults", "groups", "hosts", "vars", "children", "address", "port", "user", "connection", "password",
     "proxy_jump", "become", "become_password", "groups", "ansible_host", "ansible_port", "ansible_connection",
     "ansible_ssh_common_args", "connect_timeout", "secret", "secret_vars", "not_secret_vars", "all",
     "ungrouped", "pc-1", "web", "device_type", "private_key_file"])
TASK_KEYS = st.sampled_from(
    ["name", "description", "supports", "params", "steps", "handlers", "vars", "type", "default", "required",
     "choices", "src", "dest", "content", "that", "msg", "os_family", "connection", "state", "pkg",
     *STEP_KEYWORDS, "command", "shell", "script", "template", "copy", "fetch", "assert", "package", "service",
     "wait_for", "reboot", "facts"])


def _dump(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return str(data)


def _inventory_file(text: str | bytes, suffix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="rs-fuzz-"))
    path = directory / f"inventory{suffix}"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return path


def _check_inventory(text: str | bytes, suffix: str) -> None:
    path = _inventory_file(text, suffix)
    try:
        _loads_or_says_why(lambda: load_inventory([str(path)]))
    finally:
        path.unlink()
        path.parent.rmdir()


def _check_task(text: str | bytes) -> None:
    directory = Path(tempfile.mkdtemp(prefix="rs-fuzz-"))
    path = directory / "task.yml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        _loads_or_says_why(lambda: load_task(path))
    finally:
        path.unlink()
        directory.rmdir()


ini_lines = st.lists(st.one_of(
    st.sampled_from(["[web]", "[web:children]", "[web:vars]", "[all:vars]", "[db]", "[", "[]", "web1",
                     "web[1:3]", "web[01:3]", "web[a:c]", "web[1:]", "web[3:1]", "web[1:2:0]", "db ansible_host=x",
                     "db ansible_port=notaport", "x ansible_connection=telnet", "x ansible_ssh_common_args='-J '",
                     "a=b", "= =", "#c", ";c", "web[1:99999999999999999999]", "h ansible_host=1.2.3.4 address=[",
                     "h 'unterminated", "h:22", "[::1]:22", "h key=\"{'a': 1}\""]),
    st.text(alphabet=string.printable, max_size=30)), max_size=12)


# ------------------------------------------------------------------ inventories


@QUICK
@given(structures(INVENTORY_KEYS))
def test_yaml_inventories_load_or_say_why(data):
    _check_inventory(_dump(data), ".yml")


@QUICK
@given(ini_lines)
def test_ini_inventories_load_or_say_why(lines):
    _check_inventory("\n".join(lines) + "\n", ".ini")


@QUICK
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_text_as_an_inventory(text):
    _check_inventory(text, ".yml")
    _check_inventory(text, ".ini")


# ------------------------------------------------------------------ tasks


steps = st.lists(st.dictionaries(TASK_KEYS, structures(TASK_KEYS), min_size=1, max_size=4), max_size=4)


@QUICK
@given(st.fixed_dictionaries({"steps": steps}, optional={
    "name": scalars, "params": structures(TASK_KEYS), "handlers": steps, "vars": structures(TASK_KEYS),
    "supports": structures(TASK_KEYS)}))
def test_tasks_load_or_say_why(data):
    _check_task(_dump(data))


@QUICK
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_text_as_a_task(text):
    _check_task(text)


# ------------------------------------------------------------------ templates

template_pieces = st.lists(st.one_of(
    st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", " x ", " y.z ", "|", " quote ", " raw ", "range(",
                     ")", "10**8", "'a' * ", "9999999", "for i in ", "endfor", "if ", "endif", "lipsum(", "[",
                     "]", ".__class__", ".mro()", "%0999999d", "'{:>9999999}'.format(1)", "center(", "2 ** ",
                     "set a = ", "include 'x'", "loop.cycle", "x|to_json", "from_json", "b64decode", "regex_search(",
                     "'('", "human_bytes", "join(','), ", "1/0", "none", "true", "'", '"']),
    st.text(max_size=10)), max_size=14)


@QUICK
@given(template_pieces, st.booleans())
def test_templates_render_or_say_why(pieces, shell):
    text = "".join(pieces)
    templar = Templar()
    variables = {"x": "a b", "y": {"z": [1, 2]}, "items": list(range(5))}
    _loads_or_says_why(lambda: templar.check_string(text, where="t.yml:1"), exit_code=None)
    _loads_or_says_why(lambda: templar.render(text, variables, where="t.yml:1", shell=shell), exit_code=None)
    _loads_or_says_why(lambda: templar.evaluate(text, variables, where="t.yml:1"), exit_code=None)


# ------------------------------------------------------------------ the long runs


@pytest.mark.slow
@LONG
@given(structures(INVENTORY_KEYS), ini_lines)
def test_inventories_long(data, lines):
    _check_inventory(_dump(data), ".yml")
    _check_inventory("\n".join(lines) + "\n", ".ini")


@pytest.mark.slow
@LONG
@given(st.fixed_dictionaries({"steps": steps}, optional={"params": structures(TASK_KEYS),
                                                           "vars": structures(TASK_KEYS)}), template_pieces)
def test_tasks_and_templates_long(data, pieces):
    _check_task(_dump(data))
    text = "".join(pieces)
    _loads_or_says_why(lambda: Templar().render(text, {"x": 1}, where="t.yml:1"), exit_code=None)


def test_the_memory_bound_is_real():
    """The fixture's limit holds: a real bomb in this process ends in MemoryError, not in swapping."""
    with pytest.raises(MemoryError):
        bytearray(2 * HEADROOM)
    assert os.getpid()
