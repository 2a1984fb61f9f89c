"""Templating that cannot hurt a host: strict, sandboxed, shell-quoted, with file:line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


# --------------------------------------------------------------------------------------------------
# Ansible's idioms for optional variables, with ansible-core's own Templar as the oracle

_ANSIBLE_TEMPLAR = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
out = []
for text, variables in json.load(sys.stdin):
    try:
        out.append({"value": Templar(loader=DataLoader(), variables=variables).template(trust_as_template(text))})
    except Exception as exc:
        out.append({"error": str(exc).splitlines()[0]})
print(json.dumps(out, default=str))
"""

VARS = {"a": {"b": 1, "s": "x"}, "n": None, "e": "", "l": [1, 2], "num": 5, "flag": True}

#: (template, variables): rendered by ansible-core and by us; same value, or both fail naming the variable
IDIOMS = [
    ("{{ x | default('y') }}", {}),
    ("{{ x | d('dd') }}", {}),
    ("{{ x | default('y') | upper }}", {}),
    ("{{ x.y | default('z') }}", {}),
    ("{{ x['k'] | default(3) }}", {}),
    ("{{ a.c | default('q') }}", VARS),
    ("{{ a.b | default('q') }}", VARS),
    ("{{ e | default('E', true) }}", VARS),
    ("{{ e | default('E') }}", VARS),
    ("{{ n | default('N') }}", VARS),
    ("{{ l | default([]) | length }}", VARS),
    ("{{ x | default(y | default('z')) }}", {}),
    ("{{ x is defined }}", {}),
    ("{{ x is not defined }}", {}),
    ("{{ x is undefined }}", {}),
    ("{{ a.b is defined }}", VARS),
    ("{{ x.y is defined }}", {}),
    ("{{ x is defined and x > 1 }}", {}),
    ("{{ num is defined and num > 1 }}", VARS),
    ("{{ x is not defined or x > 1 }}", {}),
    ("{{ 'set' if x is defined else 'unset' }}", {}),
    ("{{ x if x is defined else 'unset' }}", {}),
    ("{{ x if x is defined else 'unset' }}", {"x": "given"}),
    ("{% if x is defined %}{{ x }}{% else %}no{% endif %}", {}),
    ("{% if x is defined %}{{ x }}{% else %}no{% endif %}", {"x": 7}),
    ("{% if x is not defined %}none{% elif x > 3 %}big{% else %}small{% endif %}", {}),
    ("{% if x is not defined %}none{% elif x > 3 %}big{% else %}small{% endif %}", {"x": 5}),
    ("{% if x is defined and x.y is defined %}{{ x.y }}{% endif %}.", {}),
    ("{% for i in x | default([]) %}{{ i }}{% endfor %}.", {}),
    ("{% for i in l %}{{ i }}{% endfor %}", VARS),
    ("{{ x | mandatory }}", {"x": "here"}),
    ("{{ x | default(omit) | default('never') }}", {"x": "ok"}),
    # really unguarded: both fail
    ("{{ x }}", {}),
    ("{{ x.y }}", {}),
    ("{{ a.c }}", VARS),
    ("{{ x > 1 }}", {}),
    ("{{ x ~ 'a' }}", {}),
    ("{% if x %}yes{% endif %}", {}),
    ("{% for i in x %}{{ i }}{% endfor %}", {}),
    ("{% if x is defined %}{% else %}{{ x }}{% endif %}", {}),
    ("{{ x | mandatory }}", {}),
    ("{{ x | mandatory('give x with -e x=...') }}", {}),
    ("{{ x is defined or x > 1 }}", {}),
]


