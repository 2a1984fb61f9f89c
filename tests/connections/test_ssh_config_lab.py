"""ssh_config and known_hosts features against real sshd hosts: Include, comments, bastion chains,
ProxyCommand, host certificates (@cert-authority) and @revoked keys. OpenSSH's client is the oracle
where it can connect too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from remote_support.connections.base import ConnectOptions
from remote_support.connections.ssh import SSHConnection, _ShellProxy
from remote_support.errors import HostKeyError, UnreachableError
from remote_support.inventory import Host, load_inventory
from remote_support.lab import SSHD

LAB_INDEXES = range(40, 50)  # lab hosts this module uses (test_ssh.py uses 0..15)


def entry(lab, index):
    return lab.status()[index]


def opened(host: Host, **options) -> SSHConnection:
    connection = SSHConnection(host, ConnectOptions(**options))
    connection.open()
    return connection


def common(lab) -> str:
    return (f"  User {lab.user}\n  IdentityFile {lab.client_key_path}\n"
            f"  UserKnownHostsFile {lab.known_hosts_path}\n")


def private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_include_relative_to_dot_ssh_with_trailing_comments(lab, tmp_path, monkeypatch):
    target = entry(lab, 40)
    monkeypatch.setenv("HOME", str(tmp_path))
    private(tmp_path / ".ssh/conf.d/office.conf",
            f"Host office   # the front-desk PC\n  HostName {target.address}   # primary\n"
            f"  Port {target.port} # std\n" + common(lab))
    config = private(tmp_path / "cfg", "Include conf.d/*.conf  # every file there\n")
    with opened(Host("office", {}), ssh_config=str(config)) as c:
        assert c.settings.address == target.address
        assert c.run("uname -n").stdout.strip() == target.name


def test_chained_bastions_first_tcp_connection_goes_to_the_outer_one(lab, tmp_path):
    outer, inner, target = entry(lab, 41), entry(lab, 42), entry(lab, 43)
    config = private(tmp_path / "cfg",
                     f"Host target\n  HostName {target.address}\n  ProxyJump inner\n"
                     f"Host inner\n  HostName {inner.address}\n  ProxyJump outer\n"
                     f"Host outer\n  HostName {outer.address}\n"
                     f"Host *\n" + common(lab))
    with opened(Host("target", {}), ssh_config=str(config)) as c:
        assert c.run("uname -n").stdout.strip() == target.name
        via_inner, via_outer = c._jump, c._jump._jump
        assert (via_inner.settings.address, via_outer.settings.address) == (inner.address, outer.address)
        assert via_outer._jump is None
        # only the outer bastion has a TCP socket of ours; the others are channels inside it
        assert isinstance(c._transport.sock, paramiko.Channel)
        assert isinstance(via_inner._transport.sock, paramiko.Channel)
        tcp = via_outer._transport.sock
        assert isinstance(tcp, socket.socket) and tcp.getpeername()[0] == outer.address
        source_port = tcp.getsockname()[1]
        log = Path(lab.directory) / "hosts" / outer.name / "sshd.log"
        deadline = time.monotonic() + 10
        while f"port {source_port} " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)  # sshd writes its log line just after accepting
        assert f"port {source_port} " in log.read_text()  # the outer sshd saw our own TCP connection


def test_proxyjump_uri_with_user_and_port(lab, tmp_path):
    bastion, target = entry(lab, 44), entry(lab, 45)
    config = private(tmp_path / "cfg", f"Host t\n  HostName {target.address}\n"
                     f"  ProxyJump ssh://{lab.user}@{bastion.address}:{bastion.port}\nHost *\n" + common(lab))
    with opened(Host("t", {}), ssh_config=str(config)) as c:
        assert c._jump.settings.address == bastion.address
        assert c.run("uname -n").stdout.strip() == target.name


def _ssh_w(lab, bastion) -> str:
    return (f"ssh -F /dev/null -i {lab.client_key_path} -o IdentitiesOnly=yes -o BatchMode=yes "
            f"-o UserKnownHostsFile={lab.known_hosts_path} -o StrictHostKeyChecking=yes "
            f"-o KexAlgorithms=curve25519-sha256 -p {bastion.port} -W %h:%p {lab.user}@{bastion.address}")


def test_proxycommand_from_ssh_config_runs_as_ssh_runs_it(lab, tmp_path):
    bastion, target = entry(lab, 46), entry(lab, 47)
    # %h:%p must be expanded to the target for `ssh -W` to reach it; the comment is the shell's
    config = private(tmp_path / "cfg", f"Host pc\n  HostName {target.address}\n"
                     f"  ProxyCommand {_ssh_w(lab, bastion)}  # via a lab host\n"
                     f"Host *\n" + common(lab))
    with opened(Host("pc", {}), ssh_config=str(config)) as c:
        assert isinstance(c._transport.sock, _ShellProxy)
        assert c.run("uname -n").stdout.strip() == target.name
        pid = c._transport.sock.process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the proxy process ended with the connection


def test_proxycommand_from_ansible_ssh_common_args(lab, tmp_path):
    bastion, target = entry(lab, 48), entry(lab, 49)
    script = tmp_path / "proxy.sh"
    script.write_text(f"#!/bin/sh\ntouch {tmp_path}/used\nexec {_ssh_w(lab, bastion).replace('%h:%p', '$1:$2')}\n")
    script.chmod(0o755)
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"[lab]\nbehind ansible_host={target.address} ansible_user={lab.user} "
        f"ansible_ssh_private_key_file={lab.client_key_path} "
        f"ansible_ssh_common_args='-o StrictHostKeyChecking=yes -o ProxyCommand=\"{script} %h %p\"'\n")
    host = load_inventory([str(inventory)]).hosts["behind"]
    assert host.get("proxy_command") == f"{script} %h %p"
    with opened(Host("behind", {**host.vars, "known_hosts_file": str(lab.known_hosts_path)}),
                ssh_config="none") as c:
        assert isinstance(c._transport.sock, _ShellProxy)
        assert c.run("uname -n").stdout.strip() == target.name
    assert (tmp_path / "used").exists()


# ---------------------------------------------------------------- host certificates and @revoked


def _keygen(*args: str) -> None:
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert_host(lab, tmp_path_factory):
    """Our own sshd with a host certificate signed by a fresh CA (the lab's shared sshd_config)."""
    base = tmp_path_factory.mktemp("certhost")
    _keygen("-t", "ed25519", "-N", "", "-f", str(base / "ca"))
    _keygen("-t", "ed25519", "-N", "", "-f", str(base / "other_ca"))
    _keygen("-t", "ed25519", "-N", "", "-f", str(base / "host_key"))
    address = lab.status()[0].address.rsplit(".", 2)[0] + ".2.10"  # outside the lab's 100 hosts
    port = _free_port(address)
    _keygen("-s", str(base / "ca"), "-I", "certhost", "-h", "-n", f"certhost,{address}", "-V", "-5m:+1h",
            str(base / "host_key.pub"))
    pidfile = base / "sshd.pid"
    process = subprocess.Popen([SSHD, "-f", str(lab.config_path), "-D", "-E", str(base / "sshd.log"),
                                "-o", f"ListenAddress={address}:{port}", "-o", f"HostKey={base / 'host_key'}",
                                "-o", f"HostCertificate={base / 'host_key-cert.pub'}",
                                "-o", f"PidFile={pidfile}"])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd with a host certificate did not start: "
                                       f"{(base / 'sshd.log').read_text()}")
                time.sleep(0.1)
        yield {"dir": base, "address": address, "port": port,
               "ca": (base / "ca.pub").read_text().split()[:2],
               "other_ca": (base / "other_ca.pub").read_text().split()[:2],
               "host_key": (base / "host_key.pub").read_text().split()[:2]}
    finally:
        process.send_signal(signal.SIGTERM)  # ours, by its PID
        process.wait(timeout=10)


