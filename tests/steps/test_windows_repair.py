"""The Windows repair steps: their fixed scripts (golden files), their JSON contracts, and their logic (check
mode, idempotency, failures) against the lab server's fake Windows.

The fake answers the project's own scripts, so these tests pin what is sent and what is done with the answer;
whether the scripts behave so on a real Windows host is not verified here (see the README).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.steps import STEP_KINDS, step_kind
from remote_support.steps.winscripts import (CONTRACTS, SCRIPTS, ScriptError, check_contract, parse_answer,
                                             script_text)
from remote_support.tasks import load_task
from task_support import run_task, steps_of, write_task
from winrm_support import win_host
from winrm_support import winrm_server  # noqa: F401 - fixture

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "windows"
INTERNET = r"HKCU:\Software\Microsoft\Windows\CurrentVersion\Internet Settings"

for _kind in STEP_KINDS:  # every step module registers its scripts on import
    step_kind(_kind)


def _run(tmp_path, server, text, *, check=False, diff=False, **kw):
    task = write_task(tmp_path, text)
    return steps_of(run_task(task, [win_host(server)], check=check, diff=diff, **kw))


# ---------------------------------------------------------------- the scripts and their contracts


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_text_is_pinned_by_its_golden_file(name):
    # a change to a script must be deliberate: update tests/data/windows/NAME.ps1 with it
    assert SCRIPTS[name] == (GOLDEN / f"{name}.ps1").read_text()
    assert SCRIPTS[name].startswith(f"# remote-support:contract:{name}\n$ErrorActionPreference = 'Stop'\n")
    assert name in CONTRACTS


def test_every_golden_file_belongs_to_a_script():
    assert sorted(p.stem for p in GOLDEN.glob("*.ps1")) == sorted(SCRIPTS)


def test_values_reach_a_script_as_literals_never_as_code():
    text = script_text("registry-get", {"path": "HKLM:\\x'; Remove-Item C:\\ -Recurse; '", "name": None})
    assert "$path = 'HKLM:\\x''; Remove-Item C:\\ -Recurse; '''\n" in text
    assert "$name = $null\n" in text
    assert text.splitlines()[0] == "# remote-support:contract:registry-get"


def test_answers_outside_the_contract_are_refused():
    good = {"key": True, "exists": True, "type": "DWord", "data": 1}
    assert check_contract("registry-get", good) == good
    with pytest.raises(ScriptError, match="lacks 'data'"):
        check_contract("registry-get", {"key": True, "exists": True, "type": "DWord"})
    with pytest.raises(ScriptError, match="has exists='yes', not bool"):
        check_contract("registry-get", {**good, "exists": "yes"})
    with pytest.raises(ScriptError, match="has size=True, not int"):
        check_contract("win-file-get", {"path": "C:\\x", "state": "file", "size": True, "parent": True})
    with pytest.raises(ScriptError, match="not JSON"):
        parse_answer("registry-get", "WARNING: something\r\n")
    with pytest.raises(ScriptError, match="printed nothing"):
        parse_answer("registry-get", "\r\n")
    assert parse_answer("registry-get", 'noise\r\n{"key":false,"exists":false,"type":"","data":null}\r\n')["key"] is False


def test_bad_arguments_fail_when_the_task_is_loaded(tmp_path):
    for step, message in (
            ("registry: {path: 'Software\\x', name: a, data: 1}", "does not start with a hive"),
            ("registry: {path: 'HKLM:\\x', name: a, type: dword, data: -1}", "out of range"),
            ("registry: {path: 'HKLM:\\x', name: a, type: binary, data: xyz}", "hex digits"),
            ("registry: {path: 'HKLM:\\x', name: a}", "a value needs data"),
            ("win_file: {path: 'relative\\dir'}", "not an absolute Windows path"),
            ("win_user: {name: 'bad/name'}", "not a valid Windows account name"),
            ("win_group: {name: Users, members: [a], members_absent: [A]}", "cannot be in members and members_absent"),
            ("win_scheduled_task: {name: t, execute: x.exe}", "needs a trigger"),
            ("win_scheduled_task: {name: t, execute: x.exe, trigger: daily, at: '25:00'}", "needs at: HH:MM"),
            ("win_feature: {name: 'Web Server'}", "not a feature name")):
        task = write_task(tmp_path, f"name: t\nsteps:\n  - {{name: s, {step}}}\n")
        with pytest.raises(TaskError, match=message):
            load_task(task)


def test_a_bad_registry_data_error_never_echoes_the_data(tmp_path):
    for step in ("registry: {path: 'HKLM:\\x', name: a, type: dword, data: Pin-notanumber-4411}",
                 "registry: {path: 'HKLM:\\x', name: a, type: qword, data: '99999999999999999999999'}",
                 "registry: {path: 'HKLM:\\x', name: a, type: binary, data: Pin-nothex-4412}"):
        task = write_task(tmp_path, f"name: t\nsteps:\n  - {{name: s, {step}}}\n")
        with pytest.raises(TaskError) as caught:
            load_task(task)
        assert "4411" not in str(caught.value) and "4412" not in str(caught.value), caught.value
        assert "99999999999" not in str(caught.value), caught.value


# ---------------------------------------------------------------- registry


def test_registry_value_check_mode_change_and_idempotency(tmp_path, winrm_server):
    text = rf"""
        name: t
        steps:
          - {{name: enable, registry: {{path: '{INTERNET}', name: ProxyEnable, type: dword, data: 1}}}}
          - {{name: server, registry: {{path: '{INTERNET}', name: ProxyServer, data: 'proxy.corp.example:8080'}}}}
          - {{name: list, registry: {{path: 'HKLM:\SOFTWARE\Contoso\App', name: Paths, type: multi_string, data: [a, b]}}}}
    """
    key = winrm_server.windows.registry[INTERNET.lower()]["values"]
    check = _run(tmp_path, winrm_server, text, check=True, diff=True)
    assert [check[n].status for n in ("enable", "server", "list")] == [Status.CHANGED] * 3
    assert check["enable"].reason == f"check mode: would change {INTERNET} value ProxyEnable: data ******** -> ********"
    assert check["list"].diff.startswith("HKLM:\\SOFTWARE\\Contoso\\App value Paths: create key\n")
    assert key["proxyenable"][2] == 0 and "proxyserver" not in key

    steps = _run(tmp_path, winrm_server, text)
    assert [steps[n].status for n in ("enable", "server", "list")] == [Status.CHANGED] * 3, steps["enable"].reason
    assert key["proxyenable"] == ["ProxyEnable", "DWord", 1]
    assert key["proxyserver"] == ["ProxyServer", "String", "proxy.corp.example:8080"]
    assert winrm_server.windows.registry["hklm:\\software\\contoso\\app"]["values"]["paths"][2] == ["a", "b"]
    assert steps["enable"].data["before"]["data"] == steps["enable"].data["after"]["data"] == "********"

    again = _run(tmp_path, winrm_server, text)
    assert [again[n].status for n in ("enable", "server", "list")] == [Status.OK] * 3
    assert winrm_server.counters["script:registry-set"] == 3  # nothing sent to change on the second run


def test_registry_secret_data_is_set_idempotently_and_never_shown_or_recorded(tmp_path, winrm_server):
    """The step declares `data` secret: the CLI's output, --diff, the journal (raw bytes) and every report show
    ******** for it, and the step still finds a second run has nothing to do (it compares digests)."""
    import json
    import subprocess
    import sys

    from test_secrets import _journal_text
    from winrm_support import cli_env, win_inventory

    secret, old = "Licence-Key-7H3X-99QZ", "Old-Licence-1234-ABCD"
    service = r"HKLM:\SOFTWARE\Contoso\Agent"
    winrm_server.windows.registry_key(service, create=True)["values"]["licence"] = ["Licence", "String", old]
    inventory = win_inventory(tmp_path / "inventory.yml", winrm_server, hosts=("win-a",))
    task = write_task(tmp_path, rf"""
        name: licence
        vars: {{licence: '{secret}'}}
        steps:
          - {{name: licence, registry: {{path: '{service}', name: Licence, data: '{{{{ licence }}}}'}}}}
          - {{name: codes, registry: {{path: '{service}', name: Codes, type: multi_string, data: ['{secret}-b', x]}}}}
    """)
    journal = tmp_path / "j.sqlite"
    env = {**cli_env(tmp_path), "REMOTE_SUPPORT_JOURNAL": str(journal)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    # in a task's vars under a name that says nothing: the step's declaration is what masks it
    runs = [cli("run", str(task), "-i", str(inventory), "--diff", *extra)
            for extra in (["--check"], [], [], ["--json"])]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stdout + r.stderr for r in runs]
    values = winrm_server.windows.registry[service.lower()]["values"]
    assert values["licence"] == ["Licence", "String", secret] and values["codes"][2] == [f"{secret}-b", "x"]
    assert winrm_server.counters["script:registry-set"] == 2  # once each; the later runs found nothing to do
    steps = {s["name"]: s for s in json.loads(runs[3].stdout)["hosts"][0]["steps"]}
    assert [steps[n]["status"] for n in ("licence", "codes")] == ["ok", "ok"], steps
    assert "data ******** -> ********" in runs[0].stdout + runs[0].stderr + runs[1].stdout + runs[1].stderr

    shown = [r.stdout + r.stderr for r in runs]
    for record in json.loads(cli("runs", "list", "--json").stdout):
        shown.append(cli("runs", "show", record["id"]).stdout)
        for fmt in ("html", "json", "junit"):
            report = cli("report", record["id"], "--format", fmt)
            assert report.returncode == 0, report.stderr
            shown.append(report.stdout)
    shown.append(_journal_text(journal))
    everything = "\n".join(shown)
    assert "Licence" in everything and len(shown) > 10
    for value in (secret, old, "7H3X"):
        assert value not in everything, value


def test_registry_type_change_and_absent(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: as string, registry: {path: 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU', name: NoAutoUpdate, data: '0'}}
          - {name: drop value, registry: {path: 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate', name: WUServer, state: absent}}
          - {name: drop key, registry: {path: 'HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate', state: absent}}
          - {name: gone already, registry: {path: 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate', state: absent}}
    """)
    assert steps["as string"].status is Status.CHANGED and "type DWord -> String" in steps["as string"].reason
    assert steps["drop value"].status is Status.CHANGED and steps["drop key"].status is Status.CHANGED
    assert steps["gone already"].status is Status.OK
    assert not any(k.startswith("hklm:\\software\\policies\\microsoft\\windows\\windowsupdate")
                   for k in winrm_server.windows.registry)  # subkeys went with it


