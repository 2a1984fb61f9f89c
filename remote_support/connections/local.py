"""The controller itself as a host (``connection: local``), for tasks that act locally."""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import BinaryIO

from ..errors import BecomeError, CommandTimeout, HostError
from ..results import CommandResult
from ..secrets import MASK
from ..spill import Collected
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
        streams = {proc.stdout: Collected(), proc.stderr: Collected()}
        finished = _collect(proc, data or b"", streams, None if limit is None else started + limit)
        out, err = streams[proc.stdout].text(MASK), streams[proc.stderr].text(MASK)
        if not finished:
            raise CommandTimeout(self.host.name, f"command timed out after {limit:g}s and was stopped",
                                 partial=CommandResult(command, out, err, None, time.monotonic() - started)) from None
        return CommandResult(command, out, err, proc.returncode, time.monotonic() - started)

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


def _collect(proc: subprocess.Popen, data: bytes, streams: dict, deadline: float | None) -> bool:
    """Feed ``data`` to the command and read its stdout and stderr as they come (spilled past a size, so that
    300 MB of output is not held); False if the deadline passed, after the process group is killed."""
    def feed() -> None:
        try:
            if data:
                proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            pass  # the command did not read it all: its business
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    finished = True
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                if not finished:
                    break  # something outside the group holds the pipes open: stop waiting for it
                finished = False
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 5  # read what is left: the pipes close as the group dies
                continue
            for key, _ in selector.select(wait):
                chunk = os.read(key.fd, 1024 * 1024)
                if chunk:
                    streams[key.fileobj].add(chunk)
                else:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
    for stream in streams:
        stream.close()
    proc.wait()
    writer.join(1)
    return finished
