"""The WinRM lab server as pytest fixtures: a fresh endpoint on a free loopback port per test."""

from __future__ import annotations

import pytest

from remote_support.connections.base import ConnectOptions
from remote_support.connections.winrm import WinRMConnection
from remote_support.inventory import Host
from remote_support.lab.winrm_server import WinRMLabServer

WIN_USER = "rsadmin"
WIN_PASSWORD = "Lab-Passw0rd!"


def _check_and_stop(server: WinRMLabServer) -> None:
    try:
        leaked = server.open_shells
        assert leaked == 0, f"{leaked} WinRM shell(s) left open on the lab server: every shell must be deleted"
    finally:
        server.stop()


@pytest.fixture
def winrm_server():
    """A WinRM endpoint over HTTP (NTLM + message encryption) on 127.0.0.1; asserts no shell was leaked."""
    server = WinRMLabServer({WIN_USER: WIN_PASSWORD}).start()
    yield server
    _check_and_stop(server)


@pytest.fixture
def winrm_https_server(tmp_path):
    """The same over HTTPS with a self-signed certificate (``server.cert_path``) and Basic allowed."""
    server = WinRMLabServer({WIN_USER: WIN_PASSWORD}, https=True, workdir=tmp_path).start()
    yield server
    _check_and_stop(server)


def win_host(server: WinRMLabServer, **overrides) -> Host:
    variables = {"connection": "winrm", "address": server.host, "winrm_port": server.port,
                 "winrm_scheme": "https" if server.https else "http", "user": WIN_USER, "password": WIN_PASSWORD}
    if server.cert_path:
        variables["winrm_ca_trust_path"] = str(server.cert_path)
    variables.update(overrides)
    return Host("win-lab01", {k: v for k, v in variables.items() if v is not None})


def opened(host: Host, **options) -> WinRMConnection:
    connection = WinRMConnection(host, ConnectOptions(**options))
    connection.open()
    return connection


def connected(host: Host, **options) -> WinRMConnection:
    """A connection to use in ``with``, which opens it (and closes it at the end)."""
    return WinRMConnection(host, ConnectOptions(**options))


def win_inventory(path, server, hosts=("win-a", "win-b"), **extra) -> "Path":
    """An inventory file for the CLI: ``hosts`` on ``server``, the password from $RS_TEST_WIN_PASSWORD."""
    lines = ["defaults:", "  connection: winrm", f"  address: {server.host}", f"  winrm_port: {server.port}",
             f"  user: {WIN_USER}", "  password: {secret: env:RS_TEST_WIN_PASSWORD}"]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    lines += ["hosts:"] + [f"  {name}: {{}}" for name in hosts]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli_env(tmp_path) -> dict:
    """The CLI's environment: the lab password as a secret, the journal in ``tmp_path``."""
    import os

    return {**os.environ, "RS_TEST_WIN_PASSWORD": WIN_PASSWORD, "REMOTE_SUPPORT_HOME": str(tmp_path / "home")}