def test_registry_access_denied_is_a_failure_with_the_hosts_words(tmp_path, winrm_server):
    winrm_server.windows.groups["administrators"]["members"].remove("rsadmin")
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: hklm, registry: {path: 'HKLM:\SOFTWARE\Contoso', name: x, data: y}}
    """)
    assert steps["hklm"].status is Status.FAILED
    assert "Requested registry access is not allowed" in steps["hklm"].reason
    assert "hklm:\\software\\contoso" not in winrm_server.windows.registry


# ---------------------------------------------------------------- win_file


def test_win_file_directory_touch_file_absent(tmp_path, winrm_server):
    text = r"""
        name: t
        steps:
          - {name: dir, win_file: {path: 'C:\ProgramData\Contoso\logs', state: directory}}
          - {name: touch, win_file: {path: 'C:\ProgramData\Contoso\logs\ready.flag', state: touch}}
          - {name: must exist, win_file: {path: 'C:\ProgramData\Contoso\logs\ready.flag', state: file}}
    """
    assert _run(tmp_path, winrm_server, text, check=True)["dir"].status is Status.CHANGED
    assert "c:\\programdata\\contoso\\logs" not in winrm_server.directories
    steps = _run(tmp_path, winrm_server, text)
    assert [steps[n].status for n in ("dir", "touch", "must exist")] == [Status.CHANGED, Status.CHANGED, Status.OK]
    assert {"c:\\programdata\\contoso", "c:\\programdata\\contoso\\logs"} <= winrm_server.directories
    assert winrm_server.files["c:\\programdata\\contoso\\logs\\ready.flag"] == b""
    assert all(s.status is Status.OK for s in _run(tmp_path, winrm_server, text).values())

    gone = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: absent, win_file: {path: 'C:\ProgramData\Contoso', state: absent}}
          - {name: missing, win_file: {path: 'C:\ProgramData\Contoso\x', state: file}, ignore_errors: true}
          - {name: file as dir, win_file: {path: 'C:\lab', state: touch}, ignore_errors: true}
    """)
    assert gone["absent"].status is Status.CHANGED and "c:\\programdata\\contoso" not in winrm_server.directories
    assert "c:\\programdata\\contoso\\logs\\ready.flag" not in winrm_server.files
    assert "does not exist (state: file only checks" in gone["missing"].reason
    assert "is a directory, not a file" in gone["file as dir"].reason