@pytest.fixture(scope="module")
def ansible_rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ansible")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp / "home"), ANSIBLE_LOCAL_TEMP=str(tmp / "tmp"),
               ANSIBLE_CONFIG=str(tmp / "none.cfg"))
    done = subprocess.run([sys.executable, "-c", _ANSIBLE_TEMPLAR], input=json.dumps(IDIOMS), capture_output=True,
                          text=True, env=env, cwd=tmp, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ours(text: str, variables: dict) -> dict:
    try:
        return {"value": Templar().render(text, variables, where="t.yml:3")}
    except TemplateError as exc:
        return {"error": str(exc)}


@pytest.mark.parametrize("index", range(len(IDIOMS)), ids=[t for t, _ in IDIOMS])
def test_idioms_render_as_ansible(ansible_rendered: list[dict], index: int) -> None:
    text, variables = IDIOMS[index]
    theirs, ours = ansible_rendered[index], _ours(text, variables)
    if "error" in theirs:
        assert "error" in ours, (ours, theirs)
        if "mandatory(" in text:
            assert "give x with -e x=..." in ours["error"] and "give x with -e x=..." in theirs["error"]
        else:
            assert "'x'" in ours["error"] or "'c'" in ours["error"], ours
    else:
        # Ansible renders a template that is one value natively (``{% if %}{{ x }}...`` gives 7, not '7')
        assert "value" in ours and (ours == theirs or str(ours["value"]) == str(theirs["value"])), (ours, theirs)


#: (template, needed, read behind a guard only)
ANALYSIS = [
    ("{{ x | default('y') }}", set(), {"x"}),
    ("{{ x | d('y') }}", set(), {"x"}),
    ("{{ x.y.z | default('y') }}", set(), {"x"}),
    ("{{ x | default(y) }}", {"y"}, {"x"}),
    ("{{ x is defined }}", set(), {"x"}),
    ("{{ x is not defined }}", set(), {"x"}),
    ("{{ x is defined and x > 1 }}", set(), {"x"}),
    ("{{ x is defined and y > 1 }}", {"y"}, {"x"}),
    ("{{ x is not defined or x == '' }}", set(), {"x"}),
    ("{{ x is defined or x == '' }}", {"x"}, {"x"}),
    ("{{ x.y is defined and x.y }}", set(), {"x"}),
    ("{{ not (x is defined) or x }}", set(), {"x"}),
    ("{{ x if x is defined else 'u' }}", set(), {"x"}),
    ("{{ 'u' if x is not defined else x }}", set(), {"x"}),
    ("{{ y if x is defined else x }}", {"y", "x"}, {"x"}),
    ("{% if x is defined %}{{ x.y }}{% endif %}", set(), {"x"}),
    ("{% if x is defined and x.y is defined %}{{ x.y.z }}{% endif %}", set(), {"x"}),
    ("{% if x is not defined %}{{ x }}{% endif %}", {"x"}, {"x"}),
    ("{% if x is defined %}a{% else %}{{ x }}{% endif %}", {"x"}, {"x"}),
    ("{% if x is not defined %}a{% else %}{{ x }}{% endif %}", set(), {"x"}),
    ("{% if x is not defined %}a{% elif x > 1 %}{{ x }}{% else %}{{ x }}{% endif %}", set(), {"x"}),
    ("{% if a is defined %}{% elif b is defined %}{{ b }}{% else %}{{ a }}{% endif %}", {"a"}, {"a", "b"}),
    ("{% if debug %}{{ extra }}{% endif %}", {"debug", "extra"}, set()),
    ("{{ x | mandatory }}", {"x"}, set()),
    ("{{ x | default(omit) }}", {"omit"}, {"x"}),  # omit: given by the executor, as Ansible's
    ("{% set y = 1 %}{{ y }}{% for i in l %}{{ i }}{% endfor %}{{ range(2) | list }}", {"l"}, set()),
    ("{% for k in x | default({}) %}{{ k }}{% endfor %}", set(), {"x"}),
    ("{{ facts.os_family | default('unknown') }}", set(), {"facts"}),
]


@pytest.mark.parametrize(("text", "needed", "optional"), ANALYSIS, ids=[t for t, _, _ in ANALYSIS])
def test_the_early_check_knows_guarded_from_unguarded(text: str, needed: set, optional: set) -> None:
    uses = Templar().analyse_string(text, where="t.yml:1")
    assert set(uses.required) == needed
    assert uses.optional == optional
    if not needed - {"omit"}:  # nothing needed: it really renders with nothing defined
        Templar().render(text, {"omit": "-"}, where="t.yml:1")


def test_guarded_expressions_in_when(tmp_path) -> None:
    t = Templar()
    assert t.check_expression("proxy is defined and proxy | length > 0", where="t.yml:2") == set()
    assert t.check_expression("proxy | default('') != ''", where="t.yml:2") == set()
    assert t.check_expression("proxy != ''", where="t.yml:2") == {"proxy"}
    assert t.evaluate("proxy is defined and proxy | length > 0", {}, where="t.yml:2") is False


def test_template_file_guards_and_the_line_of_the_unguarded_use(tmp_path) -> None:
    (tmp_path / "app.conf.j2").write_text(
        "listen {{ port | default(8080) }}\n"
        "{% if proxy is defined %}\n"
        "proxy {{ proxy.host }}:{{ proxy.port | default(3128) }}\n"
        "{% endif %}\n"
        "{% include 'part.j2' %}\n")
    (tmp_path / "part.j2").write_text("# part\nuser {{ owner }}\n")
    uses = Templar([tmp_path]).analyse_file("app.conf.j2")
    assert set(uses.required) == {"owner"} and uses.optional == {"port", "proxy"}
    assert (uses.required["owner"].template, uses.required["owner"].line) == ("part.j2", 2)
    assert Templar([tmp_path]).render_file("app.conf.j2", {"owner": "me"}) == "listen 8080\n\n# part\nuser me\n\n"
    rendered = Templar([tmp_path]).render_file("app.conf.j2", {"owner": "me", "proxy": {"host": "p"}})
    assert "proxy p:3128" in rendered


def test_omit_is_removed_from_arguments() -> None:
    from remote_support.templating import OMIT, remove_omit

    t = Templar()
    assert t.render("{{ x | default(omit) }}", {"omit": OMIT}, where="w") == OMIT
    assert remove_omit({"a": OMIT, "b": [1, OMIT], "c": {"d": OMIT, "e": 2}}) == {"b": [1], "c": {"e": 2}}
