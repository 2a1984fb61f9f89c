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
