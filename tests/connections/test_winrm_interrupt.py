"""Ctrl-C, SIGTERM and deadlines stop Windows hosts: the command is signalled, its shell deleted, the tool exits.

Through the real CLI process against the lab's WinRM server and its hanging commands (``ping -t`` runs until
signalled). The bounds on waiting are hang detectors, not performance assertions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from remote_support.lab.winrm_server import WinRMLabServer
from winrm_support import WIN_PASSWORD, WIN_USER, cli_env, win_host, win_inventory
from winrm_support import winrm_server  # noqa: F401 - fixture

HANG_LIMIT = 15  # seconds: far more than a clean stop needs; only a hang gets near it


def _start(tmp_path, server, *args, **extra):
    inventory = win_inventory(tmp_path / "inventory.yml", server, **extra)
    return subprocess.Popen([sys.executable, "-m", "remote_support", "exec", "all", "-i", str(inventory), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(tmp_path))


def _wait_running(server, count, process):
    deadline = time.monotonic() + HANG_LIMIT
    while sum(1 for c in server.commands if c.startswith("ping -t")) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the hanging commands never started"
        time.sleep(0.05)
    time.sleep(0.3)  # the workers are now long-polling Receive


def _assert_no_shell_left(server):
    deadline = time.monotonic() + 5
    while server.open_shells and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.open_shells == 0
    assert server.counters["shells_deleted"] == server.counters["shells_created"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_signals_the_command_deletes_its_shell_and_exits(tmp_path, winrm_server, signum):
    process = _start(tmp_path, winrm_server, "--", "ping", "-t", "10.0.0.1")
    _wait_running(winrm_server, 2, process)
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=HANG_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"the CLI did not exit after {signal.Signals(signum).name}: {stderr[-2000:]}")
    assert process.returncode == 99, stderr
    assert "interrupted=2" in stderr and "Traceback" not in stderr
    _assert_no_shell_left(winrm_server)
    assert winrm_server.counters["signals"] >= 2  # each running command was told to stop


def test_a_second_ctrl_c_exits_at_once_without_a_traceback(tmp_path):
    # no leak check here: a second Ctrl-C gives up the clean-up on purpose
    server = WinRMLabServer({WIN_USER: WIN_PASSWORD}).start()
    try:
        _second_ctrl_c(tmp_path, server)
    finally:
        server.stop()


def _second_ctrl_c(tmp_path, server):
    process = _start(tmp_path, server, "--", "ping", "-t", "10.0.0.1")
    _wait_running(server, 2, process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=HANG_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the CLI did not exit after a second Ctrl-C")
    assert process.returncode == 99, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    assert "interrupted" in stderr


def test_host_deadline_stops_the_command_and_deletes_its_shell(tmp_path, winrm_server):
    # long enough that connecting fits in it on a loaded machine (a deadline reached while connecting is,
    # rightly, unreachable), short enough that the hanging ping is what it stops
    deadline = 8
    process = _start(tmp_path, winrm_server, "--json", "--host-timeout", str(deadline), "--", "ping", "-t", "10.0.0.1")
    try:
        stdout, stderr = process.communicate(timeout=deadline + HANG_LIMIT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the host deadline did not stop the command")
    data = json.loads(stdout)
    assert [h["status"] for h in data["hosts"]] == ["failed", "failed"], stderr
    assert all("timed out" in h["reason"] for h in data["hosts"])
    _assert_no_shell_left(winrm_server)


def test_cleanup_after_a_read_timeout_runs_on_a_fresh_session(winrm_server):
    """The server stops answering a Receive: the client's read times out, its TCP connection and the NTLM
    context bound to it are gone. Signal and Delete must go over a new, newly authenticated session."""
    from remote_support.connections.base import ConnectOptions
    from remote_support.connections.winrm import WinRMConnection
    from remote_support.errors import UnreachableError

    winrm_server.stall_receive = 2.5  # seconds a Receive of a hanging command gets no answer
    host = win_host(winrm_server, winrm_operation_timeout=1, winrm_read_timeout=2)
    connection = WinRMConnection(host, ConnectOptions())
    connection.open()
    try:
        with pytest.raises(UnreachableError, match="stopped answering"):
            connection.run("ping -t 10.0.0.1")
        _assert_no_shell_left(winrm_server)
        assert winrm_server.counters.get("bad_encryption", 0) == 0  # nothing was sealed with a dead context
        winrm_server.stall_receive = 0
        assert connection.run("hostname").stdout == "WIN-LAB01\r\n"  # and the connection still works
    finally:
        connection.close()
