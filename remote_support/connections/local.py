"""The controller itself as a host (``connection: local``), for tasks that act locally."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import BecomeError, CommandTimeout, HostError
from ..results import CommandResult
from ..secrets import MASK
from .base import Connection


class LocalConnection(Connection):
    """The controller: /bin/sh, files in place, sudo for become."""

    shell = "posix"
    shells = ("posix",)
    can_transfer_files = True
    can_detect_reboot = False  # rebooting the controller would end the run itself
    can_become = True

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> CommandResult:
        limit = timeout or self.options.command_timeout
        argv = ["/bin/sh", "-c", command]
        if become:
            argv, stdin = self._become(argv, stdin)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        started = time.monotonic()
        # start_new_session: on timeout the whole process group is killed, not just the shell
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(data or b"", timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            raise CommandTimeout(self.host.name, f"command timed out after {limit:g}s and was stopped",
                                 partial=CommandResult(command, MASK(out.decode("utf-8", "replace")),
                                                       MASK(err.decode("utf-8", "replace")), None,
                                                       time.monotonic() - started)) from None
        return CommandResult(command, MASK(out.decode("utf-8", "replace")), MASK(err.decode("utf-8", "replace")),
                             proc.returncode, time.monotonic() - started)

    def _become(self, argv: list[str], stdin: bytes | str | None) -> tuple[list[str], bytes | str | None]:
        user = str(self.host.get("become_user") or "root")
        if os.geteuid() == 0 and user == "root":
            return argv, stdin
        if not shutil.which("sudo"):
            raise BecomeError(self.host.name, "sudo is not installed on the controller")
        password = self.host.secret("become_password")
        # Feed the password only when sudo will ask for it: otherwise it would reach the command's stdin.
        if password and subprocess.run(["sudo", "-n", "-u", user, "true"], capture_output=True).returncode != 0:
            MASK.add(str(password))
            prefix = (str(password) + "\n").encode()
            body = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
            return ["sudo", "-S", "-p", "", "-u", user, "--"] + argv, prefix + body
        return ["sudo", "-n", "-u", user, "--"] + argv, stdin

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        try:
            if isinstance(source, (bytes, bytearray)):
                data = bytes(source)
            elif isinstance(source, (str, Path)):
                data = Path(source).read_bytes()
            else:
                data = source.read()
            Path(remote_path).write_bytes(data)
            if mode is not None:
                os.chmod(remote_path, mode)
        except OSError as exc:
            raise HostError(self.host.name, f"cannot write {remote_path}: {exc.strerror}") from None

    def get(self, remote_path: str) -> bytes:
        try:
            return Path(remote_path).read_bytes()
        except OSError as exc:
            raise HostError(self.host.name, f"cannot read {remote_path}: {exc.strerror}") from None



