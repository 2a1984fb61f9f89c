"""The shipped task library (tasks/*.yml with templates/) on real lab hosts: check mode, then for real.

Lab hosts share this machine's file system, users and processes, so every test works on its own
paths, users and services (named with a unique token) and removes them again. Nothing here sends
traffic off the machine: DNS names resolve from /etc/hosts and every address is a loopback one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path

import jinja2
import jinja2.nodes
import pytest
from task_support import lab_hosts, run_task, steps_of

from remote_support.executor import TaskRun
from remote_support.results import Status
from remote_support.tasks import load_task
from remote_support.templating import Templar

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "tasks"
SHIPPED = ["check-connectivity", "collect-logs", "deploy-config-file", "diagnose", "disk-cleanup", "flush-dns",
           "install-packages", "remove-packages", "reset-password", "restart-service", "sync-time", "unlock-user",
           "update-system", "fix-full-var", "set-proxy", "add-host-entry", "enable-service", "reset-home-permissions",
           "repair-apt", "renew-ca-certificates", "support-bundle", "set-dns-resolver",
           "create-user", "disable-user", "install-vendor-bundle",
           "schedule-job", "set-kernel-setting", "kill-process"]
#: the least each task needs to be constructed (secrets as references: they are resolved on construction)
REQUIRED = {"install-packages": {"packages": "htop"}, "remove-packages": {"packages": "telnet"},
            "restart-service": {"service": "cron"}, "unlock-user": {"user": "nobody"},
            "reset-password": {"user": "nobody", "new_password": "env:RS_TEST_LIBRARY_PASSWORD"},
            "deploy-config-file": {"src": "motd.j2", "dest": "/etc/motd"},
            "check-connectivity": {"targets": "localhost"},
            "add-host-entry": {"address": "10.0.0.1", "names": "files"}, "enable-service": {"service": "cron"},
            "reset-home-permissions": {"user": "nobody"}, "set-dns-resolver": {"nameservers": "10.0.0.53"},
            "create-user": {"user": "nobody", "password": "env:RS_TEST_LIBRARY_PASSWORD"},
            "disable-user": {"user": "jdoe"},
            "install-vendor-bundle": {"url": "https://dl.example.com/a.tgz", "checksum": "sha256:" + "0" * 64,
                                      "dest": "/opt/a"},
            "schedule-job": {"name": "report", "job": "/bin/true"}, "set-kernel-setting": {"setting": "vm.swappiness",
                                                                                           "value": "10"},
            "kill-process": {"name": "firefox"}}


def task(name: str) -> Path:
    return LIBRARY / f"{name}.yml"


def token() -> str:
    return f"rst{os.getpid() % 10000}{secrets.token_hex(3)}"


def host_result(run, index: int = 0):
    return run.hosts[index]


def summary(run) -> str:
    return steps_of(run)["summary"].reason


def sh(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True, **kwargs)


# ------------------------------------------------------------------ every task, without a host


def test_the_library_has_every_task_and_nothing_else():
    """The Linux tasks; net-* and win-* tasks are tested in test_net_tasks.py and test_win_tasks.py."""
    linux = [p.stem for p in LIBRARY.glob("*.yml") if not p.stem.startswith(("net-", "win-"))]
    assert sorted(linux) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_task_loads_and_its_templates_parse(name, monkeypatch):
    monkeypatch.setenv("RS_TEST_LIBRARY_PASSWORD", "not-used-here-1")
    loaded = load_task(task(name))
    assert loaded.name and loaded.description.strip(), "every task says what it does"
    for param in loaded.params:
        assert param.description, f"{name}: parameter {param.name} has no description"
    names = [s.name for s in (*loaded.steps, *loaded.handlers)]
    assert len(names) == len(set(names)), f"{name}: step names are not unique: {names}"
    assert not any("{{" in n for n in names), "step names are shown as written: no templates in them"
    for check in (True, False):  # construction parses every expression and template file
        run = TaskRun(loaded, extra_vars=REQUIRED.get(name, {}), check=check)
        assert run.all_steps()


@pytest.mark.parametrize("name", SHIPPED)
def test_no_parameter_reaches_a_shell_unquoted(name):
    """``| raw`` is only for fragments written in the task, never for a parameter's value."""
    loaded = load_task(task(name))
    params = {p.name for p in loaded.params}
    env = Templar().env
    for step in (*loaded.steps, *loaded.handlers):
        for key, value in step.args.items():
            if key not in step.implementation.shell_args or not isinstance(value, str):
                continue
            for node in env.parse(value).find_all(jinja2.nodes.Filter):
                if node.name == "raw":
                    used = {n.name for n in node.find_all(jinja2.nodes.Name)}
                    assert not used & params, f"{name}: step {step.name!r} passes {used & params} through | raw"