# ---------------------------------------------------------------- win_user, win_group


def test_win_user_enable_unlock_and_reset_password_from_a_secret(tmp_path, winrm_server, monkeypatch):
    users = winrm_server.windows.users
    text = """
        name: t
        params:
          - {name: new_password, type: secret}
        steps:
          - {name: enable, win_user: {name: jdoe, enabled: true, unlock: true}}
          - {name: reset, win_user: {name: jdoe, password: "{{ new_password }}", update_password: always}}
    """
    monkeypatch.setenv("RS_TEST_NEW_PASSWORD", "N3w-Secret-Pw")
    params = {"new_password": "env:RS_TEST_NEW_PASSWORD"}
    check = _run(tmp_path, winrm_server, text, check=True, diff=True, extra_vars=params)
    assert check["enable"].reason == "check mode: would change user jdoe: enabled no -> yes; locked yes -> no"
    assert (users["jdoe"]["enabled"], users["jdoe"]["locked"]) == (False, True)

    steps = _run(tmp_path, winrm_server, text, extra_vars=params)
    assert steps["enable"].status is Status.CHANGED and steps["reset"].status is Status.CHANGED
    assert (users["jdoe"]["enabled"], users["jdoe"]["locked"], users["jdoe"]["password"]) == \
        (True, False, "N3w-Secret-Pw")
    assert steps["reset"].reason == "changed user jdoe: set password"
    # the password travelled on stdin: not on any command line, not in the step's record
    assert not any("N3w-Secret-Pw" in c for c in winrm_server.commands)
    assert "N3w-Secret-Pw" not in repr(steps["reset"])

    again = _run(tmp_path, winrm_server, text, extra_vars=params)
    assert again["enable"].status is Status.OK
    assert again["reset"].status is Status.CHANGED  # a password cannot be read back: always set when asked
    assert winrm_server.counters["password_resets:jdoe"] == 2


