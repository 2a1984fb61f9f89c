"""Windows step kinds (command, powershell, package, service, reboot, facts) against the WinRM lab server."""

from __future__ import annotations

import pytest

from remote_support.results import Status
from task_support import run_task, steps_of, write_task
from winrm_support import win_host
from winrm_support import winrm_server  # noqa: F401 - fixture

MSI = "{23170F69-40C1-2702-2301-000001000000}"


def _run(tmp_path, server, text, *, check=False, templates=None, name="task.yml", **kw):
    task = write_task(tmp_path, text, name=name, templates=templates)
    return steps_of(run_task(task, [win_host(server)], check=check, **kw))


def test_facts_are_windows_facts(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: facts, facts: {}}
    """)
    facts = steps["facts"].data["facts"]
    assert facts["os_family"] == "Windows" and facts["init_system"] == "windows"
    assert facts["distribution"] == "Microsoft Windows Server 2022 Standard"
    assert (facts["distribution_version"], facts["os_build"]) == ("10.0.20348", "20348")
    assert (facts["hostname"], facts["domain"], facts["fqdn"]) == ("WIN-LAB01", "corp.example",
                                                                   "win-lab01.corp.example")
    assert facts["uptime_seconds"] > 3 * 86400 and facts["memory_total_bytes"] == 8_589_463_552
    assert [d["device"] for d in facts["disks"]] == ["C:", "D:"] and facts["disks"][1]["used_percent"] == 95.0
    assert [h["id"] for h in facts["hotfixes"]] == ["KB5034439", "KB5035857"]
    assert facts["package_manager"] == "winget"


def test_command_runs_through_cmd_with_creates_and_chdir(tmp_path, winrm_server):
    text = r"""
        name: t
        steps:
          - {name: host, command: hostname}
          - {name: skipped, command: {cmd: hostname, creates: 'C:\lab'}}
          - {name: in dir, command: {cmd: hostname, chdir: 'C:\temp'}}
          - {name: bad dir, command: {cmd: hostname, chdir: 'C:\nowhere'}, ignore_errors: true}
    """
    steps = _run(tmp_path, winrm_server, text)
    assert steps["host"].status is Status.CHANGED and steps["host"].stdout == "WIN-LAB01\r\n"
    assert steps["skipped"].status is Status.SKIPPED and "exists" in steps["skipped"].reason
    assert steps["in dir"].stdout == "WIN-LAB01\r\n"
    assert steps["bad dir"].status is Status.FAILED and steps["bad dir"].ignored
    check = _run(tmp_path, winrm_server, text, check=True)
    assert check["host"].status is Status.SKIPPED


def test_powershell_inline_params_and_template(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - name: inline
            powershell: {script: "Write-Output \\"hello $who\\"", params: {who: "it's me"}}
          - name: from template
            powershell: {src: hello.ps1.j2, params: {name: Spooler}}
          - name: fails
            powershell: "Write-Error 'disk is full'"
            ignore_errors: true
    """, templates={"hello.ps1.j2": "Write-Output 'from {{ inventory_hostname }}'\nGet-Service -Name $name\n"})
    assert steps["inline"].stdout == "hello it's me\r\n" and steps["inline"].status is Status.CHANGED
    assert "from win-lab01" in steps["from template"].stdout and "Running  Spooler" in steps["from template"].stdout
    assert steps["fails"].status is Status.FAILED and "disk is full" in steps["fails"].reason


def test_powershell_template_that_fails_to_render(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: broken, powershell: {src: broken.ps1.j2}}
    """, templates={"broken.ps1.j2": "Write-Output 'x'\n{{ 1 / 0 }}\n"})
    assert steps["broken"].status is Status.FAILED
    assert "broken.ps1.j2" in steps["broken"].reason and "division by zero" in steps["broken"].reason


def test_powershell_needs_script_or_src(tmp_path):
    from remote_support.errors import TaskError
    from remote_support.tasks import load_task

    task = write_task(tmp_path, "name: t\nsteps:\n  - {name: x, powershell: {params: {a: 1}}}\n")
    with pytest.raises(TaskError, match="either script .* or src"):
        load_task(task)


def test_service_start_stop_and_start_mode(tmp_path, winrm_server):
    text = """
        name: t
        steps:
          - {name: stop, service: {name: Spooler, state: stopped}}
          - {name: manual, service: {name: Spooler, start_mode: manual}}
          - {name: start, service: {name: wuauserv, state: started, enabled: true}}
    """
    check = _run(tmp_path, winrm_server, text, check=True)
    assert check["stop"].status is Status.CHANGED and check["stop"].reason.startswith("would stop Spooler (")
    assert winrm_server.windows.services["spooler"].state == "Running"
    steps = _run(tmp_path, winrm_server, text, diff=True)
    assert [steps[n].status for n in ("stop", "manual", "start")] == [Status.CHANGED] * 3
    assert "start_mode: Auto -> Manual" in steps["manual"].diff
    services = winrm_server.windows.services
    assert (services["spooler"].state, services["spooler"].start_mode) == ("Stopped", "Manual")
    assert (services["wuauserv"].state, services["wuauserv"].start_mode) == ("Running", "Auto")
    again = _run(tmp_path, winrm_server, text)
    assert [again[n].status for n in ("stop", "manual", "start")] == [Status.OK] * 3


def test_service_errors(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: missing, service: {name: NoSuchSvc, state: started}, ignore_errors: true}
          - {name: disabled, service: {name: Fax, state: started}, ignore_errors: true}
          - {name: enable and start, service: {name: Fax, state: started, start_mode: manual}}
    """)
    assert "service NoSuchSvc not found (manager: windows)" in steps["missing"].reason
    assert "cannot be started" in steps["disabled"].reason
    assert steps["enable and start"].status is Status.CHANGED
    assert winrm_server.windows.services["fax"].state == "Running"