@pytest.mark.parametrize("manager", ["apt", "dnf", "yum", "zypper"])
def test_every_command_and_script_renders_to_valid_sh(manager, monkeypatch):
    """Branches for other package managers and init systems cannot run here: at least they must parse."""
    monkeypatch.setenv("RS_TEST_LIBRARY_PASSWORD", "not-used-here-1")
    shells = [s for s in ("dash", "bash") if shutil.which(s)]
    registered = {"stdout": "bundle=/var/tmp/rs-logs.abcdefgh/logs.tar.gz\n", "stdout_lines": ["{}"], "rc": 0,
                  "failed": False, "msg": ""}
    facts = {"package_manager": manager, "init_system": "sysv", "os_family": "Debian", "hostname": "h",
             "os_name": "Debian", "distribution": "debian"}
    for name in SHIPPED:
        run = TaskRun(load_task(task(name)), extra_vars=REQUIRED.get(name, {}))
        variables = {**run.task.vars, **run.params, "facts": facts, "check_mode": False, "inventory_hostname": "h",
                     **{s.register: registered for s in run.all_steps() if s.register}}
        for step in run.all_steps():
            if step.kind in ("command", "shell"):
                text = run.templar.render(step.args["cmd"], {**variables, step.loop_var: "x"}, where=step.where,
                                          shell=True)
            elif step.kind == "script":
                text = run.templar.render_file(step.args["src"], variables)
            else:
                continue
            for shell in shells:
                parsed = subprocess.run([shell, "-n"], input=text, capture_output=True, text=True, check=False)
                assert parsed.returncode == 0, f"{name}: {step.name} ({shell}): {parsed.stderr}\n{text}"


