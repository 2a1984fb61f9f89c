"""The service step: systemd and OpenRC with recorded outputs, SysV for real (this machine has no systemd).

The real tests install an LSB init script, /etc/init.d/rs-test-svc-<pid>, whose daemon is a `sleep`
started by start-stop-daemon, and drive it on ONE lab host (the lab hosts share this machine's /etc and
processes). The fixture stops and removes it whatever happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import CommandResult, Status
from remote_support.steps.service import (OpenRC, Service, ServiceStatus, StatusError, Systemd, SysV,
                                          plan_actions)
from task_support import lab_hosts, run_task, steps_of, write_task

SERVICE = f"rs-test-svc-{os.getpid()}"
SCRIPT = Path("/etc/init.d") / SERVICE
PIDFILE = Path(f"/run/{SERVICE}.pid")
RELOADED = Path(f"/run/{SERVICE}.reloaded")

INIT_SCRIPT = f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          {SERVICE}
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: remote-support test service (a sleep)
### END INIT INFO
PIDFILE={PIDFILE}
DAEMON=/usr/bin/sleep
case "$1" in
  start) start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile $PIDFILE \\
           --exec $DAEMON -- 100000 ;;
  stop) start-stop-daemon --stop --quiet --oknodo --retry 5 --remove-pidfile --pidfile $PIDFILE --exec $DAEMON ;;
  restart) "$0" stop && "$0" start ;;
  reload|force-reload) touch {RELOADED} ;;
  status) start-stop-daemon --status --pidfile $PIDFILE --exec $DAEMON ;;
  *) echo "Usage: $0 {{start|stop|restart|reload|status}}" >&2; exit 3 ;;
esac
"""


def done(stdout: str = "", stderr: str = "", rc: int = 0) -> CommandResult:
    return CommandResult("recorded", stdout, stderr, rc)


# -- arguments and each init system's commands and parsing


def test_arguments_are_checked_when_the_task_is_loaded():
    kind = Service()
    assert kind.normalize({"name": "ssh", "enabled": "yes"}, "t.yml:2")["manager"] == "auto"
    with pytest.raises(TaskError, match="needs state .* or enabled"):
        kind.normalize({"name": "ssh"}, "t.yml:2")
    with pytest.raises(TaskError, match="not valid"):
        kind.normalize({"name": "ssh; reboot", "state": "started"}, "t.yml:2")
    with pytest.raises(TaskError, match="use one of started, stopped, restarted, reloaded"):
        kind.normalize({"name": "ssh", "state": "running"}, "t.yml:2")


def test_systemd_commands_and_status_parsing():
    systemd = Systemd()
    assert systemd.status("nginx") == ("LC_ALL=C systemctl show --no-pager -p Id -p LoadState -p ActiveState "
                                       "-p SubState -p UnitFileState nginx")
    assert systemd.action("nginx", "reload") == "systemctl reload nginx"
    assert systemd.enable("nginx", True, ServiceStatus(True)) == "systemctl enable nginx"
    assert systemd.enable("nginx", False, ServiceStatus(True)) == "systemctl disable nginx"
    running = done("Id=ssh.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n")
    assert systemd.parse_status("ssh", running) == ServiceStatus(True, running=True, enabled=True, detail="enabled")
    stopped = done("Id=cups.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\n"
                   "UnitFileState=disabled\n")
    assert systemd.parse_status("cups", stopped) == ServiceStatus(True, running=False, enabled=False,
                                                                  detail="disabled")
    static = done("Id=systemd-journald.service\nLoadState=loaded\nActiveState=active\nSubState=running\n"
                  "UnitFileState=static\n")
    assert systemd.parse_status("systemd-journald", static).enabled is None
    masked = done("Id=foo.service\nLoadState=masked\nActiveState=inactive\nSubState=dead\nUnitFileState=masked\n")
    assert systemd.parse_status("foo", masked) == ServiceStatus(True, running=False, enabled=None, detail="masked")
    missing = done("Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n")
    assert systemd.parse_status("nosuch", missing) == ServiceStatus(False)
    with pytest.raises(StatusError, match="System has not been booted with systemd"):
        systemd.parse_status("ssh", done("", "System has not been booted with systemd as init system (PID 1). "
                                             "Can't operate.\n", rc=1))


