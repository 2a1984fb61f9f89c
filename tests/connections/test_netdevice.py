"""NetworkConnection against emulated Cisco IOS switches: real netmiko over real SSH."""

from __future__ import annotations

import pytest

from netlab_support import netlab_hosts
from remote_support.connections import connect
from remote_support.connections.base import ConnectOptions
from remote_support.errors import AuthError, HostKeyError, UnreachableError, UsageError
from remote_support.lab.netlab import host_address
from remote_support.secrets import MASKED


def opened(host, **options):
    connection = connect(host, ConnectOptions(connect_timeout=5, **options))
    connection.open()
    return connection


def test_connect_enable_show_version(netlab):
    host = netlab_hosts(netlab, [0])[0]
    connection = opened(host)
    try:
        result = connection.run("show version")
        assert result.rc == 0 and "Cisco IOS Software" in result.stdout
        assert "sw-001#show version" in result.session_log  # privileged prompt: enable worked
        assert netlab.enable_password not in result.session_log
        with pytest.raises(Exception, match="not supported on network devices"):
            connection.put(b"x", "/tmp/x")
    finally:
        connection.close()


def test_cli_error_is_rc_1_with_the_line(netlab):
    connection = opened(netlab_hosts(netlab, [0])[0])
    try:
        result = connection.run("frobnicate the switch")
        assert result.rc == 1
        assert result.stderr.startswith("% Invalid input")
    finally:
        connection.close()


def test_unknown_device_type_lists_netmiko_types(netlab):
    host = netlab_hosts(netlab, [0], device_type="cisco_iox")[0]
    with pytest.raises(UsageError) as info:
        connect(host, ConnectOptions()).open()
    message = str(info.value)
    assert "unknown device_type 'cisco_iox'" in message
    assert "cisco_ios" in message and "arista_eos" in message and "juniper_junos" in message


def test_wrong_password_is_auth_error(netlab):
    host = netlab_hosts(netlab, [0], password="not-the-password")[0]
    with pytest.raises(AuthError, match="auth failed for user admin"):
        opened(host)


def test_wrong_enable_secret_is_a_clear_failure(netlab):
    host = netlab_hosts(netlab, [0], enable_password="wrong-enable")[0]
    with pytest.raises(AuthError, match="enable refused: check enable_password"):
        opened(host)


def test_device_down_is_unreachable(netlab):
    address = host_address(netlab.network, 200)  # no switch there
    host = netlab_hosts(netlab, [0], address=address)[0]
    with pytest.raises(UnreachableError, match="unreachable: connection refused"):
        opened(host)


def test_wrong_known_host_key_is_refused(netlab, tmp_path):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    host = netlab_hosts(netlab, [0])[0]
    known = tmp_path / "known_hosts"
    known.write_text(f"{host.address} {other}\n")
    with pytest.raises(HostKeyError, match="host key"):
        opened(netlab_hosts(netlab, [0], known_hosts_file=str(known))[0])
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyError, match="host key unknown for sw-001: refusing"):
        opened(netlab_hosts(netlab, [0], known_hosts_file=str(empty))[0])


def test_send_config_and_get_config(netlab):
    connection = opened(netlab_hosts(netlab, [1])[0])
    try:
        result = connection.send_config(["vlan 310", "name CONN_TEST"])
        assert result.rc == 0, result.stderr
        assert "vlan 310\n name CONN_TEST" in connection.get_config()
        bad = connection.send_config(["vlan 311", "frobnicate", "vlan 312"])
        assert bad.rc == 1
        assert "'frobnicate'" in bad.stderr and "% Invalid input" in bad.stderr
        config = connection.get_config()
        assert "vlan 311" in config and "vlan 312" not in config  # stops at the rejected line
        assert connection.run("show version").rc == 0  # back out of config mode
        assert connection.save_config().rc == 0
        assert MASKED not in connection.get_config()
    finally:
        connection.close()


def test_enable_without_enable_password_where_the_device_allows_it(multilab):
    from netlab_support import model_host

    connection = opened(model_host(multilab, "eos", enable_password=""))  # EOS enables without a secret
    try:
        assert "sw-002#" in connection.run("show version").session_log
        assert connection.get_config().rstrip().endswith("end")  # privileged: the running config is readable
    finally:
        connection.close()


def test_enable_without_enable_password_where_the_device_wants_one(netlab):
    host = netlab_hosts(netlab, [0], enable_password="")[0]
    with pytest.raises(AuthError, match="the device wants an enable password"):
        opened(host)


@pytest.mark.slow  # 11 s: netmiko waits out its read timeout on the emulator
def test_a_timeout_names_the_wait_and_the_limit(netlab):
    from remote_support.errors import CommandTimeout

    connection = opened(netlab_hosts(netlab, [0])[0])
    try:
        # the emulator asks "Destination filename [x]?" and never shows the prompt netmiko waits for
        with pytest.raises(CommandTimeout) as info:
            connection.run("copy tftp://192.0.2.1/x.cfg startup-config:x", timeout=1)
        message = str(info.value)
        assert "waited for the pattern 'sw-001#'" in message, message
        assert "the limit was 1s" in message and "30s" not in message
    finally:
        connection.close()


def test_a_rejected_fastiron_line_is_a_failure_naming_it(multilab):
    from netlab_support import model_host

    connection = opened(model_host(multilab, "fastiron", 1))
    try:
        result = connection.send_config(["vlan 680 name OK", "frobnicate", "vlan 681 name NEVER"])
        assert result.rc == 1 and "'frobnicate'" in result.stderr and "Invalid input -> frobnicate" in result.stderr
        assert "vlan 681" not in connection.get_config()
    finally:
        connection.close()


CA_LINE = "@cert-authority *.corp ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_known_hosts_with_marker_lines_is_read_and_a_revoked_key_refused(netlab, tmp_path):
    """Issue 10 item 1 for network devices: `@cert-authority` and `@revoked` lines are read as ssh reads
    them (paramiko.HostKeys cannot: every device failed with an internal error), and a revoked device key
    is refused even though it is also listed as the device's key."""
    lab_lines = netlab.known_hosts_path.read_text()
    device_key = " ".join(lab_lines.split()[1:3])  # the lab's switches share one host key
    marked = tmp_path / "marked_known_hosts"
    marked.write_text(f"{CA_LINE}\n@revoked other.corp {device_key}\n{lab_lines}")
    connection = opened(netlab_hosts(netlab, [0], known_hosts_file=str(marked))[0])
    try:
        assert connection.run("show version").rc == 0
    finally:
        connection.close()
    revoked = tmp_path / "revoked_known_hosts"
    revoked.write_text(f"{CA_LINE}\n{lab_lines}@revoked * {device_key}\n")
    for options in ({}, {"accept_new_host_keys": True}):
        with pytest.raises(HostKeyError, match="host key revoked for sw-001: refusing") as info:
            opened(netlab_hosts(netlab, [0], known_hosts_file=str(revoked))[0], **options)
        assert "marked @revoked in " + str(revoked) in str(info.value)