def test_tasks_list_and_show_on_the_command_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REMOTE_SUPPORT_TASKS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # importable from any cwd, installed or not
    listed = subprocess.run([sys.executable, "-m", "remote_support", "tasks", "list"], capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    shown = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    assert set(SHIPPED) <= shown
    show = subprocess.run([sys.executable, "-m", "remote_support", "tasks", "show", "diagnose"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert show.returncode == 0, show.stderr
    assert "Diagnose a host" in show.stdout
    for param in ("disk_warn_percent", "dns_name", "gateway", "fail_on_warnings"):
        assert param in show.stdout
    assert re.search(r"disk_warn_percent\s+int \(default 90\)", show.stdout)


# ------------------------------------------------------------------ read-only tasks


def test_diagnose_reports_a_summary_in_check_mode_and_for_real(lab):
    hosts = lab_hosts(lab, [41])
    params = {"dns_name": "localhost", "gateway": "127.0.0.1"}
    for check in (True, False):
        run = run_task(task("diagnose"), hosts, check=check, extra_vars=params)
        result = host_result(run)
        assert result.status is Status.OK, result.reason or [s.to_dict() for s in result.steps]
        steps = steps_of(run)
        snapshot = steps["health snapshot"]
        assert snapshot.status is Status.OK, "read-only: the snapshot runs in check mode too"
        for section in ("== system ==", "== memory ==", "== disks", "== failed services ==",
                        "== recent errors", "== listening ports ==", "== DNS ==", "== default gateway =="):
            assert section in snapshot.stdout
        assert "not a systemd host" in snapshot.stdout or "failed units" in snapshot.stdout.lower()
        assert steps["DNS: name resolves"].status is Status.OK
        assert "localhost resolves to" in steps["DNS: name resolves"].reason
        assert not any("check mode" in s.reason for s in result.steps), "nothing is skipped in check mode"
        assert summary(run).startswith(hosts[0].name + ":")
        assert "fullest filesystem" in summary(run) and "listening sockets" in summary(run)


def test_diagnose_thresholds_fail_the_host_or_warn(lab):
    run = run_task(task("diagnose"), lab_hosts(lab, [42]), check=True,
                   extra_vars={"disk_warn_percent": 1, "gateway": "none"})
    result = host_result(run)
    assert result.status is Status.FAILED
    assert "FULL: /" in result.reason and "(threshold 1%)" in result.reason

    params = {"mem_warn_percent": 1, "load_warn_per_cpu": 1000.0, "gateway": "none"}
    run = run_task(task("diagnose"), lab_hosts(lab, [42]), check=True, extra_vars=params)
    memory = steps_of(run)["memory: enough available"]
    assert host_result(run).status is Status.OK and memory.ignored, "a warning does not fail the host"
    assert "1 warning(s): memory" in summary(run)
    run = run_task(task("diagnose"), lab_hosts(lab, [42]), check=True,
                   extra_vars={**params, "fail_on_warnings": True})
    assert host_result(run).status is Status.FAILED and "1 warning(s): memory" in host_result(run).reason


def test_check_connectivity_names_what_cannot_be_reached(lab):
    entries = lab.status()
    host = lab_hosts(lab, [43])
    open_port = f"{entries[0].address}:{entries[0].port}"
    good = {"targets": f"localhost,{open_port}", "gateway": "127.0.0.1", "timeout": 2}
    for check in (True, False):
        run = run_task(task("check-connectivity"), host, check=check, extra_vars=good)
        assert host_result(run).status is Status.OK, host_result(run).reason
        assert summary(run).startswith("2 of 2 target(s) reachable")
    bad = {"targets": [open_port, "127.0.0.1:1", "bad:99999"], "gateway": "none", "timeout": 2}
    run = run_task(task("check-connectivity"), host, extra_vars=bad)
    result = host_result(run)
    assert result.status is Status.FAILED
    assert "1 of 3 target(s) reachable" in result.reason
    assert "127.0.0.1:1: port 1 not reachable" in result.reason and "bad:99999" in result.reason
    assert open_port + ":" not in result.reason
    assert "tcp:  port" in steps_of(run)["check the targets"].stdout


def test_update_system_in_check_mode_lists_updates_and_changes_nothing(lab):
    run = run_task(task("update-system"), lab_hosts(lab, [44]), check=True)
    result = host_result(run)
    assert result.status is Status.OK, result.reason or [s.to_dict() for s in result.steps]
    steps = steps_of(run)
    assert re.search(r"pending=\d+ security=\S+ todo=\d+", steps["list pending updates"].stdout)
    for name, step in steps.items():
        if name.startswith(("refresh", "install")):
            assert step.status is Status.SKIPPED, f"{name} ran in check mode"
    assert re.match(r"(check mode: would install \d+ security update|up to date)", summary(run))
    assert "reboot" in summary(run)


def test_install_and_remove_packages_in_check_mode(lab):
    policy = subprocess.run(["apt-cache", "policy", "sl"], capture_output=True, text=True, check=False)
    if "Candidate:" not in policy.stdout or "Candidate: (none)" in policy.stdout or \
            "Installed: (none)" not in policy.stdout:
        pytest.skip("needs the apt package lists with 'sl' available and not installed")
    hosts = lab_hosts(lab, [45])
    run = run_task(task("install-packages"), hosts, check=True, extra_vars={"packages": "sl,bash"})
    step = steps_of(run)["install the packages"]
    assert step.status is Status.CHANGED and step.reason == "would install: sl"
    assert subprocess.run(["dpkg", "-s", "sl"], capture_output=True, check=False).returncode != 0

    run = run_task(task("remove-packages"), hosts, check=True, extra_vars={"packages": ["openssh-client", "sl"]})
    step = steps_of(run)["remove the packages"]
    assert step.status is Status.CHANGED and step.reason == "would remove: openssh-client"
    assert shutil.which("ssh")

    run = run_task(task("remove-packages"), hosts, check=True, extra_vars={"packages": "sudo"})
    assert host_result(run).status is Status.FAILED and "refusing to remove sudo" in host_result(run).reason


def test_flush_dns_and_sync_time_report_sensibly_without_daemons(lab):
    hosts = lab_hosts(lab, [46])
    for check in (True, False):
        run = run_task(task("flush-dns"), hosts, check=check)
        assert host_result(run).status is Status.OK, host_result(run).reason
        found = [line for line in steps_of(run)["find local DNS caches"].stdout.splitlines() if "cache=" in line]
        if not found:
            assert summary(run).startswith("no local DNS cache on this host")
        else:
            assert ("would flush " if check else "flushed ") in summary(run)

        run = run_task(task("sync-time"), hosts, check=check)
        probe = steps_of(run)["find the time service and the offset"].stdout
        assert "time: " in probe
        if "daemon=none" in probe and "ntpdate=yes" not in probe:
            assert host_result(run).status is Status.FAILED
            assert "no time synchronisation on this host" in host_result(run).reason
            assert "install chrony" in host_result(run).reason
        else:
            assert host_result(run).status in (Status.OK, Status.CHANGED), host_result(run).reason


# ------------------------------------------------------------------ tasks that change a host


def test_disk_cleanup_reports_in_check_mode_and_deletes_only_old_temp_files(lab):
    root = Path(f"/tmp/{token()}-cleanup")
    try:
        (root / "sub").mkdir(parents=True)
        old = [root / "old-1.log", root / "old-2.bin", root / "sub" / "old-3"]
        for number, path in enumerate(old):
            path.write_bytes(os.urandom(5000 * (number + 1)))
            sh("touch", "-d", "12 days ago", str(path))
        fresh = root / "fresh.txt"
        fresh.write_text("in use\n")
        params = {"temp_dirs": [str(root)], "temp_age_days": 7, "clean_package_cache": False,
                  "vacuum_journal": False}
        hosts = lab_hosts(lab, [47])

        run = run_task(task("disk-cleanup"), hosts, check=True, extra_vars=params)
        assert host_result(run).status is Status.OK, host_result(run).reason
        would = re.search(r"check mode: would free .* \((\d+) bytes\)", summary(run))
        assert would and int(would.group(1)) >= 30000, summary(run)
        assert "3 old temp file(s)" in summary(run)
        assert all(p.exists() for p in old + [fresh]), "check mode deletes nothing"

        run = run_task(task("disk-cleanup"), hosts, extra_vars=params)
        assert host_result(run).status is Status.CHANGED, host_result(run).reason
        freed = re.search(r"^freed .* \((\d+) bytes\)", summary(run))
        assert freed and int(freed.group(1)) == int(would.group(1)), summary(run)
        assert not any(p.exists() for p in old)
        assert fresh.exists() and (root / "sub").is_dir()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_collect_logs_fetches_a_bundle_tarfile_can_open(lab, tmp_path):
    extra = Path(f"/tmp/{token()}-app")
    try:
        extra.mkdir()
        (extra / "app.log").write_text("ERROR something broke\n")
        params = {"since_hours": 1, "dest": str(tmp_path / "bundles"), "extra_paths": [str(extra)]}
        hosts = lab_hosts(lab, [48])

        run = run_task(task("collect-logs"), hosts, check=True, extra_vars=params, fetch_dir=tmp_path)
        assert host_result(run).status is Status.OK, host_result(run).reason
        assert summary(run).startswith("check mode: would collect")
        assert str(extra / "app.log") in steps_of(run)["bundle logs and diagnostics"].stdout
        assert not (tmp_path / "bundles").exists()

        run = run_task(task("collect-logs"), hosts, extra_vars=params, fetch_dir=tmp_path)
        assert host_result(run).status is Status.CHANGED, host_result(run).reason
        bundles = list((tmp_path / "bundles").glob(f"logs-{hosts[0].name}-*.tar.gz"))
        assert len(bundles) == 1
        with tarfile.open(bundles[0]) as archive:
            members = archive.getnames()
            top = bundles[0].name[:-len(".tar.gz")]
            assert f"{top}/diagnostics/df.txt" in members and f"{top}/diagnostics/ps.txt" in members
            log = f"{top}/{str(extra / 'app.log').lstrip('/')}"
            assert archive.extractfile(log).read() == b"ERROR something broke\n"
        remote = re.search(r"bundle=(\S+)", steps_of(run)["bundle logs and diagnostics"].stdout).group(1)
        assert remote.startswith("/var/tmp/rs-logs.")
        assert not Path(remote).parent.exists(), "the bundle is removed from the host"
    finally:
        shutil.rmtree(extra, ignore_errors=True)


@pytest.fixture
def throwaway_user():
    name = token()
    sh("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        Path(f"/var/run/faillock/{name}").unlink(missing_ok=True)


def shadow(user: str) -> list[str]:
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith(user + ":"):
            return line.split(":")
    raise AssertionError(f"{user} is not in /etc/shadow")


def test_unlock_user_resets_failures_unlocks_and_is_idempotent(lab, throwaway_user):
    user = throwaway_user
    sh("chpasswd", input=f"{user}:Old-Passw0rd-{user}\n")
    sh("usermod", "-L", user)
    faillock = shutil.which("faillock")
    if faillock:  # three failed logins, as pam_faillock records them (struct tally of linux-pam)
        Path("/var/run/faillock").mkdir(exist_ok=True)
        records = b"".join(struct.pack("52sHHQ", b"127.0.0.9", 0, 0x1 | 0x2, int(time.time()) - n) for n in range(3))
        Path(f"/var/run/faillock/{user}").write_bytes(records)
    hosts = lab_hosts(lab, [49])

    run = run_task(task("unlock-user"), hosts, check=True, extra_vars={"user": user})
    assert host_result(run).status is Status.OK, host_result(run).reason
    assert summary(run).startswith("check mode: would have ")
    assert "unlocked the password" in summary(run)
    assert shadow(user)[1].startswith("!"), "check mode leaves the lock"

    run = run_task(task("unlock-user"), hosts, extra_vars={"user": user})
    assert host_result(run).status is Status.CHANGED, host_result(run).reason
    assert not shadow(user)[1].startswith("!")
    if faillock:
        assert "reset 3 failed login(s)" in summary(run)
        assert not re.search(r"\sV$", sh(faillock, "--user", user).stdout, re.MULTILINE)
    assert f"now: {user} P " in summary(run)

    run = run_task(task("unlock-user"), hosts, extra_vars={"user": user})
    assert host_result(run).status is Status.OK
    assert summary(run).startswith(f"{user} is not locked: nothing to do")

    run = run_task(task("unlock-user"), hosts, check=True, extra_vars={"user": user + "x"})
    assert host_result(run).reason == f"there is no user {user}x on this host"

    sh("usermod", "-p", "!", user)  # locked with no password behind the lock: unlocking would open it
    run = run_task(task("unlock-user"), hosts, extra_vars={"user": user})
    assert host_result(run).status is Status.FAILED and "reset-password" in host_result(run).reason


def test_reset_password_sets_it_through_stdin_and_never_shows_it(lab, throwaway_user, monkeypatch):
    user = throwaway_user
    password = f"N3w:pass word-{secrets.token_hex(4)}"
    monkeypatch.setenv("RS_TEST_NEW_PASSWORD", password)
    params = {"user": user, "new_password": "env:RS_TEST_NEW_PASSWORD", "force_change": True}
    before = shadow(user)
    hosts = lab_hosts(lab, [50])

    run = run_task(task("reset-password"), hosts, check=True, extra_vars=params)
    assert host_result(run).status is Status.OK, host_result(run).reason
    assert summary(run).startswith(f"check mode: would set a new password for {user}")
    assert shadow(user) == before

    run = run_task(task("reset-password"), hosts, extra_vars=params)
    assert host_result(run).status is Status.CHANGED, host_result(run).reason
    after = shadow(user)
    assert after[1] != before[1] and after[1].startswith("$"), "a new hash"
    assert after[2] == "0", "force_change: the password must be changed at the next login"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt
        except ImportError:
            crypt = None
    if crypt is not None:
        assert crypt.crypt(password, after[1]) == after[1], "the hash is of the given password"
    assert steps_of(run)["set the new password"].command == "chpasswd"
    for result in (run, ):
        text = json.dumps(result.to_dict())
        assert password not in text
        for step in host_result(result).steps:
            assert password not in " ".join([step.command or "", step.stdout, step.stderr, step.reason,
                                             json.dumps(step.data)])

    missing = "no-such-user-" + user[-4:]
    run = run_task(task("reset-password"), hosts, extra_vars={**params, "user": missing})
    assert host_result(run).status is Status.FAILED
    assert host_result(run).reason == f"there is no user {missing} on this host"
    assert "set the new password" not in steps_of(run)


SYSV_SCRIPT = """#!/bin/sh
# remote-support test service: a SysV init script around a sleeping process
PIDFILE=/run/{name}.pid
LOG=/run/{name}.log
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         setsid sleep 100000 >/dev/null 2>&1 </dev/null &
         echo $! > "$PIDFILE"; echo start >> "$LOG" ;;
  stop) running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; echo stop >> "$LOG" ;;
  restart) "$0" stop; "$0" start ;;
  reload|force-reload) running || exit 7; echo reload >> "$LOG" ;;
  status) if running; then echo "{name} is running"; exit 0; else echo "{name} is not running"; exit 3; fi ;;
  *) echo "Usage: $0 {{start|stop|restart|reload|status}}" >&2; exit 2 ;;
esac
exit 0
"""


@pytest.fixture
def sysv_service():
    """A SysV service of the test's own (/etc/init.d/NAME), removed afterwards."""
    if Path("/run/systemd/system").is_dir():
        pytest.skip("a SysV test service needs a host without systemd")
    name = token()
    script = Path(f"/etc/init.d/{name}")
    script.write_text(SYSV_SCRIPT.format(name=name))
    script.chmod(0o755)
    try:
        yield name
    finally:
        subprocess.run([str(script), "stop"], capture_output=True, check=False)
        for path in (script, Path(f"/run/{name}.pid"), Path(f"/run/{name}.log")):
            path.unlink(missing_ok=True)


def test_restart_service_restarts_and_shows_the_status(lab, sysv_service):
    name = sysv_service
    pidfile, log = Path(f"/run/{name}.pid"), Path(f"/run/{name}.log")
    sh(f"/etc/init.d/{name}", "start")
    pid = pidfile.read_text()
    hosts = lab_hosts(lab, [51])

    run = run_task(task("restart-service"), hosts, check=True, extra_vars={"service": name})
    assert host_result(run).status is Status.CHANGED, host_result(run).reason
    steps = steps_of(run)
    assert steps["restart the service"].reason.startswith(f"would restart {name} (")
    assert steps["show status (other init)"].status is Status.OK
    assert f"{name} is running" in steps["show status (other init)"].stdout
    assert pidfile.read_text() == pid and log.read_text().split() == ["start"]

    run = run_task(task("restart-service"), hosts, extra_vars={"service": name})
    assert host_result(run).status is Status.CHANGED, host_result(run).reason
    steps = steps_of(run)
    assert steps["restart the service"].reason == f"restarted {name}"
    assert steps["show status (systemd)"].status is Status.SKIPPED
    assert f"{name} is running" in steps["show status (other init)"].stdout
    assert pidfile.read_text() != pid and log.read_text().split() == ["start", "stop", "start"]

    run = run_task(task("restart-service"), hosts, extra_vars={"service": "no-such-" + name})
    assert host_result(run).status is Status.FAILED and "not found" in host_result(run).reason


def test_deploy_config_file_validates_writes_and_reloads(lab, sysv_service, tmp_path, monkeypatch):
    name = sysv_service
    sh(f"/etc/init.d/{name}", "start")
    log = Path(f"/run/{name}.log")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / f"{name}.conf.j2").write_text(
        "# {{ inventory_hostname }}: managed by remote-support\nsetting = {{ setting }}\n")
    monkeypatch.chdir(tmp_path)  # ./templates is on every task's template path
    dest_dir = Path(f"/tmp/{name}-etc")
    dest = dest_dir / "app.conf"
    params = {"src": f"{name}.conf.j2", "dest": str(dest), "validate": "grep -q good %s", "service": name,
              "setting": "good", "mode": "0640"}
    hosts = lab_hosts(lab, [52])
    try:
        dest_dir.mkdir()
        run = run_task(task("deploy-config-file"), hosts, check=True, extra_vars=params)
        assert host_result(run).status is Status.CHANGED, host_result(run).reason
        steps = steps_of(run)
        assert steps["write the file if it validates"].reason == f"check mode: would create {dest}"
        assert steps["reload the service"].reason.startswith(f"would reload {name} (")
        assert not dest.exists() and log.read_text().split() == ["start"]

        run = run_task(task("deploy-config-file"), hosts, extra_vars=params)
        assert host_result(run).status is Status.CHANGED, host_result(run).reason
        assert dest.read_text() == f"# {hosts[0].name}: managed by remote-support\nsetting = good\n"
        assert oct(dest.stat().st_mode & 0o777) == "0o640"
        assert steps_of(run)["reload the service"].status is Status.CHANGED
        assert log.read_text().split() == ["start", "reload"]

        run = run_task(task("deploy-config-file"), hosts, extra_vars={**params, "setting": "bad"})
        result = host_result(run)
        assert result.status is Status.FAILED and "validation failed" in result.reason
        assert "setting = good" in dest.read_text(), "a file that fails validation is not put in place"
        assert "reload the service" not in steps_of(run)

        # shell syntax in validate is quoted word by word, never run
        marker = dest_dir / "injected"
        run = run_task(task("deploy-config-file"), hosts,
                       extra_vars={**params, "setting": "other", "validate": f"grep -q good %s ; touch {marker}"})
        assert host_result(run).status is Status.FAILED and not marker.exists()

        run = run_task(task("deploy-config-file"), hosts, extra_vars=params)
        assert host_result(run).status is Status.OK, "unchanged: no write, no reload"
        assert "reload the service" not in steps_of(run)
        assert log.read_text().split() == ["start", "reload"]

        # the shipped example template renders with the host's facts (check mode: --diff shows it)
        run = run_task(task("deploy-config-file"), hosts, check=True, diff=True,
                       extra_vars={"src": "motd.j2", "dest": str(dest_dir / "motd")})
        write = steps_of(run)["write the file"]
        assert write.status is Status.CHANGED and "would create" in write.reason
        assert f"+{hosts[0].name} - " in write.diff and not (dest_dir / "motd").exists()
    finally:
        shutil.rmtree(dest_dir, ignore_errors=True)