def test_win_user_create_remove_and_a_refused_password(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - {name: create, win_user: {name: helpdesk, password: "Long-Enough-1", full_name: Help Desk}}
          - {name: short, win_user: {name: jdoe, password: "abc", update_password: always}, ignore_errors: true}
          - {name: remove, win_user: {name: Guest, state: absent}}
    """)
    assert steps["create"].status is Status.CHANGED
    assert winrm_server.windows.users["helpdesk"]["full_name"] == "Help Desk"
    assert steps["short"].status is Status.FAILED and "does not meet the length" in steps["short"].reason
    assert winrm_server.windows.users["jdoe"]["password"] == "old"
    assert steps["remove"].status is Status.CHANGED and "guest" not in winrm_server.windows.users


def test_win_group_members_added_and_removed_idempotently(tmp_path, winrm_server):
    text = r"""
        name: t
        steps:
          - {name: rdp, win_group: {name: Remote Desktop Users, members: [jdoe, 'WIN-LAB01\rsadmin']}}
          - {name: users, win_group: {name: Users, members_absent: [jdoe]}}
    """
    check = _run(tmp_path, winrm_server, text, check=True)
    assert check["rdp"].reason == "check mode: would change group Remote Desktop Users: add members (none) -> " \
                                  "[jdoe, WIN-LAB01\\rsadmin]"
    steps = _run(tmp_path, winrm_server, text)
    assert steps["rdp"].status is Status.CHANGED and steps["users"].status is Status.CHANGED
    assert winrm_server.windows.groups["remote desktop users"]["members"] == ["jdoe", "rsadmin"]
    assert winrm_server.windows.groups["users"]["members"] == []
    assert all(s.status is Status.OK for s in _run(tmp_path, winrm_server, text).values())
    unknown = _run(tmp_path, winrm_server, "name: t\nsteps:\n  - {name: x, win_group: {name: Users, members: [nobody]}}\n")
    assert unknown["x"].status is Status.FAILED and "Principal nobody was not found" in unknown["x"].reason


# ---------------------------------------------------------------- scheduled tasks and features


def test_win_scheduled_task_create_update_disable_run_remove(tmp_path, winrm_server):
    tasks = winrm_server.windows.tasks
    define = r"""
        name: t
        steps:
          - name: cleanup
            win_scheduled_task: {name: Contoso Cleanup, execute: 'C:\Windows\System32\cleanmgr.exe',
                                 arguments: /sagerun:1, trigger: daily, at: "03:00"}
    """
    assert _run(tmp_path, winrm_server, define, check=True)["cleanup"].status is Status.CHANGED and not \
        any("contoso" in k for k in tasks)
    assert _run(tmp_path, winrm_server, define)["cleanup"].status is Status.CHANGED
    assert tasks["\\contoso cleanup"]["at"] == "03:00" and tasks["\\contoso cleanup"]["user"] == "SYSTEM"
    assert _run(tmp_path, winrm_server, define)["cleanup"].status is Status.OK
    moved = _run(tmp_path, winrm_server, define.replace('"03:00"', '"04:30"'))
    assert moved["cleanup"].status is Status.CHANGED and "at 03:00 -> 04:30" in moved["cleanup"].reason

    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: disable, win_scheduled_task: {name: Scheduled Start, folder: '\Microsoft\Windows\WindowsUpdate\', enabled: false}}
          - {name: run disabled, win_scheduled_task: {name: Scheduled Start, folder: '\Microsoft\Windows\WindowsUpdate\', run: true}, ignore_errors: true}
          - {name: on and run, win_scheduled_task: {name: Scheduled Start, folder: '\Microsoft\Windows\WindowsUpdate\', enabled: true, run: true}}
          - {name: remove, win_scheduled_task: {name: Contoso Cleanup, state: absent}}
          - {name: missing, win_scheduled_task: {name: Nope, enabled: true}, ignore_errors: true}
    """)
    assert steps["disable"].status is Status.CHANGED, steps
    assert steps["run disabled"].status is Status.FAILED and "The task is disabled" in steps["run disabled"].reason
    assert steps["on and run"].status is Status.CHANGED and winrm_server.counters["task_runs:scheduled start"] == 1
    assert steps["remove"].status is Status.CHANGED and "\\contoso cleanup" not in tasks
    assert "there is no scheduled task \\Nope: give execute and trigger" in steps["missing"].reason


