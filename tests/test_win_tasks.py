"""The shipped win-* tasks against the WinRM lab server: check mode, real run, second run unchanged."""

from __future__ import annotations

from pathlib import Path

from remote_support.results import Status
from task_support import run_task, steps_of
from winrm_support import win_host
from winrm_support import winrm_server  # noqa: F401 - fixture

TASKS = Path(__file__).resolve().parents[1] / "tasks"


def _run(server, name, **kw):
    return steps_of(run_task(TASKS / f"{name}.yml", [win_host(server)], **kw))


def _statuses(steps):
    return {name: s.status.value for name, s in steps.items()}


def test_clear_print_queue_and_flush_dns(winrm_server):
    win = winrm_server.windows
    check = _run(winrm_server, "win-clear-print-queue", check=True)
    assert check["summary"].reason == "check mode: would remove 4 spool file(s) from C:\\Windows\\System32\\spool\\PRINTERS"
    assert len(win.print_jobs) == 4
    real = _run(winrm_server, "win-clear-print-queue")
    assert real["delete the spool files"].status is Status.CHANGED and win.print_jobs == []
    assert win.services["spooler"].state == "Running"
    again = _run(winrm_server, "win-clear-print-queue")
    assert not any(s == "changed" for s in _statuses(again).values())
    assert again["summary"].reason == "print queue empty: nothing to clear"

    assert _run(winrm_server, "win-flush-dns", check=True)["summary"].reason == "check mode: would flush 3 cached entries"
    assert _run(winrm_server, "win-flush-dns")["summary"].reason == "flushed 3 cached entries" and win.dns_cache == []
    assert _run(winrm_server, "win-flush-dns")["flush the DNS client cache"].status is Status.SKIPPED


def test_install_packages_and_restart_service(winrm_server):
    params = {"packages": ["Git.Git"]}
    assert _run(winrm_server, "win-install-packages", check=True, extra_vars=params)["install packages"].status \
        is Status.CHANGED
    assert _run(winrm_server, "win-install-packages", extra_vars=params)["install packages"].status is Status.CHANGED
    assert _run(winrm_server, "win-install-packages", extra_vars=params)["install packages"].status is Status.OK
    bad = _run(winrm_server, "win-install-packages", extra_vars={"packages": ["Contoso.Nope"]})["install packages"]
    assert bad.status is Status.FAILED and "No package found matching input criteria." in bad.reason
    msi = {"packages": ["{23170F69-40C1-2702-2301-000001000000}"], "manager": "msi",
           "msi_path": "C:\\lab\\7z2301-x64.msi"}
    assert _run(winrm_server, "win-install-packages", extra_vars=msi)["install packages"].status is Status.CHANGED
    assert _run(winrm_server, "win-install-packages", extra_vars=msi)["install packages"].status is Status.OK

    check = _run(winrm_server, "win-restart-service", check=True, extra_vars={"service": "Spooler"})
    assert check["restart the service"].reason.startswith("would restart Spooler (")
    assert winrm_server.counters.get("service_restarts:spooler") is None
    steps = _run(winrm_server, "win-restart-service", extra_vars={"service": "Spooler", "start_mode": "manual"})
    assert steps["restart the service"].status is Status.CHANGED and "Running  Spooler" in steps["show status"].stdout
    assert winrm_server.counters["service_restarts:spooler"] == 1
    assert winrm_server.windows.services["spooler"].start_mode == "Manual"


def test_disk_cleanup_collect_eventlog_and_diagnose(winrm_server, tmp_path):
    win = winrm_server.windows
    check = _run(winrm_server, "win-disk-cleanup", check=True)
    assert check["summary"].reason.startswith("check mode: would delete 2 temp file(s), 4.9 MB; C: 40.0% used")
    assert len(win.temp_files) == 3
    assert _run(winrm_server, "win-disk-cleanup")["delete old temp files"].status is Status.CHANGED
    assert [f[0] for f in win.temp_files] == ["new.tmp"]
    again = _run(winrm_server, "win-disk-cleanup")
    assert again["summary"].reason.startswith("no temp files older than 7 days")

    assert _run(winrm_server, "win-collect-eventlog", check=True)["export the logs"].status is Status.SKIPPED
    steps = _run(winrm_server, "win-collect-eventlog", extra_vars={"dest": str(tmp_path)})
    assert "The Downloaded Maps Manager service failed to start." in steps["recent errors and warnings"].stdout
    assert steps["export the logs"].status is Status.CHANGED
    assert winrm_server.files["c:\\windows\\temp\\rs-system-win-lab01.evtx"].startswith(b"ElfFile")
    assert steps["bring the logs back"].status is Status.CHANGED
    fetched = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.evtx"))
    assert fetched == ["win-lab01/C/Windows/Temp/rs-Application-win-lab01.evtx",
                       "win-lab01/C/Windows/Temp/rs-System-win-lab01.evtx"]
    assert (tmp_path / fetched[1]).read_bytes().startswith(b"ElfFile")

    for check_mode in (True, False):
        report = _run(winrm_server, "win-diagnose", check=check_mode)
        assert all(s.status in (Status.OK,) for s in report.values()), _statuses(report)
        summary = report["summary"].reason
        assert summary.startswith("Microsoft Windows Server 2022 Standard build 20348, up 3.2 days")
        assert "D: 95.0% used" in summary and "automatic service not running: MapsBroker" in summary
    failing = _run(winrm_server, "win-diagnose", extra_vars={"fail_on_warnings": True})
    assert failing["summary"].status is Status.FAILED


