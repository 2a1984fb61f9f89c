"""--host-timeout bounds the whole host: the TCP connect, the SSH handshake and auth, not only commands.

Three servers that hold a client: one whose accept queue is full (the TCP connect hangs), one that
accepts and never speaks, one that trickles a banner a byte at a time. With --connect-timeout 60 and
--host-timeout 2 the host must be unreachable because of the host timeout, long before 60 s. A WinRM host
is held the same way (its port never accepting, never answering HTTP, or trickling an answer).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest



def _address() -> str:
    base = os.environ.get("RS_TEST_LAB_NETWORK", "127.43.0.0").rsplit(".", 2)[0]
    return f"{base}.250.7"


class HoldingServer:
    """A TCP server on loopback that never completes an SSH handshake, in one of three ways."""

    def __init__(self, mode: str):
        self.mode = mode
        self.address = _address()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.address, 0))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        if mode == "full-backlog":
            self.sock.listen(0)
            for _ in range(4):  # fill the accept queue: later SYNs are dropped and connect() hangs
                filler = socket.socket()
                filler.setblocking(False)
                try:
                    filler.connect((self.address, self.port))
                except BlockingIOError:
                    pass
                self.held.append(filler)
            return
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:  # closed under us
                return
            self.held.append(conn)
            if self.mode == "trickle":
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        try:
            while not self.stop.is_set():
                conn.send(b"x")  # a banner line that never ends
                time.sleep(0.3)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        if self.mode != "full-backlog":
            self.thread.join(timeout=5)
        for s in self.held:
            s.close()
        self.sock.close()


@pytest.mark.parametrize("mode", ["full-backlog", "silent", "trickle"])
def test_host_timeout_bounds_connect_and_handshake(mode, tmp_path):
    server = HoldingServer(mode)
    try:
        inv = tmp_path / "inv.yml"
        inv.write_text(f"hosts:\n  holder: {{address: {server.address}, port: {server.port}}}\n")
        env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
        started = time.monotonic()
        # a subprocess timeout of 40 s: today's code waits the full 60 s connect timeout and fails here
        result = subprocess.run([sys.executable, "-m", "remote_support", "exec", "all", "-i", str(inv),
                                 "--connect-timeout", "60", "--host-timeout", "2", "-o", "--", "true"],
                                capture_output=True, text=True, timeout=40, env=env)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.returncode == 4, result.stdout + result.stderr
    assert "host timeout (2s)" in result.stdout, result.stdout
    assert elapsed < 40  # the bound itself is what is under test; 2 s plus start-up is expected


@pytest.mark.parametrize("mode", ["full-backlog", "silent", "trickle"])
def test_host_timeout_bounds_the_winrm_connect_and_first_answer(mode, tmp_path):
    """A WinRM host whose port never accepts, accepts and never answers HTTP, or trickles an answer a byte at
    a time (no read ever times out): the host timeout holds."""
    server = HoldingServer(mode)
    try:
        inv = tmp_path / "inv.yml"
        inv.write_text(f"hosts:\n  holder: {{connection: winrm, address: {server.address}, winrm_port: {server.port}, "
                       "user: lab, password: {secret: env:RS_TEST_HOLDER_PASSWORD}, winrm_read_timeout: 120}\n")
        env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite"), "RS_TEST_HOLDER_PASSWORD": "x"}
        started = time.monotonic()
        # without the bound this waits the 60 s connect or the 120 s read timeout and fails here at 40 s
        result = subprocess.run([sys.executable, "-m", "remote_support", "exec", "all", "-i", str(inv),
                                 "--connect-timeout", "60", "--host-timeout", "2", "-o", "--", "hostname"],
                                capture_output=True, text=True, timeout=40, env=env)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.returncode == 4, result.stdout + result.stderr
    assert "host timeout (2s)" in result.stdout, result.stdout
    assert elapsed < 40