def test_win_feature_install_remove_and_reboot_required(tmp_path, winrm_server):
    text = """
        name: t
        steps:
          - {name: telnet, win_feature: {name: TelnetClient, kind: optional}}
          - {name: smb1, win_feature: {name: FS-SMB1, state: absent}, register: smb1}
          - {name: rsat, win_feature: {name: Rsat.Dns.Tools~~~~0.0.1.0, kind: capability}}
          - {name: reboot wanted, assert: {that: smb1.reboot_required}}
    """
    check = _run(tmp_path, winrm_server, text, check=True)
    assert check["telnet"].reason == "check mode: would change optional TelnetClient: installed no -> yes"
    steps = _run(tmp_path, winrm_server, text)
    assert [steps[n].status for n in ("telnet", "smb1", "rsat", "reboot wanted")] == \
        [Status.CHANGED, Status.CHANGED, Status.CHANGED, Status.OK], steps["reboot wanted"].reason
    assert "Windows asks for a reboot to finish" in steps["smb1"].reason
    features = winrm_server.windows.features
    assert features[("optional", "telnetclient")]["installed"] and not features[("feature", "fs-smb1")]["installed"]
    again = _run(tmp_path, winrm_server, text.replace("          - {name: reboot wanted, assert: {that: smb1.reboot_required}}\n", ""))
    assert all(s.status is Status.OK for s in again.values())
    unknown = _run(tmp_path, winrm_server, "name: t\nsteps:\n  - {name: x, win_feature: {name: No-Such}}\n")
    assert "this host knows no feature called No-Such" in unknown["x"].reason


