"""The repair tasks of the library (fix-full-var, set-proxy, add-host-entry, enable-service,
reset-home-permissions, repair-apt, renew-ca-certificates, support-bundle) on real lab hosts: check mode
first (the host is read back: nothing changed), then for real, then again (ok).

The lab hosts are this machine: every test works on files, users and services of its own (throwaway
names, temporary paths given as the tasks' parameters) and removes them afterwards.
"""

from __future__ import annotations

import gzip
import os
import secrets
import shlex
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from remote_support.results import Status
from task_support import lab_hosts, run_task, steps_of

LIBRARY = Path(__file__).resolve().parents[1] / "tasks"


def task(name: str) -> Path:
    return LIBRARY / f"{name}.yml"


def summary(run) -> str:
    return steps_of(run)["summary"].reason


@pytest.fixture
def scratch():
    """A world-readable directory of the test's own under /tmp (the lab user reads it too)."""
    path = Path(f"/tmp/rstest-lib-{secrets.token_hex(3)}")
    path.mkdir(mode=0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_fix_full_var_rotates_big_logs_compresses_old_ones_and_reports(lab, scratch):
    logs = scratch / "log"
    logs.mkdir()
    big = logs / "app.log"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    small = logs / "small.log"
    small.write_text("small\n")
    old = logs / "syslog.1"
    old.write_text("old rotated log\n" * 100)
    week_ago = time.time() - 7 * 86400
    os.utime(old, (week_ago, week_ago))
    params = {"path": str(scratch), "log_dir": str(logs), "rotate_larger_than_mb": 1, "clean_package_cache": False,
              "top": 5}
    host = lab_hosts(lab, [80])

    run = run_task(task("fix-full-var"), host, check=True, extra_vars=params)
    assert run.hosts[0].status is Status.OK, run.hosts[0].reason
    assert summary(run).startswith(f"check mode: {scratch} is ") and "would rotate 1 log(s), compress 1" in summary(run)
    freed = steps_of(run)["free space"].stdout
    assert f"would rotate {big}" in freed and f"would compress {old}" in freed
    assert f"{big}" in freed.split("biggest under", 1)[1], "the biggest entries are listed"
    assert big.stat().st_size == 2 * 1024 * 1024 and old.exists()

    run = run_task(task("fix-full-var"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert big.stat().st_size == 0 and small.read_text() == "small\n"
    rotated = list(logs.glob("app.log.*.gz"))
    assert len(rotated) == 1 and gzip.decompress(rotated[0].read_bytes()) == b"x" * (2 * 1024 * 1024)
    assert not old.exists() and gzip.decompress((logs / "syslog.1.gz").read_bytes()).startswith(b"old rotated")

    run = run_task(task("fix-full-var"), host, extra_vars=params)
    assert steps_of(run)["free space"].status is Status.OK, "nothing left to do"


def test_set_proxy_writes_the_environment_keeps_other_lines_and_removes_again(lab, scratch):
    environment = scratch / "environment"
    environment.write_text('PATH="/usr/local/bin:/usr/bin:/bin"\nhttp_proxy=http://old:1\nLANG=C.UTF-8\n')
    params = {"proxy_url": "http://proxy.example.com:3128", "environment_file": str(environment),
              "profile_file": str(scratch / "proxy.sh"), "apt_file": str(scratch / "95proxy")}
    host = lab_hosts(lab, [81])

    run = run_task(task("set-proxy"), host, check=True, diff=True, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert summary(run).startswith("check mode: would set the proxy to http://proxy.example.com:3128")
    diff = steps_of(run)["write the environment file"].diff
    assert '-http_proxy=http://old:1\n' in diff and '+https_proxy="http://proxy.example.com:3128"\n' in diff
    assert "old:1" in environment.read_text() and not (scratch / "proxy.sh").exists()

    run = run_task(task("set-proxy"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    text = environment.read_text()
    assert text.startswith('PATH="/usr/local/bin:/usr/bin:/bin"\nLANG=C.UTF-8\n')
    assert 'HTTPS_PROXY="http://proxy.example.com:3128"\n' in text and 'no_proxy="localhost,127.0.0.1,::1"\n' in text
    assert "old:1" not in text
    assert 'export http_proxy="http://proxy.example.com:3128"' in (scratch / "proxy.sh").read_text()
    assert (scratch / "95proxy").read_text().count("proxy.example.com:3128") == 2
    assert run_task(task("set-proxy"), host, extra_vars=params).hosts[0].status is Status.OK

    absent = {**params, "state": "absent", "proxy_url": ""}
    run = run_task(task("set-proxy"), host, extra_vars=absent)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert environment.read_text() == 'PATH="/usr/local/bin:/usr/bin:/bin"\nLANG=C.UTF-8\n'
    assert not (scratch / "proxy.sh").exists() and not (scratch / "95proxy").exists()
    assert run_task(task("set-proxy"), host, extra_vars=absent).hosts[0].status is Status.OK


def test_add_host_entry_maps_names_moves_them_and_removes_them(lab, scratch):
    hosts = scratch / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n# a comment\n10.0.0.5 files old-files\n10.0.0.6 print\n")
    params = {"address": "10.0.0.9", "names": "files.example.com,files", "hosts_file": str(hosts)}
    host = lab_hosts(lab, [82])

    run = run_task(task("add-host-entry"), host, check=True, diff=True, extra_vars=params)
    assert summary(run).startswith("check mode: would map files.example.com, files to 10.0.0.9")
    assert "-10.0.0.5 files old-files\n" in steps_of(run)["write the hosts file"].diff
    assert "10.0.0.9" not in hosts.read_text()

    run = run_task(task("add-host-entry"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert hosts.read_text() == ("127.0.0.1\tlocalhost\n# a comment\n10.0.0.9\tfiles.example.com files\n"
                                 "10.0.0.5\told-files\n10.0.0.6 print\n")
    run = run_task(task("add-host-entry"), host, extra_vars=params)
    assert run.hosts[0].status is Status.OK and summary(run).endswith("already as wanted")

    run = run_task(task("add-host-entry"), host, extra_vars={**params, "state": "absent"})
    assert hosts.read_text() == "127.0.0.1\tlocalhost\n# a comment\n10.0.0.5\told-files\n10.0.0.6 print\n"

    run = run_task(task("add-host-entry"), host, extra_vars={**params, "address": "10.0.0.9; reboot"})
    assert run.hosts[0].status is Status.FAILED and "must be an IP address" in run.hosts[0].reason


INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $remote_fs {requires}
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: remote-support test service
### END INIT INFO
PIDFILE=/run/{name}.pid
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start) running && exit 0
         setsid sleep 100000 >/dev/null 2>&1 </dev/null &
         echo $! > "$PIDFILE" ;;
  stop) running && kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE" ;;
  restart) "$0" stop; "$0" start ;;
  status) running && exit 0; exit 3 ;;
  *) exit 2 ;;
esac
exit 0
"""


@pytest.fixture
def sysv_pair():
    """Two SysV services of the test's own, the first requiring the second; removed afterwards."""
    if Path("/run/systemd/system").is_dir():
        pytest.skip("the SysV test services need a host without systemd")
    token = secrets.token_hex(3)
    app, dep = f"rstest-app{token}", f"rstest-dep{token}"
    for name, requires in ((app, dep), (dep, "")):
        script = Path(f"/etc/init.d/{name}")
        script.write_text(INIT_SCRIPT.format(name=name, requires=requires))
        script.chmod(0o755)
    try:
        yield app, dep
    finally:
        for name in (app, dep):
            subprocess.run([f"/etc/init.d/{name}", "stop"], capture_output=True, check=False)
            subprocess.run(["update-rc.d", "-f", name, "remove"], capture_output=True, check=False)
            Path(f"/etc/init.d/{name}").unlink(missing_ok=True)
            Path(f"/run/{name}.pid").unlink(missing_ok=True)


def running(name: str) -> bool:
    return subprocess.run([f"/etc/init.d/{name}", "status"], capture_output=True, check=False).returncode == 0


def enabled(name: str) -> bool:
    return bool(list(Path("/etc/rc2.d").glob(f"S[0-9][0-9]{name}")))


def test_enable_service_enables_and_starts_it_and_its_dependency(lab, sysv_pair):
    app, dep = sysv_pair
    host = lab_hosts(lab, [83])
    run = run_task(task("enable-service"), host, check=True, extra_vars={"service": app})
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert summary(run) == f"check mode: would enable and start {dep}, {app} (depends on {dep})"
    assert not running(app) and not running(dep) and not enabled(app)

    run = run_task(task("enable-service"), host, extra_vars={"service": app})
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert running(app) and running(dep) and enabled(app) and enabled(dep)
    run = run_task(task("enable-service"), host, extra_vars={"service": app})
    assert run.hosts[0].status is Status.OK
    assert summary(run).endswith("running and enabled: nothing to do (depends on " + dep + ")")

    run = run_task(task("enable-service"), host, extra_vars={"service": app + "x"})
    assert run.hosts[0].status is Status.FAILED and run.hosts[0].reason == f"there is no service {app}x on this host"


def test_reset_home_permissions_gives_the_home_back_without_following_links(lab, scratch):
    user = f"rstest-h{secrets.token_hex(3)}"
    home = scratch / "home"
    subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/usr/sbin/nologin", user], check=True)
    try:
        (home / "docs").mkdir()
        (home / "docs" / "report.txt").write_text("root wrote this\n")  # owned by root: the ticket
        ssh = home / ".ssh"
        ssh.mkdir(mode=0o755)
        (ssh / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
        (ssh / "authorized_keys").chmod(0o644)
        outside = scratch / "outside-secret"
        outside.write_text("root's\n")
        (home / "link-out").symlink_to(outside)  # must not hand the target over
        home.chmod(0o777)
        host = lab_hosts(lab, [84])

        run = run_task(task("reset-home-permissions"), host, check=True, extra_vars={"user": user})
        assert run.hosts[0].status is Status.OK, run.hosts[0].reason
        assert summary(run).startswith(f"check mode: would give {user} back ")
        assert "mode 777 -> 0750" in summary(run) and "2 ~/.ssh mode(s) fixed" in summary(run)
        assert (home / "docs").stat().st_uid == 0 and (home.stat().st_mode & 0o777) == 0o777

        run = run_task(task("reset-home-permissions"), host, extra_vars={"user": user})
        assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
        entry = subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout.strip()
        for path in (home / "docs", home / "docs" / "report.txt", ssh, ssh / "authorized_keys"):
            assert str(path.lstat().st_uid) == entry, path
        assert str((home / "link-out").lstat().st_uid) == entry, "the link itself is the user's"
        assert outside.stat().st_uid == 0, "what it points to is not"
        assert (home.stat().st_mode & 0o777) == 0o750 and (ssh.stat().st_mode & 0o777) == 0o700
        assert ((ssh / "authorized_keys").stat().st_mode & 0o777) == 0o600
        run = run_task(task("reset-home-permissions"), host, extra_vars={"user": user})
        assert run.hosts[0].status is Status.OK and summary(run).endswith("nothing to do")
    finally:
        subprocess.run(["userdel", user], capture_output=True, check=False)

    run = run_task(task("reset-home-permissions"), lab_hosts(lab, [84]), extra_vars={"user": "root"})
    assert run.hosts[0].status is Status.FAILED and "is a system directory: refusing" in run.hosts[0].reason


@pytest.fixture
def half_configured(scratch):
    """A throwaway package left half-configured (its postinst fails until a flag file exists), purged
    afterwards. The window in which this machine's dpkg database has a broken package is the test's."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("needs dpkg")
    name = f"rstest-broken-{secrets.token_hex(3)}"
    flag = scratch / "allow"
    root = scratch / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: 1.0\nArchitecture: all\n"
                                             "Maintainer: remote-support tests <t@example.com>\n"
                                             "Description: remote-support test package\n")
    postinst = root / "DEBIAN" / "postinst"
    postinst.write_text(f"#!/bin/sh\n[ -e {flag} ] || {{ echo 'not yet' >&2; exit 1; }}\nexit 0\n")
    postinst.chmod(0o755)
    deb = scratch / f"{name}.deb"
    subprocess.run(["dpkg-deb", "--build", str(root), str(deb)], capture_output=True, check=True)
    installed = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, check=False)
    assert installed.returncode != 0, "the postinst fails the first time"
    try:
        yield name, flag
    finally:
        flag.touch()
        subprocess.run(["dpkg", "--purge", name], capture_output=True, check=False)


def package_state(name: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name], capture_output=True,
                          text=True, check=False).stdout.strip()


def test_repair_apt_finishes_a_half_configured_package(lab, half_configured):
    name, flag = half_configured
    host = lab_hosts(lab, [85])
    assert package_state(name) == "iF"
    run = run_task(task("repair-apt"), host, check=True)
    assert run.hosts[0].status is Status.OK, run.hosts[0].reason
    assert summary(run).startswith("check mode: would repair ") and f"iF {name}" in summary(run)
    assert package_state(name) == "iF"

    flag.touch()  # whatever broke the configuration is fixed: the repair can finish it
    run = run_task(task("repair-apt"), host)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert package_state(name) == "ii"
    assert summary(run).endswith("dpkg and apt are consistent now")
    run = run_task(task("repair-apt"), host)
    assert run.hosts[0].status is Status.OK and summary(run) == "dpkg and apt are consistent: nothing to repair"


def make_ca(path: Path, days: int, name: str) -> Path:
    key = path.with_suffix(".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(path), "-days", str(days), "-subj", f"/CN={name}"],
                   capture_output=True, check=True)
    key.unlink()
    return path


def test_renew_ca_certificates_installs_a_ca_rebuilds_the_bundle_and_names_expiring_ones(lab, scratch):
    """update-ca-certificates on throwaway directories: this machine's own trust store is never touched."""
    if not shutil.which("update-ca-certificates"):
        pytest.skip("needs update-ca-certificates (Debian's ca-certificates)")
    local, certs, hooks = scratch / "local", scratch / "certs", scratch / "hooks"
    for directory in (local, certs, hooks):
        directory.mkdir()
    conf = scratch / "ca-certificates.conf"
    conf.write_text("# none from the distribution: the bundle is our certificates only\n")  # empty: always --fresh
    corp = make_ca(scratch / "corp-root.pem", 3650, "rstest corp root")
    make_ca(local / "old-root.crt", 5, "rstest old root")
    not_a_cert = scratch / "broken.pem"
    not_a_cert.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    params = {"ca_files": [str(corp)], "local_dir": str(local), "certs_dir": str(certs), "certs_conf": str(conf),
              "hooks_dir": str(hooks)}
    host = lab_hosts(lab, [86])

    run = run_task(task("renew-ca-certificates"), host, check=True, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert summary(run).startswith(f"check mode: the bundle holds 0 certificates; would install {corp}")
    assert not (local / "corp-root.crt").exists() and not (certs / "ca-certificates.crt").exists()

    run = run_task(task("renew-ca-certificates"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert (local / "corp-root.crt").read_bytes() == corp.read_bytes()
    assert (certs / "ca-certificates.crt").read_text().count("BEGIN CERTIFICATE") == 2
    assert summary(run).startswith(f"the bundle {certs}/ca-certificates.crt holds 2 certificates (was 0); installed")
    assert "expiring within 30 days: old-root.crt" in summary(run)
    run = run_task(task("renew-ca-certificates"), host, extra_vars=params)
    assert run.hosts[0].status is Status.OK, [(s.name, s.status.value) for s in run.hosts[0].steps]

    run = run_task(task("renew-ca-certificates"), host, extra_vars={**params, "ca_files": [str(not_a_cert)]})
    assert run.hosts[0].status is Status.FAILED and "validation failed" in run.hosts[0].reason
    assert not (local / "broken.crt").exists()


def test_support_bundle_is_fetched_with_secrets_masked_and_removed_from_the_host(lab, scratch, tmp_path):
    config = scratch / "app.conf"
    config.write_text("listen = 8080\ndb_password = hunter2-rs\napi_token: abc-rs-123\nname = app\n")
    params = {"dest": str(tmp_path / "bundles"), "config_paths": [str(config), "/etc/hosts"], "log_lines": 20}
    host = lab_hosts(lab, [87])

    run = run_task(task("support-bundle"), host, check=True, extra_vars=params)
    assert run.hosts[0].status is Status.OK, run.hosts[0].reason
    assert summary(run) == "check mode: would gather 2 configuration file(s), system state and log tails"
    assert not (tmp_path / "bundles").exists()

    run = run_task(task("support-bundle"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason  # a new file on the controller
    bundles = list((tmp_path / "bundles").glob("support-*.tar.gz"))
    assert len(bundles) == 1 and summary(run).startswith("fetched the support bundle (")
    with tarfile.open(bundles[0]) as archive:
        names = archive.getnames()
        top = names[0].split("/")[0]
        assert f"{top}/state/uname.txt" in names and f"{top}/state/users.txt" in names
        text = archive.extractfile(f"{top}/config{config}").read().decode()
        users = archive.extractfile(f"{top}/state/users.txt").read().decode()
    assert "listen = 8080\n" in text and "name = app\n" in text
    assert "hunter2-rs" not in text and "abc-rs-123" not in text and "db_password = ********" in text
    assert "root:0:0:/root:" in users and "$" not in users, "no password hashes"
    assert not list(Path("/var/tmp").glob("rs-bundle.*/" + top + ".tar.gz")), "removed from the host"

    run = run_task(task("support-bundle"), host, extra_vars={**params, "config_paths": ["/etc/shadow"]})
    assert run.hosts[0].status is Status.FAILED and "never shadow files" in run.hosts[0].reason


def test_set_dns_resolver_keeps_options_and_comments(lab, scratch):
    resolv = scratch / "resolv.conf"
    resolv.write_text("# from DHCP\nsearch old.example\nnameserver 192.0.2.1\noptions timeout:2\n")
    params = {"nameservers": "10.0.0.53,10.0.1.53", "search": "corp.example", "resolv_conf": str(resolv)}
    host = lab_hosts(lab, [88])
    run = run_task(task("set-dns-resolver"), host, check=True, diff=True, extra_vars=params)
    assert summary(run) == "check mode: would set the name servers to 10.0.0.53, 10.0.1.53 (search corp.example)"
    assert "-nameserver 192.0.2.1\n" in steps_of(run)["write resolv.conf"].diff
    assert "192.0.2.1" in resolv.read_text()
    run = run_task(task("set-dns-resolver"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert resolv.read_text() == ("# from DHCP\noptions timeout:2\nsearch corp.example\nnameserver 10.0.0.53\n"
                                  "nameserver 10.0.1.53\n")
    run = run_task(task("set-dns-resolver"), host, extra_vars=params)
    assert run.hosts[0].status is Status.OK and summary(run) == "the name servers already are 10.0.0.53, 10.0.1.53"


def shadow(user: str) -> list[str]:
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith(user + ":"):
            return line.split(":")
    raise AssertionError(f"{user} is not in /etc/shadow")


@pytest.fixture
def account_name():
    name = f"rstest-a{secrets.token_hex(3)}"
    yield name
    subprocess.run(["crontab", "-r", "-u", name], capture_output=True, check=False)
    subprocess.run(["userdel", "-r", name], capture_output=True, check=False)


def test_create_user_sets_a_first_password_that_must_be_changed(lab, account_name, monkeypatch):
    password = f"First-{secrets.token_hex(4)}"
    monkeypatch.setenv("RS_TEST_FIRST_PW", password)
    params = {"user": account_name, "password": "env:RS_TEST_FIRST_PW", "shell": "/bin/sh"}
    host = lab_hosts(lab, [89])
    run = run_task(task("create-user"), host, check=True, extra_vars=params)
    assert summary(run).startswith(f"check mode: would create user {account_name}")
    assert subprocess.run(["id", account_name], capture_output=True, check=False).returncode != 0

    run = run_task(task("create-user"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    entry = shadow(account_name)
    _, alg, salt, _ = entry[1].split("$", 3)
    again = subprocess.run(["openssl", "passwd", f"-{alg}", "-salt", salt, "-stdin"], input=password + "\n",
                           capture_output=True, text=True, check=True).stdout.strip()
    assert again == entry[1] and entry[2] == "0", "the given password, to be changed at the first login"
    assert password not in str(run.to_dict())
    run = run_task(task("create-user"), host, extra_vars=params)
    assert run.hosts[0].status is Status.OK and summary(run) == f"{account_name} exists as wanted"


def fresh_uid() -> int:
    """A uid no account and no process has: other tests on this machine delete users whose uid the next
    useradd would hand out again while their processes may still run, and disable-user kills by uid."""
    import pwd

    busy = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            busy.add(os.stat(f"/proc/{entry}").st_uid)
        except FileNotFoundError:  # the process ended meanwhile
            pass
    while True:
        uid = 61000 + secrets.randbelow(4000)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            if uid not in busy:
                return uid


def test_disable_user_locks_expires_stops_processes_and_cron_jobs(lab, account_name):
    subprocess.run(["useradd", "-m", "-u", str(fresh_uid()), "-s", "/bin/sh", account_name], check=True)
    subprocess.run(["chpasswd"], input=f"{account_name}:Some-Passw0rd\n", text=True, check=True)
    subprocess.run(["crontab", "-u", account_name, "-"], input="MAILTO=x@example.com\n0 1 * * * /bin/true job\n",
                   text=True, check=True)
    # started as the user directly (not through runuser, whose child would outlive a kill by PID)
    process = subprocess.Popen(["sleep", "3000"], user=account_name, group=account_name)
    try:
        host = lab_hosts(lab, [90])
        run = run_task(task("disable-user"), host, check=True, extra_vars={"user": account_name, "grace_seconds": 2})
        assert summary(run).startswith(f"check mode: would lock and expire {account_name}; would send TERM to 1")
        assert process.poll() is None and not shadow(account_name)[1].startswith("!")

        run = run_task(task("disable-user"), host, extra_vars={"user": account_name, "grace_seconds": 2})
        assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
        entry = shadow(account_name)
        assert entry[1].startswith("!") and entry[7] == "0"
        assert process.wait(10) is not None
        cron = subprocess.run(["crontab", "-l", "-u", account_name], capture_output=True, text=True).stdout
        assert cron == "MAILTO=x@example.com\n#disabled# 0 1 * * * /bin/true job\n"
        run = run_task(task("disable-user"), host, extra_vars={"user": account_name})
        assert run.hosts[0].status is Status.OK and summary(run) == f"{account_name} was already locked and expired"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
    run = run_task(task("disable-user"), lab_hosts(lab, [90]), extra_vars={"user": "nobody"})
    assert run.hosts[0].status is Status.FAILED and "system account" in run.hosts[0].reason


@pytest.fixture
def http_files():
    """A local HTTP server on 127.0.0.1 serving a dict of files; shut down afterwards."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    files: dict[str, bytes] = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = files.get(self.path.split("?")[0].lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_install_vendor_bundle_downloads_verifies_and_unpacks_once(lab, scratch, http_files):
    import hashlib
    import io

    base, files, hits = http_files
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("agent/bin/agent", b"#!/bin/sh\necho agent\n"), ("agent/README", b"vendor\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    files["agent-1.0.tar.gz"] = buffer.getvalue()
    params = {"url": f"{base}/agent-1.0.tar.gz", "checksum": "sha256:" + hashlib.sha256(buffer.getvalue()).hexdigest(),
              "dest": str(scratch / "opt-agent"), "download_dir": str(scratch)}
    host = lab_hosts(lab, [91])

    run = run_task(task("install-vendor-bundle"), host, check=True, extra_vars=params)
    assert summary(run) == f"check mode: would download {base}/agent-1.0.tar.gz and unpack it into {scratch}/opt-agent"
    assert hits == [] and not (scratch / "opt-agent").exists()

    run = run_task(task("install-vendor-bundle"), host, extra_vars=params)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert (scratch / "opt-agent/agent/bin/agent").read_bytes() == b"#!/bin/sh\necho agent\n"
    assert summary(run).startswith("downloaded and unpacked 4 of 4 members") or "unpacked" in summary(run)
    run = run_task(task("install-vendor-bundle"), host, extra_vars=params)
    assert run.hosts[0].status is Status.OK and summary(run) == f"{scratch}/opt-agent already holds the bundle"
    assert len(hits) == 1, "downloaded once"

    run = run_task(task("install-vendor-bundle"), host, extra_vars={**params, "checksum": "sha256:" + "0" * 64,
                                                                    "url": f"{base}/agent-1.0.tar.gz?v=2"})
    assert run.hosts[0].status is Status.FAILED and "does not match" in run.hosts[0].reason


def test_schedule_job_adds_pauses_and_removes_a_cron_job(lab, account_name):
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", account_name], check=True)
    params = {"name": "report", "job": "/usr/local/bin/report --daily", "cron_user": account_name,
              "schedule": "15 2 * * 1-5"}
    host = lab_hosts(lab, [92])

    def crontab() -> str:
        return subprocess.run(["crontab", "-l", "-u", account_name], capture_output=True, text=True).stdout
    run = run_task(task("schedule-job"), host, check=True, diff=True, extra_vars=params)
    assert summary(run).startswith("check mode: would add report") and crontab() == ""
    run = run_task(task("schedule-job"), host, extra_vars=params)
    assert crontab() == "#Ansible: report\n15 2 * * 1-5 /usr/local/bin/report --daily\n"
    assert run_task(task("schedule-job"), host, extra_vars=params).hosts[0].status is Status.OK
    run_task(task("schedule-job"), host, extra_vars={**params, "state": "disabled", "schedule": "daily"})
    assert crontab() == "#Ansible: report\n#@daily /usr/local/bin/report --daily\n"
    run_task(task("schedule-job"), host, extra_vars={**params, "state": "absent"})
    assert crontab() == ""


def test_set_kernel_setting_persists_and_applies(lab, scratch):
    conf = Path(f"/etc/sysctl.d/rstest-{secrets.token_hex(3)}.conf")
    index = 93
    entry = lab.status()[index]
    from lab_support import run_ssh

    def domainname() -> str:
        return run_ssh(lab, entry, "/usr/sbin/sysctl -n kernel.domainname").stdout.strip()

    original = domainname()
    params = {"setting": "kernel.domainname", "value": f"rstest-{secrets.token_hex(2)}", "sysctl_file": str(conf)}
    try:
        host = lab_hosts(lab, [index])
        run = run_task(task("set-kernel-setting"), host, check=True, extra_vars=params)
        assert summary(run).startswith("check mode: would set kernel.domainname in") and not conf.exists()
        run = run_task(task("set-kernel-setting"), host, extra_vars=params)
        assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
        assert conf.read_text() == f"kernel.domainname={params['value']}\n" and domainname() == params["value"]
        run = run_task(task("set-kernel-setting"), host, diff=True, extra_vars=params)
        assert run.hosts[0].status is Status.OK, [(s.name, s.diff, s.data) for s in run.hosts[0].steps]
        run = run_task(task("set-kernel-setting"), host, extra_vars={**params, "setting": "kernel.no_such_rs"})
        assert run.hosts[0].status is Status.FAILED and "no setting kernel.no_such_rs" in run.hosts[0].reason
    finally:
        conf.unlink(missing_ok=True)
        run_ssh(lab, entry, f"sudo -n /usr/sbin/sysctl -qw kernel.domainname={shlex.quote(original)}", user="rslabnp")


def test_kill_process_ends_a_hung_program(lab):
    seconds = f"{secrets.randbelow(10**6) + 10**6}.5"
    hung = subprocess.Popen(["sh", "-c", f"trap '' TERM; exec sleep {seconds}"])
    try:
        host = lab_hosts(lab, [94])
        params = {"pattern": f"^sleep {seconds}$", "grace_seconds": 1}
        run = run_task(task("kill-process"), host, check=True, extra_vars=params)
        assert summary(run).startswith("check mode: would send TERM to 1 process(es)") and hung.poll() is None
        run = run_task(task("kill-process"), host, extra_vars=params)
        assert run.hosts[0].status is Status.CHANGED and "1 needed KILL" in summary(run)
        assert hung.wait(10) == -9
        run = run_task(task("kill-process"), host, extra_vars=params)
        assert run.hosts[0].status is Status.OK, summary(run)
    finally:
        if hung.poll() is None:
            hung.kill()
        hung.wait(10)
