"""Windows hosts for the practice lab: protocol-level WinRM endpoints (``winrm_server.py``) on loopback.

They answer a table of canned Windows behaviours through real WinRM (HTTP, NTLM, message encryption),
so tasks for Windows hosts can be tried and taught without a Windows machine. One process per host,
stopped by the PID recorded at start (after checking its command line).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..connections.base import data_dir
from ..errors import RemoteSupportError, WinLabError  # noqa: F401
from .sshd import _alive, _reap, _write_private, _write_text

USER = "rsadmin"
MAX_HOSTS = 100


@dataclass(frozen=True)
class WinLabHost:
    name: str
    address: str
    port: int
    pid: int
    running: bool = True


class WinLab:
    def __init__(self, directory: Path | str | None = None):
        self.directory = Path(directory if directory is not None else data_dir() / "winlab").absolute()
        self.state_path = self.directory / "state.json"
        self.inventory_path = self.directory / "inventory.yml"
        self.password_path = self.directory / "password"
        self.user = USER

    def up(self, count: int, *, timeout: float = 20.0) -> list[WinLabHost]:
        if not 1 <= count <= MAX_HOSTS:
            raise WinLabError(f"windows lab size {count} is out of range: use 1 to {MAX_HOSTS}")
        self.down()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.password_path.exists():
            _write_private(self.password_path, secrets.token_urlsafe(15) + "\n")
        procs = []
        for index in range(1, count + 1):
            name = f"win-{index:03d}"
            log = open(self.directory / f"{name}.log", "w")
            # the password from its file, not on the command line (where ps would show it)
            proc = subprocess.Popen([sys.executable, "-m", "remote_support.lab.winrm_server", "--user", USER,
                                     "--password-file", str(self.password_path), "--hostname", name.upper()],
                                    stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
            procs.append((name, proc))
        hosts = []
        deadline = time.monotonic() + timeout
        for name, proc in procs:
            line = proc.stdout.readline().strip()  # "http://127.0.0.1:PORT/wsman" once listening
            if not line or time.monotonic() > deadline:
                self._stop_pids([p.pid for _, p in procs])
                tail = (self.directory / f"{name}.log").read_text()[-500:]
                raise WinLabError(f"windows lab host {name} did not start: {tail or 'no output'}")
            address, port = line.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
            hosts.append(WinLabHost(name, address, int(port), proc.pid))
        self.state_path.write_text(json.dumps([h.__dict__ for h in hosts]))
        self._write_inventory(hosts)
        return hosts

    def _write_inventory(self, hosts: list[WinLabHost]) -> None:
        lines = ["groups:", "  windows:", "    vars:", "      connection: winrm", f"      user: {USER}",
                 f'      password: {{secret: "file:{self.password_path}"}}', "      winrm_transport: ntlm",
                 "hosts:"]
        lines += [f"  {h.name}: {{address: {h.address}, winrm_port: {h.port}, groups: [windows]}}" for h in hosts]
        _write_text(self.inventory_path, "\n".join(lines) + "\n", 0o600)

    def status(self) -> list[WinLabHost]:
        try:
            hosts = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return []
        return [WinLabHost(**{**h, "running": self._is_ours(h["pid"])}) for h in hosts]

    def down(self) -> int:
        pids = [h.pid for h in self.status() if h.running]
        self._stop_pids(pids)
        self.state_path.unlink(missing_ok=True)
        return len(pids)

    @staticmethod
    def _is_ours(pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return b"remote_support.lab.winrm_server" in cmdline and _alive(pid)

    def _stop_pids(self, pids: list[int]) -> None:
        for pid in pids:
            if self._is_ours(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if _alive(pid) and self._is_ours(pid):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
