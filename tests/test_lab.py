"""The practice lab, checked with the system ssh client against real sshd hosts."""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lab_support import LAB_NETWORK, LAB_SIZE, run_ssh, run_ssh_many, ssh_argv
from remote_support.lab import Lab, LabError, host_address, host_name

REPO = Path(__file__).resolve().parents[1]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="root mode of the lab (hostnames, sudo users)")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _status_elsewhere(directory: Path) -> list[bool]:
    """``status()`` from another process, as the CLI would call it."""
    code = ("import json, sys; from remote_support.lab import Lab; "
            "print(json.dumps([s.running for s in Lab(sys.argv[1]).status()]))")
    out = subprocess.run([sys.executable, "-c", code, str(directory)], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    return json.loads(out)


# -- addresses and names, no processes --------------------------------------------------------------

def test_names_and_addresses_roll_into_the_third_octet():
    assert [host_name(i) for i in (1, 42, 200)] == ["lab-001", "lab-042", "lab-200"]
    assert host_address("127.42.0.0", 1) == "127.42.0.1"
    assert host_address("127.42.0.0", 254) == "127.42.0.254"
    assert host_address("127.42.0.0", 255) == "127.42.1.1"
    assert host_address("127.42.0.0", 509) == "127.42.2.1"
    with pytest.raises(LabError, match="127.x.y.0"):
        Lab(Path("/tmp/nowhere"), network="10.0.0.0")


def test_refuses_a_directory_inside_the_repository():
    with pytest.raises(LabError, match="inside the git repository"):
        Lab(REPO / "lab")


def test_default_directory_is_under_the_data_dir(remote_support_home):
    assert Lab().directory == remote_support_home / "lab"


def test_a_lab_never_started_has_no_hosts(tmp_path):
    lab = Lab(tmp_path / "never")
    assert lab.status() == []
    assert lab.down() == 0


# -- the session lab ----------------------------------------------------------------------------------

def test_every_host_answers_with_its_own_name_under_strict_host_key_checking(lab):
    hosts = lab.status()
    assert len(hosts) == LAB_SIZE
    results = run_ssh_many(lab, hosts, "uname -n")
    for host, result in zip(hosts, results):
        assert result.returncode == 0, f"{host.name}: {result.stderr}"
        expected = host.name if os.geteuid() == 0 else os.uname().nodename
        assert result.stdout.strip() == expected


def test_known_hosts_names_each_key_under_name_and_address(lab):
    lines = lab.known_hosts_path.read_text().splitlines()
    assert len(lines) == LAB_SIZE
    names, keytype, _ = lines[0].split()
    first = lab.status()[0]
    if first.port == 22:
        assert names == f"lab-001,{host_address(LAB_NETWORK, 1)}"
    else:
        assert names == f"[lab-001]:{first.port},[{host_address(LAB_NETWORK, 1)}]:{first.port}"
    assert keytype == "ssh-ed25519"
    assert len({line.split()[2] for line in lines}) == LAB_SIZE  # a key of its own per host

    # checked by name too (a client that connects by address but knows the host by name) ...
    by_name = run_ssh(lab, first, "true", options=["-o", "HostKeyAlias=lab-001"])
    assert by_name.returncode == 0, by_name.stderr
    # ... and strictly: lab-002 presenting its own key where lab-001's is expected is refused
    wrong = run_ssh(lab, lab.status()[1], "true", options=["-o", "HostKeyAlias=lab-001"])
    assert wrong.returncode == 255
    assert "Host key verification failed" in wrong.stderr


def test_inventory_is_the_native_format(lab):
    inventory = yaml.safe_load(lab.inventory_path.read_text())
    assert "defaults" not in inventory  # group vars: the lab's switches and Windows hosts share an -i
    defaults = inventory["groups"]["lab"]["vars"]
    assert defaults["connection"] == "ssh"
    assert defaults["user"] == lab.user
    assert defaults["private_key_file"] == str(lab.client_key_path)
    assert defaults["known_hosts_file"] == str(lab.known_hosts_path)
    if os.geteuid() == 0:
        assert defaults["become_password"] == {"secret": f"file:{lab.directory / 'rslab.password'}"}
    assert list(inventory["groups"]) == ["lab"]
    assert len(inventory["hosts"]) == LAB_SIZE
    port = 22 if os.geteuid() == 0 else 2222
    assert inventory["hosts"]["lab-060"] == {"address": host_address(LAB_NETWORK, 60), "port": port,
                                             "groups": ["lab"]}


def test_secrets_and_keys_are_private(lab):
    private = [lab.client_key_path, *sorted(lab.directory.glob("hosts/*/host_key"))]
    if os.geteuid() == 0:
        private.append(lab.directory / "rslab.password")
    assert len(private) >= LAB_SIZE + 1
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_status_reports_every_host_running_also_from_another_process(lab):
    status = lab.status()
    assert [s.name for s in status] == [host_name(i) for i in range(1, LAB_SIZE + 1)]
    assert all(s.running and s.pid and _alive(s.pid) for s in status)
    assert _status_elsewhere(lab.directory) == [True] * LAB_SIZE


@as_root
def test_rslab_sudo_needs_and_accepts_its_password(lab):
    host = lab.status()[2]
    password = (lab.directory / "rslab.password").read_text().strip()
    ok = run_ssh(lab, host, "sudo -S -p '' id -u", input=password + "\n")
    assert (ok.returncode, ok.stdout.strip(), ok.stderr) == (0, "0", "")
    wrong = run_ssh(lab, host, "sudo -S -p '' id -u", input="not-the-password\n")
    assert wrong.returncode != 0
    without = run_ssh(lab, host, "sudo -n id -u")
    assert without.returncode != 0


@as_root
def test_rslabnp_sudo_needs_no_password(lab):
    result = run_ssh(lab, lab.status()[3], "sudo -n id -u", user="rslabnp")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "0", "")