def test_winget_install_idempotent_and_unknown_id(tmp_path, winrm_server):
    text = """
        name: t
        steps:
          - {name: install, package: {name: [Git.Git, 7zip.7zip]}}
    """
    check = _run(tmp_path, winrm_server, text, check=True)
    assert check["install"].status is Status.CHANGED and "would install: Git.Git, 7zip.7zip" in check["install"].reason
    assert "Git.Git" not in winrm_server.windows.winget_installed
    steps = _run(tmp_path, winrm_server, text)
    assert steps["install"].status is Status.CHANGED, steps["install"].reason
    assert winrm_server.windows.winget_installed["Git.Git"] == "2.44.0"
    again = _run(tmp_path, winrm_server, text)
    assert again["install"].status is Status.OK and again["install"].reason == "installed: Git.Git 2.44.0, 7zip.7zip 23.01"
    unknown = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: install, package: {name: No.Such.Package}}
    """)
    assert unknown["install"].status is Status.FAILED
    assert unknown["install"].reason.startswith("package No.Such.Package not found in winget sources")
    assert "No package found matching input criteria." in unknown["install"].reason


def test_winget_latest_and_absent(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: latest, package: {name: Mozilla.Firefox, state: latest}}
          - {name: absent, package: {name: Mozilla.Firefox, state: absent}}
    """)
    assert steps["latest"].status is Status.CHANGED and "upgraded: Mozilla.Firefox" in steps["latest"].reason
    assert steps["absent"].status is Status.CHANGED and "Mozilla.Firefox" not in winrm_server.windows.winget_installed


def test_choco_and_msi(tmp_path, winrm_server):
    text = r"""
        name: t
        steps:
          - {name: choco, package: {name: [git, sysinternals], manager: choco}}
          - name: msi
            package: {name: '{23170F69-40C1-2702-2301-000001000000}', manager: msi, src: 'C:\lab\7z2301-x64.msi'}
    """
    steps = _run(tmp_path, winrm_server, text)
    assert steps["choco"].status is Status.CHANGED and steps["choco"].reason == "installed: git"
    assert steps["msi"].status is Status.CHANGED and MSI in winrm_server.windows.msi_installed
    again = _run(tmp_path, winrm_server, text)
    assert again["choco"].status is Status.OK and again["msi"].status is Status.OK
    assert "23.01.00.0" in again["msi"].reason
    bad = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: choco, package: {name: no-such-pkg, manager: choco}, ignore_errors: true}
          - name: msi
            package: {name: '{00000000-0000-0000-0000-000000000001}', manager: msi, src: 'C:\lab\missing.msi'}
    """)
    assert "package no-such-pkg not found in Chocolatey sources" in bad["choco"].reason
    assert "not found in the MSI file C:\\lab\\missing.msi" in bad["msi"].reason
    linux = _run(tmp_path, winrm_server, "name: t\nsteps:\n  - {name: apt, package: {name: curl, manager: apt}}\n")
    assert "package manager apt does not run on a winrm host" in linux["apt"].reason


def test_reboot_waits_for_the_new_boot_id(tmp_path, winrm_server):
    before = winrm_server.windows.boot_id_value()
    text = """
        name: t
        steps:
          - {name: reboot, reboot: {reboot_timeout: 30}}
          - {name: after, command: hostname}
    """
    assert _run(tmp_path, winrm_server, text, check=True)["reboot"].status is Status.SKIPPED
    steps = _run(tmp_path, winrm_server, text)
    assert steps["reboot"].status is Status.CHANGED, steps["reboot"].reason
    assert steps["reboot"].data["previous_boot_id"] == before
    assert steps["reboot"].data["boot_id"] == winrm_server.windows.boot_id_value() != before
    assert winrm_server.counters["reboots"] == 1 and steps["after"].status is Status.CHANGED
    assert any(c.startswith('shutdown /r /t 0 /c "remote-support reboot"') for c in winrm_server.commands)


def test_script_step_runs_a_ps1_template_through_powershell(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: ps1, script: {src: hello.ps1.j2}}
          - {name: sh on windows, script: {src: hello.sh}, ignore_errors: true}
    """, templates={"hello.ps1.j2": "Write-Output 'hello {{ inventory_hostname }}'\n",
                    "hello.sh": "echo no\n"})
    assert steps["ps1"].status is Status.CHANGED and steps["ps1"].stdout.strip() == "hello win-lab01"
    assert "must be a .ps1 template" in steps["sh on windows"].reason


def test_cmd_values_are_quoted_for_cmd_exe(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: unsafe, command: "echo {{ who }}", ignore_errors: true}
    """, extra_vars={"who": 'x" & del *'})
    assert "cannot be passed safely to cmd.exe" in steps["unsafe"].reason
