"""RabbitMQ and Redis as processes of the test on loopback, stopped by PID (epmd too)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def _stop(pid: int, timeout: float = 30) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class RabbitMQ:
    """A private RabbitMQ node (Debian's rabbitmq-server) on 127.0.0.1:<free port>."""

    def __init__(self, consumer_timeout_ms: int = 3_600_000):
        self.dir = Path(tempfile.mkdtemp(prefix="rs-rabbitmq-"))
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"rstest{os.getpid()}@localhost"
        self.consumer_timeout_ms = consumer_timeout_ms
        self.process: subprocess.Popen | None = None
        (self.dir / "mnesia").mkdir()
        (self.dir / "log").mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        # consumer_timeout above the longest part: a late ack would otherwise close the channel
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
                                                f"consumer_timeout = {consumer_timeout_ms}\n"
                                                "loopback_users.guest = true\n")
        if os.geteuid() == 0:
            entry = pwd.getpwnam("rabbitmq")
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        d = str(self.dir)
        return {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_MNESIA_BASE": f"{d}/mnesia",
                "RABBITMQ_LOG_BASE": f"{d}/log", "RABBITMQ_CONFIG_FILE": f"{d}/rabbitmq",
                "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_PID_FILE": f"{d}/pid", "HOME": d,
                "ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(self.epmd_port),
                "RABBITMQ_ENABLED_PLUGINS_FILE": f"{d}/enabled_plugins"}

    def start(self) -> None:
        log = self.dir / "log" / "stdout.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(["rabbitmq-server"], env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_port(self.port, self.process, "rabbitmq-server", log, timeout=90)

    def stop(self) -> None:
        """Stop the node by the PID it wrote, then the wrapper, then its epmd (by PID)."""
        pid_file = self.dir / "pid"
        if pid_file.exists():
            try:
                _stop(int(pid_file.read_text().strip()))
            except ValueError:
                pass
        if self.process is not None:
            _stop(self.process.pid)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self.process = None

    def stop_epmd(self) -> None:
        """The epmd this node started: the one whose environment names our private epmd port."""
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if (proc / "comm").read_text().strip() != "epmd":
                    continue
                environ = (proc / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"ERL_EPMD_PORT={self.epmd_port}".encode() in environ:
                _stop(int(proc.name))

    def remove(self) -> None:
        self.stop()
        self.stop_epmd()
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """redis-server on 127.0.0.1:<free port>, no persistence."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="rs-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = self.dir / "redis.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                             "--save", "", "--appendonly", "no", "--daemonize", "no",
                                             "--dir", str(self.dir)], stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_port(self.port, self.process, "redis-server", log)

    def remove(self) -> None:
        if self.process is not None:
            _stop(self.process.pid)
            self.process.wait(timeout=10)
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