def test_repair_steps_refuse_hosts_without_powershell(tmp_path):
    from remote_support.inventory import Host

    task = write_task(tmp_path, "name: t\nsteps:\n  - {name: x, win_file: {path: 'C:\\\\x'}}\n")
    steps = steps_of(run_task(task, [Host("ctl", {"connection": "local"})]))
    assert steps["x"].status is Status.FAILED and "win_file runs on Windows (WinRM) hosts" in steps["x"].reason


# ---------------------------------------------------------------- a real Windows host, when given

REAL = all(os.environ.get(name) for name in ("RS_WINRM_HOST", "RS_WINRM_USER", "RS_WINRM_PASSWORD"))


@pytest.mark.skipif(not REAL, reason="set RS_WINRM_HOST, RS_WINRM_USER, RS_WINRM_PASSWORD to test a real host")
def test_real_windows_host_answers_the_read_only_scripts_within_their_contracts():
    """What verifying the steps on Windows starts with: every -get script runs and keeps its contract."""
    from types import SimpleNamespace

    from remote_support.inventory import Host
    from remote_support.steps.winscripts import run_script
    from winrm_support import connected

    variables = {"connection": "winrm", "address": os.environ["RS_WINRM_HOST"],
                 "user": os.environ["RS_WINRM_USER"], "password": os.environ["RS_WINRM_PASSWORD"]}
    for name in ("winrm_scheme", "winrm_port", "winrm_transport", "winrm_ca_trust_path",
                 "winrm_server_cert_validation"):
        if os.environ.get("RS_" + name.upper()):
            variables[name] = os.environ["RS_" + name.upper()]
    with connected(Host("real-windows", variables)) as c:
        ctx = SimpleNamespace(connection=c, timeout=120)
        assert run_script(ctx, "registry-get", {"path": INTERNET.replace("HKCU", "HKLM"), "name": "ProxyEnable"})["key"]
        assert run_script(ctx, "win-file-get", {"path": "C:\\Windows"})["state"] == "directory"
        assert run_script(ctx, "file-probe", {"path": "C:\\Windows\\win.ini", "sha256": "", "want_text": False,
                                              "limit": 0})["state"] == "file"
        assert run_script(ctx, "win-group-get", {"name": "Administrators"})["exists"]
        assert run_script(ctx, "win-user-get", {"name": "Administrator"})["exists"] in (True, False)
        run_script(ctx, "win-task-get", {"name": "Scheduled Start", "folder": "\\Microsoft\\Windows\\WindowsUpdate\\"})
        run_script(ctx, "win-feature-get", {"name": "TelnetClient", "kind": "optional"})


def test_a_clear_value_given_with_e_that_a_step_declares_secret_leaves_no_trace_in_the_record(tmp_path,
                                                                                              winrm_server):
    """-e licence=VALUE is recorded with the run's request before any step runs; once the registry step
    declared it secret, the record is masked again when the run ends."""
    import subprocess
    import sys

    from test_secrets import _journal_text
    from winrm_support import cli_env, win_inventory

    secret = "Licence-Key-5J2K-77PL"
    service = r"HKLM:\SOFTWARE\Contoso\Agent2"
    inventory = win_inventory(tmp_path / "inventory.yml", winrm_server, hosts=("win-a",))
    task = write_task(tmp_path, rf"""
        name: licence by -e
        params: [{{name: licence, type: str, required: true}}]
        steps:
          - {{name: licence, registry: {{path: '{service}', name: Licence, data: '{{{{ licence }}}}'}}}}
    """)
    journal = tmp_path / "j.sqlite"
    env = {**cli_env(tmp_path), "REMOTE_SUPPORT_JOURNAL": str(journal)}
    done = subprocess.run([sys.executable, "-m", "remote_support", "run", str(task), "-i", str(inventory),
                           "-e", f"licence={secret}"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert winrm_server.windows.registry[service.lower()]["values"]["licence"][2] == secret
    assert secret not in _journal_text(journal) and secret not in done.stdout + done.stderr
