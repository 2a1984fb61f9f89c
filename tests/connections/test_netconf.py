"""NetconfConnection (ncclient) against the lab's emulated Junos, which speaks NETCONF only."""

from __future__ import annotations

import pytest

from netlab_support import model_host
from remote_support.connections import connect
from remote_support.connections.base import ConnectOptions
from remote_support.connections.ssh import tool_known_hosts
from remote_support.errors import AuthError, HostKeyError, UnreachableError, UsageError
from remote_support.lab.netlab import host_address


def opened(host, **options):
    connection = connect(host, ConnectOptions(connect_timeout=5, **options))
    connection.open()
    return connection


def test_commit_check_discards_and_commit_applies(multilab):
    connection = opened(model_host(multilab, "junos"))
    try:
        before = connection.get_config()
        check = connection.commit_config(["set vlans NC700 vlan-id 700"], check=True)
        assert check.rc == 0 and "configuration check succeeds" in check.stdout
        assert connection.get_config() == before  # the candidate was discarded
        commit = connection.commit_config(["set vlans NC700 vlan-id 700", 'set vlans NC700 description "n c"'])
        assert commit.rc == 0, commit.stderr
        config = connection.get_config()
        assert "    NC700 {\n" in config and "        vlan-id 700;\n" in config and '        description "n c";' in config
        shown = connection.run("show configuration | display set")
        assert "set vlans NC700 vlan-id 700" in shown.stdout.splitlines()
        bad = connection.commit_config(["set vlans NC701 vlan-id 701", "set frobnicate the switch"])
        assert bad.rc == 1 and bad.stderr == "the device rejected 'set frobnicate the switch': error: syntax error"
        assert "NC701" not in connection.get_config()
        removed = connection.commit_config(["delete vlans NC700"])
        assert removed.rc == 0 and "NC700" not in connection.get_config()
        other = connection.run("show version")  # sent as Junos' <command> RPC, which the emulator lacks
        assert other.rc == 1 and other.stderr.startswith("error: ") and "command" in other.stderr
    finally:
        connection.close()


def test_netconf_is_for_junos_only(multilab):
    with pytest.raises(UsageError, match="connection: netconf supports Junos devices"):
        opened(model_host(multilab, "junos", device_type="cisco_ios"))


def test_wrong_password_is_auth_error(multilab):
    with pytest.raises(AuthError, match="auth failed for user admin"):
        opened(model_host(multilab, "junos", password="not-the-password"))


def test_device_down_is_unreachable(multilab):
    with pytest.raises(UnreachableError, match="connection refused"):
        opened(model_host(multilab, "junos", address=host_address(multilab.network, 200)))


def test_host_keys_are_checked_strictly(multilab, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    host = model_host(multilab, "junos", known_hosts_file=str(empty))
    with pytest.raises(HostKeyError, match="host key unknown for sw-005: refusing"):
        opened(host)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{host.address} {other}\n")
    with pytest.raises(HostKeyError, match="host key changed for sw-005"):
        opened(model_host(multilab, "junos", known_hosts_file=str(wrong)))
    recorded = tool_known_hosts()
    before = recorded.read_text() if recorded.exists() else ""
    opened(host, accept_new_host_keys=True).close()  # recorded in the tool's known_hosts
    assert host.address in recorded.read_text()[len(before):]
    opened(host).close()  # and known from now on


def test_known_hosts_with_marker_lines_is_read_and_a_revoked_key_refused(multilab, tmp_path):
    """As for CLI devices (test_netdevice.py): marker lines no longer break NETCONF hosts, and a revoked
    key is refused before the password is sent."""
    lab_lines = multilab.known_hosts_path.read_text()
    device_key = " ".join(lab_lines.split()[1:3])  # the lab's switches share one host key
    ca = "@cert-authority *.corp ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    marked = tmp_path / "marked_known_hosts"
    marked.write_text(f"{ca}\n@revoked other.corp {device_key}\n{lab_lines}")
    opened(model_host(multilab, "junos", known_hosts_file=str(marked))).close()
    revoked = tmp_path / "revoked_known_hosts"
    revoked.write_text(f"{ca}\n{lab_lines}@revoked * {device_key}\n")
    for options in ({}, {"accept_new_host_keys": True}):
        with pytest.raises(HostKeyError, match="host key revoked for sw-005: refusing") as info:
            opened(model_host(multilab, "junos", known_hosts_file=str(revoked)), **options)
        assert "marked @revoked in " + str(revoked) in str(info.value)
