"""Templating that cannot hurt a host: strict, sandboxed, shell-quoted, with file:line errors."""

from __future__ import annotations

import pytest

from remote_support.errors import TemplateError
from remote_support.templating import Templar


def test_values_in_command_text_are_shell_quoted():
    t = Templar()
    rendered = t.render("echo {{ name }} > /tmp/{{ file }}", {"name": "x; rm -rf /", "file": "a b"},
                        where="t.yml:3", shell=True)
    assert rendered == "echo 'x; rm -rf /' > /tmp/'a b'"


def test_quote_is_not_applied_twice_and_raw_opts_out():
    t = Templar()
    assert t.render("ls {{ d | quote }}", {"d": "my dir"}, where="w", shell=True) == "ls 'my dir'"
    assert t.render("ls {{ flags | raw }}", {"flags": "-la"}, where="w", shell=True) == "ls -la"
    assert t.render("rm {{ files | quote }}", {"files": ["a b", "c"]}, where="w", shell=True) == "rm 'a b' c"


def test_outside_commands_values_are_not_quoted_and_single_expressions_keep_their_type():
    t = Templar()
    assert t.render("hello {{ who }}", {"who": "a b"}, where="w") == "hello a b"
    assert t.render("{{ items }}", {"items": [1, 2]}, where="w") == [1, 2]


def test_undefined_variable_names_itself_and_where():
    with pytest.raises(TemplateError, match=r"t.yml:7: undefined variable 'missing'"):
        Templar().render("echo {{ missing }}", {}, where="t.yml:7", shell=True)
    with pytest.raises(TemplateError, match="undefined variable 'nope'"):
        Templar().evaluate("nope == 1", {}, where="t.yml:8")


def test_undefined_variable_in_a_template_file_names_file_and_line(tmp_path):
    (tmp_path / "motd.j2").write_text("line one\nhello {{ user }}\nbye {{ nobody }}\n")
    with pytest.raises(TemplateError) as caught:
        Templar([tmp_path]).render_file("motd.j2", {"user": "x"})
    assert "motd.j2:3" in str(caught.value) and "'nobody'" in str(caught.value)


def test_syntax_errors_name_file_and_line(tmp_path):
    (tmp_path / "bad.j2").write_text("ok\n{% if x %}\nno end\n")
    with pytest.raises(TemplateError, match=r"bad.j2:\d+: template syntax error"):
        Templar([tmp_path]).check_file("bad.j2")
    with pytest.raises(TemplateError, match="not found"):
        Templar([tmp_path]).check_file("missing.j2")
    with pytest.raises(TemplateError, match="does not parse"):
        Templar().check_expression("facts.os_family ==", where="t.yml:4")


def test_sandbox_blocks_python_internals():
    with pytest.raises(TemplateError):
        Templar().render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}, where="inventory")


def test_check_reports_used_variables(tmp_path):
    (tmp_path / "a.j2").write_text("{{ one }} {% include 'b.j2' %}")
    (tmp_path / "b.j2").write_text("{{ two }}")
    assert Templar([tmp_path]).check_file("a.j2") == {"one", "two"}


def test_values_in_cmd_exe_text_are_quoted_or_refused():
    t = Templar()
    assert t.render("type {{ f }}", {"f": r"C:\Program Files\a.txt"}, where="w", shell="cmd") == \
        'type "C:\\Program Files\\a.txt"'
    assert t.render("echo {{ x }}", {"x": "plain"}, where="w", shell="cmd") == "echo plain"
    assert t.render("echo {{ x }}", {"x": "a & del *"}, where="w", shell="cmd") == 'echo "a & del *"'
    for bad in ('x" & del *', "%PATH%", "a\nb"):
        with pytest.raises(TemplateError, match="cannot be passed safely to cmd.exe"):
            t.render("echo {{ x }}", {"x": bad}, where="w", shell="cmd")