def test_actions_only_where_the_status_differs():
    stopped, running = ServiceStatus(True, running=False), ServiceStatus(True, running=True, enabled=True)
    assert plan_actions(stopped, "started", None) == ["start"]
    assert plan_actions(running, "started", True) == []
    assert plan_actions(running, "stopped", False) == ["stop", "disable"]
    assert plan_actions(stopped, "stopped", True) == ["enable"]
    assert plan_actions(running, "restarted", None) == ["restart"]
    assert plan_actions(stopped, "reloaded", None) == ["start"]  # reloading a stopped service starts it
    static = ServiceStatus(True, running=True, enabled=None, detail="static")
    assert plan_actions(static, None, True) == []
    with pytest.raises(StatusError, match="is static: it cannot be disabled"):
        plan_actions(static, None, False)
    with pytest.raises(StatusError, match="is masked: unmask it first"):
        plan_actions(ServiceStatus(True, enabled=None, detail="masked"), "started", True)


def test_sysv_and_openrc_parsing():
    sysv = SysV()
    assert "/etc/init.d/ntp" in sysv.status("ntp") and "S[0-9][0-9]ntp" in sysv.status("ntp")
    status = sysv.parse_status("ntp", done("found=yes\nstatus=3\nenabled=yes\ntool=update-rc.d\n"))
    assert status == ServiceStatus(True, running=False, enabled=True, detail="status exit 3", tool="update-rc.d")
    assert sysv.parse_status("ntp", done("found=no\n")) == ServiceStatus(False)
    with pytest.raises(StatusError, match="exited 4"):
        sysv.parse_status("ntp", done("found=yes\nstatus=4\nenabled=no\ntool=none\n"))
    assert sysv.enable("ntp", True, status).endswith("update-rc.d ntp defaults && update-rc.d ntp enable")
    assert sysv.enable("ntp", False, ServiceStatus(True, tool="chkconfig")).endswith("chkconfig ntp off")
    with pytest.raises(StatusError, match="neither update-rc.d nor chkconfig"):
        sysv.enable("ntp", True, ServiceStatus(True, tool="none"))

    openrc = OpenRC()
    status = openrc.parse_status("sshd", done("found=yes\nstatus=0\nrunlevels=default boot \n"))
    assert status == ServiceStatus(True, running=True, enabled=True, detail="status exit 0", tool="default boot")
    assert openrc.enable("sshd", False, status).endswith("rc-update del sshd default && rc-update del sshd boot")
    assert openrc.enable("sshd", True, status).endswith("rc-update add sshd default")
    assert openrc.parse_status("sshd", done("found=yes\nstatus=3\nrunlevels=\n")).enabled is False
    assert openrc.action("sshd", "restart").endswith("rc-service sshd restart")