def test_reset_windows_update(winrm_server):
    win = winrm_server.windows
    cache = "c:\\windows\\softwaredistribution\\download\\"
    check = _run(winrm_server, "win-reset-windows-update", check=True)
    assert check["summary"].reason == "check mode: would clear 2 cached download(s) and restarted Windows Update"
    assert sum(1 for f in winrm_server.files if f.startswith(cache)) == 2
    real = _run(winrm_server, "win-reset-windows-update", extra_vars={"clear_wsus_policy": True})
    assert real["clear the download cache"].status is Status.CHANGED, _statuses(real)
    assert not any(f.startswith(cache) for f in winrm_server.files) and cache.rstrip("\\") in winrm_server.directories
    assert (win.services["wuauserv"].state, win.services["bits"].state) == ("Running", "Running")
    policy = win.registry["hklm:\\software\\policies\\microsoft\\windows\\windowsupdate"]["values"]
    assert "wuserver" not in policy and real["summary"].reason.endswith("; WSUS policy removed")
    again = _run(winrm_server, "win-reset-windows-update", extra_vars={"clear_wsus_policy": True})
    assert not any(s == "changed" for s in _statuses(again).values()), _statuses(again)
    assert again["summary"].reason == "download cache empty: nothing to clear; WSUS policy removed"


def test_enable_account_with_a_new_password_and_groups(winrm_server, monkeypatch):
    win = winrm_server.windows
    monkeypatch.setenv("RS_TEST_WIN_NEW_PASSWORD", "Fresh-Start-42")
    params = {"user": "jdoe", "new_password": "env:RS_TEST_WIN_NEW_PASSWORD", "groups": ["Remote Desktop Users"]}
    check = _run(winrm_server, "win-enable-account", check=True, extra_vars=params)
    assert check["enable and unlock the account"].status is Status.CHANGED and not win.users["jdoe"]["enabled"]
    real = _run(winrm_server, "win-enable-account", extra_vars=params)
    assert all(s.status is Status.CHANGED for s in real.values()), _statuses(real)
    assert (win.users["jdoe"]["enabled"], win.users["jdoe"]["locked"]) == (True, False)
    assert win.users["jdoe"]["password"] == "Fresh-Start-42"
    assert "jdoe" in win.groups["remote desktop users"]["members"]
    assert not any("Fresh-Start-42" in c for c in winrm_server.commands)
    again = _run(winrm_server, "win-enable-account", extra_vars={"user": "jdoe", "groups": ["Remote Desktop Users"]})
    assert _statuses(again) == {"enable and unlock the account": "ok", "set the new password": "skipped",
                                "add it to its groups": "ok"}
    missing = _run(winrm_server, "win-enable-account", extra_vars={"user": "nobody"})
    assert missing["enable and unlock the account"].status is Status.FAILED
    assert "there is no local account nobody" in missing["enable and unlock the account"].reason
    assert "nobody" not in win.users


def test_set_proxy_machine_wide_then_off(winrm_server):
    win = winrm_server.windows
    machine = win.registry
    params = {"proxy_server": "proxy.corp.example:8080"}
    check = _run(winrm_server, "win-set-proxy", check=True, extra_vars=params)
    assert check["proxy server"].status is Status.CHANGED
    assert "hklm:\\software\\microsoft\\windows\\currentversion\\internet settings" not in machine
    real = _run(winrm_server, "win-set-proxy", extra_vars=params)
    assert all(s.status in (Status.CHANGED, Status.OK) for s in real.values()), _statuses(real)
    values = machine["hklm:\\software\\microsoft\\windows\\currentversion\\internet settings"]["values"]
    assert values["proxyserver"][2] == "proxy.corp.example:8080" and values["proxyenable"] == ["ProxyEnable", "DWord", 1]
    assert values["proxyoverride"][2] == "<local>"
    assert machine["hklm:\\software\\policies\\microsoft\\windows\\currentversion\\internet settings"]["values"][
        "proxysettingsperuser"][2] == 0
    again = _run(winrm_server, "win-set-proxy", extra_vars=params)
    assert not any(s == "changed" for s in _statuses(again).values()), _statuses(again)
    off = _run(winrm_server, "win-set-proxy", extra_vars={"state": "absent"})
    assert off["proxy on or off"].status is Status.CHANGED and values["proxyenable"][2] == 0
    bad = _run(winrm_server, "win-set-proxy", extra_vars={"proxy_server": "http://proxy"})
    assert bad["check the proxy address"].status is Status.FAILED and "must be host:port" in bad["check the proxy address"].reason
    user = _run(winrm_server, "win-set-proxy", extra_vars={**params, "scope": "user"})
    assert user["proxy server"].status is Status.CHANGED
    assert win.registry["hkcu:\\software\\microsoft\\windows\\currentversion\\internet settings"]["values"][
        "proxyenable"][2] == 1