@as_root
def test_rslab_can_log_in_with_its_password(lab, tmp_path):
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\ncat {lab.directory / 'rslab.password'}\n")
    askpass.chmod(0o700)
    host = lab.status()[4]
    argv = ssh_argv("/dev/null", lab.known_hosts_path, host, "rslab", "id -un",
                    options=["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
                             "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"])
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=30)
    assert (result.returncode, result.stdout.strip()) == (0, "rslab"), result.stderr


# -- labs of their own: down, up again, failures ------------------------------------------------------

@pytest.fixture
def small_lab(tmp_path):
    lab = Lab(tmp_path / "small", network="127.43.100.0")
    try:
        yield lab
    finally:
        lab.remove()


def test_down_stops_every_sshd_and_up_again_reuses_the_host_keys(small_lab):
    hosts = small_lab.up(5)
    known_hosts = small_lab.known_hosts_path.read_text()
    pids = [h.pid for h in hosts]
    assert all(_alive(pid) for pid in pids)

    assert small_lab.down() == 5
    assert not any(_alive(pid) for pid in pids)
    assert [(s.running, s.pid) for s in small_lab.status()] == [(False, None)] * 5
    assert list(small_lab.directory.glob("hosts/*/sshd.pid")) == []
    assert small_lab.down() == 0  # idempotent

    hosts = small_lab.up(5)
    assert small_lab.known_hosts_path.read_text() == known_hosts
    results = run_ssh_many(small_lab, hosts, "uname -n")
    assert [r.returncode for r in results] == [0] * 5, [r.stderr for r in results]

    # `up` on a running lab stops it and starts the new size
    previous = [h.pid for h in hosts]
    hosts = small_lab.up(3)
    assert [h.name for h in hosts] == ["lab-001", "lab-002", "lab-003"]
    assert not any(_alive(pid) for pid in previous)
    assert [s.running for s in small_lab.status()] == [True] * 3
    assert small_lab.known_hosts_path.read_text() == "".join(known_hosts.splitlines(True)[:3])


def test_a_host_that_cannot_start_is_named_with_its_log_and_nothing_is_left_running(tmp_path):
    lab = Lab(tmp_path / "clash", network="127.43.110.0")
    with socket.socket() as squatter:
        squatter.bind((host_address("127.43.110.0", 2), lab.port))
        squatter.listen()
        with pytest.raises(LabError) as failure:
            lab.up(3)
    message = str(failure.value)
    assert "lab-002" in message and "Address already in use" in message and "sshd.log" in message
    assert [s.running for s in lab.status()] == [False] * 3
    config = str(lab.directory / "sshd_config")
    survivors = [p for p in Path("/proc").glob("[0-9]*/cmdline")
                 if config.encode() in p.read_bytes() and _alive(int(p.parent.name))]
    assert survivors == []
    lab.remove()


