"""SSHConnection against real sshd hosts of the test lab."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest

from remote_support.connections import ssh as ssh_module
from remote_support.connections.base import ConnectOptions
from remote_support.connections.ssh import SSHConnection, load_private_key
from remote_support.errors import (AuthError, BecomeError, CommandTimeout, HostKeyError, KeyFileError,
                                   UnreachableError)
from remote_support.inventory import Host


def lab_host(lab, index: int = 0, **overrides) -> Host:
    entry = lab.status()[index]
    variables = {"address": entry.address, "port": entry.port, "user": lab.user,
                 "private_key_file": str(lab.client_key_path), "known_hosts_file": str(lab.known_hosts_path)}
    variables.update(overrides)
    return Host(entry.name, {k: v for k, v in variables.items() if v is not None})


def lab_password(lab) -> str:
    return (Path(lab.directory) / "rslab.password").read_text().strip()


def opened(host: Host, **options) -> SSHConnection:
    connection = SSHConnection(host, ConnectOptions(**options))
    connection.open()
    return connection


# ---------------------------------------------------------------- commands and files


def test_run_returns_stdout_stderr_and_rc(lab):
    with opened(lab_host(lab, 0)) as c:
        result = c.run("uname -n; echo oops >&2; exit 3")
    assert result.stdout.strip() == lab.status()[0].name
    assert result.stderr == "oops\n"
    assert result.rc == 3 and not result.ok


def test_one_connection_serves_many_commands_and_stdin(lab):
    with opened(lab_host(lab, 1)) as c:
        assert [c.run(f"echo {i}").stdout for i in range(5)] == [f"{i}\n" for i in range(5)]
        assert c.run("tr a-z A-Z", stdin="hello").stdout == "HELLO"
        # a command that reads stdin gets EOF instead of hanging
        assert c.run("cat", timeout=5).rc == 0


def test_large_output_on_both_streams_does_not_deadlock(lab):
    with opened(lab_host(lab, 2)) as c:
        result = c.run("head -c 3000000 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2",
                       timeout=30)
    assert len(result.stdout) == 3_000_000 and len(result.stderr) == 3_000_000


def test_put_and_get_over_sftp(lab, tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(200_000))
    with opened(lab_host(lab, 3)) as c:
        c.put(source, "/tmp/rs-test-payload", mode=0o640)
        assert c.get("/tmp/rs-test-payload") == source.read_bytes()
        assert c.run("stat -c %a /tmp/rs-test-payload").stdout.strip() == "640"
        c.put(b"inline", "/tmp/rs-test-inline")
        assert c.get("/tmp/rs-test-inline") == b"inline"
        with pytest.raises(Exception, match="cannot read /nonexistent/file"):
            c.get("/nonexistent/file")


# ---------------------------------------------------------------- authentication


def test_password_auth(lab):
    host = lab_host(lab, 4, private_key_file=None, password=lab_password(lab))
    with opened(host) as c:
        assert c.run("id -un").stdout.strip() == lab.user


def test_wrong_password_is_an_auth_failure_naming_the_user(lab):
    host = lab_host(lab, 4, private_key_file=None, password="not-the-password")
    with pytest.raises(AuthError, match=f"auth failed for user {lab.user}"):
        opened(host)


def test_key_not_authorized_is_an_auth_failure(lab, tmp_path):
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(AuthError, match="tried key"):
        opened(lab_host(lab, 4, private_key_file=str(key)))


def test_agent_auth(lab, tmp_path, monkeypatch):
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split(";")[0].split("=", 1) for line in agent.splitlines() if "=" in line.split(";")[0])
    try:
        subprocess.run(["ssh-add", "-q", str(lab.client_key_path)], env={**os.environ, **env}, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", env["SSH_AUTH_SOCK"])
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys to fall back on
        monkeypatch.setattr(ssh_module, "_agent_cache", None)
        with opened(lab_host(lab, 5, private_key_file=None)) as c:
            assert c.run("id -un").stdout.strip() == lab.user
    finally:
        os.kill(int(env["SSH_AGENT_PID"]), 15)
        monkeypatch.setattr(ssh_module, "_agent_cache", None)


def test_encrypted_key_needs_the_right_passphrase(lab, tmp_path):
    key = tmp_path / "locked"
    shutil.copy(lab.client_key_path, key)
    key.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "s3cret-phrase", "-f", str(key)], check=True)
    with pytest.raises(KeyFileError, match="encrypted"):
        load_private_key(str(key))
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(str(key), "nope")
    host = lab_host(lab, 5, private_key_file=str(key), private_key_passphrase="s3cret-phrase")
    with opened(host) as c:
        assert c.run("true").rc == 0


def test_unreadable_key_file_is_named(tmp_path):
    with pytest.raises(KeyFileError, match="does not exist"):
        load_private_key(str(tmp_path / "missing"))
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    with pytest.raises(KeyFileError, match=str(garbage)):
        load_private_key(str(garbage))


def test_ssh_config_user_port_hostname_and_identity(lab, tmp_path):
    entry = lab.status()[6]
    config = tmp_path / "ssh_config"
    config.write_text(f"Host office-pc\n  HostName {entry.address}\n  Port {entry.port}\n  User {lab.user}\n"
                      f"  IdentityFile {lab.client_key_path}\n  UserKnownHostsFile {lab.known_hosts_path}\n")
    host = Host("office-pc", {})
    with opened(host, ssh_config=str(config)) as c:
        assert c.run("uname -n").stdout.strip() == entry.name


# ---------------------------------------------------------------- host keys


def _known_hosts_with(tmp_path, lab, index: int, public_key_line: str) -> Path:
    entry = lab.status()[index]
    name = entry.address if entry.port == 22 else f"[{entry.address}]:{entry.port}"
    path = tmp_path / "known_hosts"
    path.write_text(f"{name} {public_key_line}\n")
    return path


def test_changed_host_key_is_refused_even_with_accept_new(lab, tmp_path):
    other = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = _known_hosts_with(tmp_path, lab, 7, " ".join(other.with_suffix(".pub").read_text().split()[:2]))
    host = lab_host(lab, 7, known_hosts_file=str(known))
    for accept in (False, True):
        with pytest.raises(HostKeyError, match=f"host key changed for {host.name}: refusing"):
            opened(host, accept_new_host_keys=accept)


def test_unknown_host_key_is_refused_until_accepted_then_recorded(lab, tmp_path):
    host = lab_host(lab, 8, known_hosts_file=str(tmp_path / "empty"))
    with pytest.raises(HostKeyError, match="host key unknown.*--accept-new-host-keys"):
        opened(host)
    with opened(host, accept_new_host_keys=True) as c:
        assert c.run("true").rc == 0
    recorded = ssh_module.tool_known_hosts().read_text()
    assert lab.status()[8].address in recorded
    # the recorded key is now trusted without the flag
    with opened(host) as c:
        assert c.run("true").rc == 0


# ---------------------------------------------------------------- reaching hosts


def _free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_unreachable_connection_refused():
    host = Host("ghost", {"address": "127.0.0.1", "port": _free_loopback_port()})
    with pytest.raises(UnreachableError, match="unreachable: connection refused"):
        opened(host)


def test_silent_server_times_out_at_connect_timeout():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    try:
        host = Host("mute", {"address": "127.0.0.1", "port": server.getsockname()[1]})
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="unreachable"):
            opened(host, connect_timeout=1.5)
        assert time.monotonic() - started < 10
    finally:
        server.close()


def test_proxy_jump_through_a_bastion(lab):
    bastion = lab.status()[9]
    target = lab_host(lab, 10, proxy_jump=f"{lab.user}@{bastion.address}:{bastion.port}")
    with opened(target) as c:
        assert isinstance(c._transport.sock, paramiko.Channel)  # really tunnelled, not direct
        assert c.run("uname -n").stdout.strip() == lab.status()[10].name


def test_proxy_jump_from_ssh_config(lab, tmp_path):
    bastion, target = lab.status()[9], lab.status()[15]
    config = tmp_path / "ssh_config"
    config.write_text(f"Host jumpbox\n  HostName {bastion.address}\n  Port {bastion.port}\n  User {lab.user}\n"
                      f"Host {target.address}\n  ProxyJump jumpbox\n")
    host = lab_host(lab, 15)
    with opened(host, ssh_config=str(config)) as c:
        assert isinstance(c._transport.sock, paramiko.Channel)
        assert c.run("uname -n").stdout.strip() == target.name


def test_proxy_jump_errors_name_the_bastion(lab, tmp_path):
    bastion = lab.status()[9]
    target = lab_host(lab, 10, proxy_jump=f"{lab.user}@{bastion.address}:{bastion.port}",
                      known_hosts_file=str(tmp_path / "empty"))
    with pytest.raises(HostKeyError, match="via bastion"):
        opened(target)


# ---------------------------------------------------------------- timeouts


def test_hung_command_is_stopped_at_its_timeout(lab):
    seconds = f"60.{os.getpid()}"  # a sleep no other test runs
    with opened(lab_host(lab, 11)) as c:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match="timed out after 1s") as caught:
            c.run(f"echo started; sleep {seconds}", timeout=1)
        assert time.monotonic() - started < 5
        assert caught.value.partial.stdout == "started\n"
        # the connection stays usable, and the hung process was killed on the host
        time.sleep(0.3)
        # ("[s]leep" so that pgrep does not find the shell running pgrep)
        assert c.run(f"pgrep -f '[s]leep {seconds}' || echo gone").stdout.strip() == "gone"


def test_host_timeout_limits_all_commands_together(lab):
    with opened(lab_host(lab, 12), host_timeout=2) as c:
        assert c.run("sleep 1").rc == 0
        with pytest.raises(CommandTimeout):
            c.run("sleep 5")


# ---------------------------------------------------------------- become


def test_sudo_with_password_never_shows_it(lab):
    password = lab_password(lab)
    host = lab_host(lab, 13, become_password=password)
    with opened(host) as c, opened(host) as observer:
        result = c.run("id -un; echo $SUDO_USER", become=True)
        # while a become command runs, no process on the host shows the password
        slow = threading.Thread(target=c.run, args=("sleep 1.5",), kwargs={"become": True})
        slow.start()
        time.sleep(0.7)
        listing = observer.run("ps -eo args").stdout
        slow.join()
    assert result.stdout.split() == ["root", lab.user]
    assert password not in result.stdout + result.stderr
    assert "rs-sudo" not in result.stderr and "RS-BECOME" not in result.stdout
    assert "sleep 1.5" in listing and password not in listing


def test_sudo_with_wrong_or_missing_password_fails_clearly(lab):
    with opened(lab_host(lab, 13, become_password="wrong-password")) as c:
        with pytest.raises(BecomeError, match="refused the become password"):
            c.run("id", become=True)
    with opened(lab_host(lab, 13)) as c:
        with pytest.raises(BecomeError, match="sudo needs a password"):
            c.run("id", become=True)


def test_sudo_nopasswd_and_become_user(lab):
    host = lab_host(lab, 14, user="rslabnp")
    with opened(host) as c:
        assert c.run("id -un", become=True).stdout.strip() == "root"
    with opened(lab_host(lab, 14, user="rslabnp", become_user=lab.user)) as c:
        assert c.run("id -un", become=True).stdout.strip() == lab.user
    # stdin still reaches the command after the sudo handshake
    with opened(lab_host(lab, 14, become_password=lab_password(lab))) as c:
        assert c.run("cat", stdin="through sudo", become=True).stdout == "through sudo"
