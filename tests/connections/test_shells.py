"""Connections declare their shell and abilities; one module quotes for every shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remote_support.connections import connection_class
from remote_support.connections.shells import (CMD, NETWORK_CLI, POSIX, POWERSHELL, QuotingError, cmd_quote,
                                               in_dir, posix_quote, ps_quote, ps_value, quote)
from remote_support.templating import Templar

NASTY = ["plain", "two words", "it's", 'say "hi"', "$(rm -rf /)", "`id`", "a;b|c&d", "tab\there", "new\nline",
         "*", "~", "", "ünïcode", "back\\slash"]


@pytest.mark.parametrize("text", NASTY)
def test_posix_quote_survives_a_real_shell(text):
    # the oracle is /bin/sh itself: the quoted word comes back as exactly one argument, unchanged
    out = subprocess.run(["/bin/sh", "-c", f"printf '%s' {posix_quote(text)}"], capture_output=True, check=True)
    assert out.stdout.decode() == text


def test_powershell_literals():
    assert ps_quote("it's") == "'it''s'"
    assert ps_quote("$env:PATH `n") == "'$env:PATH `n'"  # single quotes: no expansion, no escapes
    assert ps_value([1, "a'b", True, None]) == "@('1', 'a''b', $true, $null)"


def test_cmd_quoting_quotes_or_refuses():
    assert cmd_quote("plain") == "plain"
    assert cmd_quote(r"C:\Program Files\a.txt") == r'"C:\Program Files\a.txt"'
    assert cmd_quote("a & del *") == '"a & del *"'
    assert cmd_quote("") == '""'
    for bad in ("100%", "!x!", 'say "hi"', "a^b", "two\nlines"):
        with pytest.raises(QuotingError, match="cannot be passed safely to cmd.exe"):
            cmd_quote(bad)


def test_quote_and_in_dir_by_shell_name():
    assert quote(POSIX, "a b") == "'a b'" and quote(CMD, "a b") == '"a b"' and quote(POWERSHELL, "a b") == "'a b'"
    assert quote(NETWORK_CLI, "show ip int brief") == "show ip int brief"
    assert in_dir(POSIX, "/tmp/x y", "ls") == "cd '/tmp/x y' && ls"
    assert in_dir(CMD, r"C:\temp", "dir") == 'cd /d "C:\\temp" && dir'
    assert in_dir(POWERSHELL, "C:\\it's", "dir") == "Set-Location -LiteralPath 'C:\\it''s'\ndir"
    with pytest.raises(ValueError):
        quote("fish", "x")


def test_templates_quote_for_the_shell_they_are_given():
    t = Templar()
    values = {"x": "it's & more"}
    assert t.render("echo {{ x }}", values, where="w", shell=POSIX) == "echo 'it'\"'\"'s & more'"
    assert t.render("echo {{ x }}", values, where="w", shell=True) == "echo 'it'\"'\"'s & more'"
    assert t.render("echo {{ x }}", values, where="w", shell=CMD) == "echo \"it's & more\""
    assert t.render("Write-Output {{ x }}", values, where="w", shell=POWERSHELL) == "Write-Output 'it''s & more'"
    assert t.render("show {{ x }}", values, where="w", shell=NETWORK_CLI) == "show it's & more"


def test_connection_classes_declare_shell_and_abilities():
    ssh, local, winrm, network = (connection_class(k) for k in ("ssh", "local", "winrm", "network"))
    assert (ssh.shell, local.shell, winrm.shell, network.shell) == (POSIX, POSIX, CMD, NETWORK_CLI)
    assert winrm.shells == (CMD, POWERSHELL) and ssh.shells == (POSIX,)
    assert [c.can_transfer_files for c in (ssh, local, winrm, network)] == [True, True, True, False]
    assert [c.can_push_config for c in (ssh, local, winrm, network)] == [False, False, False, True]
    assert [c.can_detect_reboot for c in (ssh, local, winrm, network)] == [True, False, True, False]
    assert [c.can_become for c in (ssh, local, winrm, network)] == [True, True, False, False]


def test_no_step_tests_connection_type_names_or_quotes_on_its_own():
    # the attack: a new step that reaches for `host.connection == "winrm"` or its own PowerShell quoting
    root = Path(__file__).resolve().parents[2] / "remote_support"
    offenders = []
    for path in [*(root / "steps").glob("*.py"), root / "executor.py", root / "facts.py"]:
        text = path.read_text()
        for needle in ('connection == "winrm"', "connection == 'winrm'", 'hasattr(connection', '.replace("\'", "\'\'")'):
            if needle in text:
                offenders.append(f"{path.name}: {needle}")
    assert offenders == []


def test_steps_ask_the_connection_what_it_can_do(tmp_path):
    from remote_support.inventory import Host
    from remote_support.results import Status
    from task_support import run_task, steps_of, write_task

    task = write_task(tmp_path, """
        name: t
        steps:
          - {name: show, show: show version, ignore_errors: true}
          - {name: reboot, reboot: {}, ignore_errors: true}
          - {name: ps, powershell: Get-Date, ignore_errors: true}
          - {name: quoted, command: "printf '%s' {{ word }}"}
    """)
    steps = steps_of(run_task(task, [Host("ctl", {"connection": "local"})], extra_vars={"word": "a b;c"}))
    assert steps["show"].status is Status.FAILED and "need a network device" in steps["show"].reason
    assert steps["reboot"].status is Status.FAILED and "cannot follow a local host" in steps["reboot"].reason
    assert steps["ps"].status is Status.FAILED and "powershell runs on Windows" in steps["ps"].reason
    assert steps["quoted"].stdout == "a b;c"  # quoted for the local connection's posix shell
