"""The practice lab's Windows endpoints: real processes, reachable with the lab inventory, no password in ps."""

from __future__ import annotations

from pathlib import Path

from remote_support.connections.base import ConnectOptions
from remote_support.connections.winrm import WinRMConnection
from remote_support.inventory import load_inventory
from remote_support.lab.winlab import WinLab


def test_windows_lab_endpoints_take_the_password_from_a_file(tmp_path):
    lab = WinLab(tmp_path / "winlab")
    hosts = lab.up(1)
    try:
        password = lab.password_path.read_text().strip()
        cmdline = Path(f"/proc/{hosts[0].pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "--password-file" in cmdline and password not in cmdline
        host = next(iter(load_inventory([str(lab.inventory_path)]).hosts.values()))
        connection = WinRMConnection(host, ConnectOptions())
        connection.open()
        try:
            assert connection.run("hostname").stdout == "WIN-001\r\n"
        finally:
            connection.close()
    finally:
        assert lab.down() == 1
