"""Small inputs that would take the controller's memory or CPU are refused at once with a clear error.

Each attack runs the real CLI in a child limited to 1.5 GB of address space and a 60 s wall clock: an
INI host range of 10^8 hosts, YAML alias bombs (a list and a mapping; in an inventory, a task's vars and
``-e @file``), and templates that build huge values (``range(10**8)``, ``"x" * 10**10``).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import pytest

LIMIT = 1536 * 1024 * 1024


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "COLUMNS": "400"}  # messages on one line
    return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                          timeout=60, env=env, preexec_fn=_limited)


def list_bomb(indent: str = "") -> str:
    lines = [f'{indent}a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def dict_bomb(indent: str = "") -> str:
    lines = [f"{indent}b0: &b0 {{" + ", ".join(f"k{j}: lol" for j in range(10)) + "}"]
    for i in range(1, 10):
        lines.append(f"{indent}b{i}: &b{i} {{" + ", ".join(f"k{j}: *b{i - 1}" for j in range(10)) + "}")
    return "\n".join(lines) + "\n"


def _refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_ini_range_of_a_hundred_million_hosts(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[web]\nweb[1:100000000]\n")
    _refused(cli("inventory", "list", "-i", str(inv)), f"{inv}:2", "100000 hosts")
    nested = tmp_path / "nested.ini"
    nested.write_text("[web]\nrack[1:1000]-node[1:1000]\n")
    _refused(cli("inventory", "list", "-i", str(nested)), f"{nested}:2")


def test_a_sane_range_still_expands(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[web]\nweb[001:300] ansible_host=10.0.0.1\n")
    result = cli("inventory", "list", "-i", str(inv), "--json")
    assert result.returncode == 0 and "web300" in result.stdout, result.stderr


@pytest.mark.parametrize("bomb", [list_bomb, dict_bomb])
def test_yaml_alias_bomb_in_an_inventory(tmp_path, bomb):
    inv = tmp_path / "inv.yml"
    inv.write_text("defaults:\n  user: x\n" + bomb("  ") + "hosts:\n  pc-1: {address: 10.0.0.1}\n")
    _refused(cli("inventory", "list", "-i", str(inv), "--vars"), str(inv), "aliases")


@pytest.mark.parametrize("bomb", [list_bomb, dict_bomb])
def test_yaml_alias_bomb_in_task_vars_and_extra_vars_file(tmp_path, bomb):
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  pc-1: {connection: local}\n")
    task = tmp_path / "task.yml"
    task.write_text("vars:\n" + bomb("  ") + "steps:\n  - {name: x, command: 'true'}\n")
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    _refused(cli("run", str(task), "-i", str(inv), env=env), str(task), "aliases")
    extra = tmp_path / "extra.yml"
    extra.write_text(bomb())
    plain = tmp_path / "plain.yml"
    plain.write_text("steps:\n  - {name: x, command: 'true'}\n")
    _refused(cli("run", str(plain), "-i", str(inv), "-e", f"@{extra}", env=env), str(extra), "aliases")


def test_a_value_that_contains_itself(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text("defaults:\n  loop: &me [1, *me]\nhosts:\n  pc-1: {address: 10.0.0.1}\n")
    _refused(cli("inventory", "list", "-i", str(inv), "--vars"), f"{inv}:2")


@pytest.mark.parametrize("expression, words", [
    ("range(10**8) | list | length", "range of 100,000,000 numbers"),
    ("'x' * 10**10", "repeating a value"),
    ("2 ** 100000000", "2 ** 100000000"),
    ("'%0999999999d' % 1", "format width"),
    ("lipsum(10**8)", "lorem"),
])
def test_templates_cannot_build_huge_values(tmp_path, expression, words):
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  pc-1: {connection: local}\n")
    task = tmp_path / "task.yml"
    task.write_text(textwrap.dedent(f"""\
        steps:
          - name: huge
            command: echo {{{{ {expression} }}}}
        """))
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    result = cli("run", str(task), "-i", str(inv), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused by the template sandbox" in result.stderr and words in result.stderr, result.stderr
    assert f"{task}:" in result.stderr and "Traceback" not in result.stderr


def test_nested_loops_that_print_nothing_are_stopped_by_time(monkeypatch):
    """CPU, not memory: loops of 10^12 iterations end at the sandbox's time bound, and only that render."""
    import threading

    from remote_support import templating
    from remote_support.errors import TemplateError

    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 0.5)
    templar = templating.Templar()
    spin = "{% for a in range(1000000) %}{% for b in range(1000000) %}{% endfor %}{% endfor %}"
    outcomes: dict[str, str] = {}

    def render(name: str, text: str) -> None:
        try:
            outcomes[name] = templar.render(text, {}, where="t.yml:3")
        except TemplateError as exc:
            outcomes[name] = str(exc)

    threads = [threading.Thread(target=render, args=(f"spin{i}", spin)) for i in range(2)]
    threads += [threading.Thread(target=render, args=(f"calm{i}", "{{ 6 * 7 }}")) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(not t.is_alive() for t in threads)
    for i in range(2):
        assert "ran longer than 0.5s" in outcomes[f"spin{i}"] and outcomes[f"spin{i}"].startswith("t.yml:3")
        assert outcomes[f"calm{i}"] == 42  # one expression renders to its value
    with pytest.raises(TemplateError, match="ran longer"):
        templar.evaluate("range(1000000) | map('string') | map('length') | select('odd') | list | length > 0 "
                         "and range(10) | list | length > 0 and (range(999999) | list) * 0 == [] and "
                         + " and ".join(["range(900000) | map('string') | list | length > 0"] * 40),
                         {}, where="t.yml:4")
    assert templar.render("{{ 1 + 1 }}", {}, where="t.yml:5") == 2  # nothing left pending afterwards