def _known(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return path


def _cert_target(lab, cert_host, known: Path) -> Host:
    return Host("certhost", {"address": cert_host["address"], "port": cert_host["port"], "user": lab.user,
                             "private_key_file": str(lab.client_key_path), "known_hosts_file": str(known)})


def _openssh_accepts(lab, cert_host, known: Path) -> bool:
    done = subprocess.run(["ssh", "-F", "/dev/null", "-i", str(lab.client_key_path), "-o", "IdentitiesOnly=yes",
                           "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
                           "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
                           "-p", str(cert_host["port"]),
                           f"{lab.user}@{cert_host['address']}", "true"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    return done.returncode == 0


def _names(cert_host) -> str:
    return f"[certhost]:{cert_host['port']},[{cert_host['address']}]:{cert_host['port']}"


def test_host_certificate_signed_by_a_listed_ca_is_accepted(lab, cert_host, tmp_path):
    known = _known(tmp_path, f"# only the CA, no host key\n"
                             f"@cert-authority [cert*]:*,[{cert_host['address']}]:* {' '.join(cert_host['ca'])}\n")
    assert _openssh_accepts(lab, cert_host, known)
    with opened(_cert_target(lab, cert_host, known)) as c:
        assert c.run("true").rc == 0
        assert c._transport.host_key_type.endswith("-cert-v01@openssh.com")


@pytest.mark.parametrize("line", [
    "@cert-authority [other.example]:* {ca}",  # the CA is listed, but not for this host
    "@cert-authority * {other_ca}",  # a CA that did not sign it
])
def test_host_certificate_without_a_matching_ca_is_an_unknown_host(lab, cert_host, tmp_path, line):
    known = _known(tmp_path, line.format(ca=" ".join(cert_host["ca"]), other_ca=" ".join(cert_host["other_ca"]))
                   + "\n")
    assert not _openssh_accepts(lab, cert_host, known)
    with pytest.raises(HostKeyError, match="host key unknown"):
        opened(_cert_target(lab, cert_host, known))


def test_revoked_host_key_is_refused_even_when_listed_and_with_accept_new(lab, cert_host, tmp_path):
    key = " ".join(cert_host["host_key"])
    known = _known(tmp_path, f"{_names(cert_host)} {key}\n@revoked * {key}\n")
    assert not _openssh_accepts(lab, cert_host, known)
    for accept in (False, True):
        with pytest.raises(HostKeyError, match="host key revoked"):
            opened(_cert_target(lab, cert_host, known), accept_new_host_keys=accept)


def test_revoked_ca_is_refused(lab, cert_host, tmp_path):
    ca = " ".join(cert_host["ca"])
    known = _known(tmp_path, f"@cert-authority * {ca}\n@revoked * {ca}\n")
    assert not _openssh_accepts(lab, cert_host, known)
    with pytest.raises(HostKeyError, match="revoked"):
        opened(_cert_target(lab, cert_host, known))


def test_plain_key_with_marker_lines_elsewhere_still_works(lab, cert_host, tmp_path):
    """Marker lines for other hosts no longer break every host (paramiko's reader failed on them)."""
    other = " ".join(cert_host["other_ca"])
    known = _known(tmp_path, f"@cert-authority *.example {other}\n@revoked other.example {other}\n"
                             f"{_names(cert_host)} {' '.join(cert_host['host_key'])}\n")
    with opened(_cert_target(lab, cert_host, known)) as c:
        assert c.run("true").rc == 0


def test_hashed_and_uppercase_known_hosts_names(lab, tmp_path):
    target = entry(lab, 40)
    key = (Path(lab.directory) / "hosts" / target.name / "host_key.pub").read_text().split()[:2]
    name = target.name if target.port == 22 else f"[{target.name}]:{target.port}"
    known = _known(tmp_path, f"{name.upper()} {' '.join(key)}\n")  # names match case-insensitively
    host = Host(target.name, {"address": target.address, "port": target.port, "user": lab.user,
                              "private_key_file": str(lab.client_key_path), "known_hosts_file": str(known)})
    with opened(host) as c:
        assert c.run("true").rc == 0
    known.write_text(f"{name} {' '.join(key)}\n")
    _keygen("-H", "-f", str(known))  # hash every name, as HashKnownHosts yes does
    assert known.read_text().startswith("|1|")
    with opened(host) as c:
        assert c.run("true").rc == 0


# ---------------------------------------------------------------- loops in ssh_config (no TCP connection made)


def test_a_bastion_sent_through_itself_is_a_jumphost_loop(tmp_path):
    config = private(tmp_path / "cfg", "Host gw\n  HostName 127.0.0.1\nHost *\n  ProxyJump gw\n")
    with pytest.raises(UnreachableError, match="jumphost loop via gw"):
        opened(Host("gw", {}), ssh_config=str(config))


def test_two_bastions_sending_each_other_are_stopped(tmp_path):
    config = private(tmp_path / "cfg", "Host a\n  HostName 127.0.0.2\n  ProxyJump b\n"
                                       "Host b\n  HostName 127.0.0.3\n  ProxyJump a\n")
    with pytest.raises(UnreachableError, match="more than 16 ProxyJump hops"):
        opened(Host("a", {}), ssh_config=str(config))
