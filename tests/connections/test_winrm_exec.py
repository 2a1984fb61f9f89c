"""exec on Windows hosts: cmd.exe or PowerShell (--shell, winrm_shell), one shell per command, facts once."""

from __future__ import annotations

import json
import subprocess
import sys

from remote_support.results import Status
from task_support import run_task, steps_of, write_task
from winrm_support import cli_env, win_host, win_inventory
from winrm_support import winrm_server  # noqa: F401 - fixture


def _exec(tmp_path, server, *args, hosts=("win-a",), **extra):
    inventory = win_inventory(tmp_path / "inventory.yml", server, hosts=hosts, **extra)
    result = subprocess.run([sys.executable, "-m", "remote_support", "exec", "all", "-i", str(inventory), "--json",
                             *args], capture_output=True, text=True, env=cli_env(tmp_path), timeout=120)
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


def test_exec_runs_cmd_by_default_and_powershell_when_asked(tmp_path, winrm_server):
    result, data = _exec(tmp_path, winrm_server, "--", "hostname")
    assert result.returncode == 0, result.stderr
    assert data["hosts"][0]["steps"][0]["stdout"] == "WIN-LAB01\r\n"
    assert winrm_server.commands[-1] == "hostname"  # straight to cmd.exe

    result, data = _exec(tmp_path, winrm_server, "--shell", "powershell", "--", "Get-Service", "-Name", "Spooler")
    assert result.returncode == 0, result.stderr
    assert "Running  Spooler" in data["hosts"][0]["steps"][0]["stdout"]
    assert winrm_server.commands[-1].startswith("powershell.exe -NoProfile -NonInteractive")


def test_winrm_shell_host_variable_sets_the_default(tmp_path, winrm_server):
    result, data = _exec(tmp_path, winrm_server, "--", "$env:COMPUTERNAME", winrm_shell="powershell")
    assert result.returncode == 0, result.stderr
    assert data["hosts"][0]["steps"][0]["stdout"] == "WIN-LAB01\r\n"
    result, data = _exec(tmp_path, winrm_server, "--shell", "cmd", "--", "hostname", winrm_shell="powershell")
    assert result.returncode == 0 and winrm_server.commands[-1] == "hostname"


def test_a_shell_the_host_does_not_have_is_a_clear_failure(tmp_path, winrm_server):
    result, data = _exec(tmp_path, winrm_server, "--shell", "posix", "--", "uname")
    assert result.returncode == 2, result.stderr
    reason = data["hosts"][0]["reason"]
    assert "win-a (winrm) runs cmd and powershell commands, not posix" in reason
    bad, _ = _exec(tmp_path, winrm_server, "--", "hostname", winrm_shell="bash")
    assert "winrm_shell 'bash' is not one of cmd, powershell" in bad.stdout + bad.stderr


def test_one_shell_per_command_and_no_probe_shell(tmp_path, winrm_server):
    result, _ = _exec(tmp_path, winrm_server, "--", "hostname", hosts=("win-a", "win-b", "win-c"))
    assert result.returncode == 0, result.stderr
    assert winrm_server.counters["shells_created"] == winrm_server.counters["commands"] == 3
    assert winrm_server.counters["identify"] == 3


def test_facts_are_gathered_once_per_host(tmp_path, winrm_server):
    task = write_task(tmp_path, """
        name: t
        steps:
          - {name: facts, facts: {}}
          - {name: uses them, command: hostname, when: "facts.os_family == 'Windows'"}
    """)
    steps = steps_of(run_task(task, [win_host(winrm_server)]))
    assert steps["facts"].status is Status.OK and steps["uses them"].status is Status.CHANGED
    assert winrm_server.counters["facts"] == 1


def test_long_command_hint_says_what_to_do(winrm_server):
    from remote_support.connections.winrm import WinRMCommandError
    from winrm_support import connected

    with connected(win_host(winrm_server)) as c:
        try:
            c.run("echo " + "x" * 9000)
        except WinRMCommandError as exc:
            hint = exc.hint
    assert "powershell step" in hint and "--shell powershell" in hint and "run_ps" not in hint