# -- SysV for real, on one lab host


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, stopped but not yet reaped by this machine's init, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _pid() -> int | None:
    """The test daemon's pid, None when it does not run."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


@pytest.fixture(scope="module")
def init_script():
    if not shutil.which("start-stop-daemon"):
        pytest.skip("start-stop-daemon is missing (dpkg)")
    SCRIPT.write_text(INIT_SCRIPT)
    SCRIPT.chmod(0o755)
    try:
        yield SERVICE
    finally:
        subprocess.run([str(SCRIPT), "stop"], check=False, capture_output=True, timeout=30)
        pid = _pid()
        try:
            if pid is not None and Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/usr/bin/sleep\0"):
                os.kill(pid, 9)  # our own daemon, by its pid, if the script could not stop it
        except OSError:
            pass  # gone meanwhile
        if shutil.which("update-rc.d"):
            subprocess.run(["update-rc.d", "-f", SERVICE, "remove"], check=False, capture_output=True, timeout=30)
        for path in (SCRIPT, PIDFILE, RELOADED, *Path("/etc").glob(f"rc[0-6S].d/[SK][0-9][0-9]{SERVICE}")):
            path.unlink(missing_ok=True)


def steps(tmp_path, label: str, *lines: str, become: bool = True) -> Path:
    """A task of steps "label 1", "label 2"... each a service step with the given arguments."""
    text = "steps:\n" + "".join(f"  - name: {label} {i}\n    service: {{name: {SERVICE}, {args}}}\n"
                                f"    become: {'true' if become else 'false'}\n"
                                for i, args in enumerate(lines, 1))
    return write_task(tmp_path / label.replace(" ", "-"), text)


def test_start_stop_restart_reload_and_check_mode(lab, tmp_path, init_script):
    hosts = lab_hosts(lab)
    start = steps(tmp_path, "start", "state: started", "state: started")

    step = steps_of(run_task(start, hosts, check=True))["start 1"]
    assert step.status is Status.CHANGED and step.reason.startswith(f"would start {SERVICE} ("), step
    assert step.diff == "state: stopped -> started\n"
    assert _pid() is None

    result = steps_of(run_task(start, hosts, diff=True))
    assert result["start 1"].status is Status.CHANGED and result["start 1"].reason == f"started {SERVICE}"
    assert result["start 1"].diff == "state: stopped -> started\n"
    assert result["start 2"].status is Status.OK and result["start 2"].data["running"] is True
    first = _pid()
    assert first is not None

    step = steps_of(run_task(steps(tmp_path, "stop", "state: stopped"), hosts, check=True))["stop 1"]
    assert step.status is Status.CHANGED and step.reason.startswith(f"would stop {SERVICE} ("), step
    assert _pid() == first

    step = steps_of(run_task(steps(tmp_path, "restart", "state: restarted"), hosts))["restart 1"]
    assert step.status is Status.CHANGED and step.reason == f"restarted {SERVICE}", step
    second = _pid()
    assert second is not None and second != first

    result = steps_of(run_task(steps(tmp_path, "finish", "state: reloaded", "state: stopped", "state: stopped"),
                               hosts))
    assert result["finish 1"].status is Status.CHANGED and RELOADED.exists()
    assert result["finish 2"].status is Status.CHANGED and result["finish 2"].reason == f"stopped {SERVICE}"
    assert result["finish 3"].status is Status.OK
    assert not _alive(second)


def test_enabled_at_boot(lab, tmp_path, init_script):
    if not shutil.which("update-rc.d"):
        pytest.skip("update-rc.d (init-system-helpers) is missing")
    hosts = lab_hosts(lab)

    def links(kind: str) -> list[Path]:
        return sorted(Path("/etc").glob(f"rc[2345].d/{kind}[0-9][0-9]{SERVICE}"))

    result = steps_of(run_task(steps(tmp_path, "enable", "enabled: true", "enabled: yes"), hosts, diff=True))
    assert result["enable 1"].status is Status.CHANGED and result["enable 1"].diff == "enabled: no -> yes\n"
    assert result["enable 2"].status is Status.OK
    assert len(links("S")) == 4

    disable = steps(tmp_path, "disable", "enabled: false", "enabled: false")
    step = steps_of(run_task(disable, hosts, check=True))["disable 1"]
    assert step.status is Status.CHANGED and step.reason.startswith(f"would disable {SERVICE} (")
    assert len(links("S")) == 4
    result = steps_of(run_task(disable, hosts))
    assert result["disable 1"].status is Status.CHANGED and result["disable 2"].status is Status.OK
    assert links("S") == [] and len(links("K")) == 4
    assert _pid() is None  # enabling never starts it


def test_unknown_service_and_missing_become(lab, tmp_path, init_script):
    hosts = lab_hosts(lab)
    missing = f"rs-test-nosuch-{os.getpid()}"
    task = write_task(tmp_path / "unknown", f"""\
        steps:
          - name: unknown
            service: {{name: {missing}, state: started}}
            become: true
        """)
    step = steps_of(run_task(task, hosts))["unknown"]
    assert step.status is Status.FAILED and step.reason == f"service {missing} not found (manager: sysv)", step

    step = steps_of(run_task(steps(tmp_path, "no become", "state: started", become=False), hosts))["no become 1"]
    assert step.status is Status.FAILED
    assert step.reason.startswith("service changes need root: add become: true"), step.reason
    assert _pid() is None