@as_root
def test_remove_stops_the_lab_and_forgets_its_key_and_files(tmp_path):
    lab = Lab(tmp_path / "gone", network="127.43.130.0")
    host, = lab.up(1)
    blob = lab.client_key_path.with_name("client_key.pub").read_text().split()[1]
    authorized = [Path(pwd.getpwnam(u).pw_dir) / ".ssh" / "authorized_keys" for u in ("rslab", "rslabnp")]
    assert all(blob in path.read_text() for path in authorized)
    (tmp_path / "gone" / "notes.txt").write_text("not the lab's")  # someone else's file stays

    assert lab.remove() == 1
    assert not _alive(host.pid)
    assert not any(blob in path.read_text() for path in authorized)
    assert sorted(p.name for p in (tmp_path / "gone").iterdir()) == ["notes.txt"]


# -- unprivileged mode, as a throwaway user -----------------------------------------------------------

TEST_USER = "rslabtest"
PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on: bool) -> None:
    """Orphaned lab sshds come back to this process (and get reaped) rather than to init."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


@as_root
def test_unprivileged_mode_runs_as_the_user_and_lets_only_that_user_in():
    created = False
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER], check=True)
        created = True
    entry = pwd.getpwnam(TEST_USER)
    directory = Path(entry.pw_dir) / "lab"
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

    def as_user(code: str) -> str:
        argv = ["runuser", "-u", TEST_USER, "--", "env", f"PYTHONPATH={REPO}", "PYTHONDONTWRITEBYTECODE=1",
                f"HOME={entry.pw_dir}", python, "-c",
                "import json, sys; from remote_support.lab import Lab; lab = Lab(sys.argv[1], network='127.43.120.0'); "
                + code, str(directory)]
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    _subreaper(True)
    pids: list[int] = []
    try:
        up = json.loads(as_user("hosts = lab.up(3); print(json.dumps({'user': lab.user, 'hosts': "
                                "[[h.name, h.address, h.port, h.pid] for h in hosts]}))"))
        assert up["user"] == TEST_USER
        lab = Lab(directory)  # root's view of the same files, for keys and known_hosts
        hosts = lab.status()
        pids = [h.pid for h in hosts]
        assert [[h.name, h.address, h.port, h.pid] for h in hosts] == up["hosts"]
        assert {h.port for h in hosts} == {2222}
        assert {Path(f"/proc/{pid}").stat().st_uid for pid in pids} == {entry.pw_uid}
        assert "become_password" not in lab.inventory_path.read_text()
        assert lab.known_hosts_path.read_text().startswith("[lab-001]:2222,[127.43.120.1]:2222 ssh-ed25519 ")

        for host in hosts:
            result = run_ssh(lab, host, "id -un", user=TEST_USER, as_user=TEST_USER)
            assert (result.returncode, result.stdout.strip()) == (0, TEST_USER), result.stderr
        other = run_ssh(lab, hosts[0], "id -un", user="rslab", as_user=TEST_USER)
        assert other.returncode == 255 and "Permission denied" in other.stderr

        assert json.loads(as_user("print(json.dumps([s.running for s in lab.status()]))")) == [True] * 3
        assert as_user("print(lab.down())").strip() == "3"
        assert not any(_alive(pid) for pid in pids)
    finally:
        subprocess.run(["runuser", "-u", TEST_USER, "--", "env", f"PYTHONPATH={REPO}", python, "-c",
                        "import sys; from remote_support.lab import Lab; Lab(sys.argv[1]).down()", str(directory)],
                       capture_output=True, cwd="/")
        _subreaper(False)
        for pid in pids:  # reap the zombies that came back to us
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        break
                except ChildProcessError:
                    break
                time.sleep(0.02)
        if created:
            subprocess.run(["userdel", "--remove", TEST_USER], capture_output=True)
