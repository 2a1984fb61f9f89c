"""Site workers as processes of the test, inventories with sites, and the CLI as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def site_inventory(lab, path: Path, sites: dict[str, str | None], count: int) -> Path:
    """The lab's first ``count`` hosts, each with the site ``sites`` gives it (by host name; default none)."""
    data = yaml.safe_load(Path(lab.inventory_path).read_text())
    names = sorted(data["hosts"])[:count]
    data["hosts"] = {n: {**data["hosts"][n], **({"site": sites[n]} if sites.get(n) else {})} for n in names}
    path.write_text(yaml.safe_dump(data))
    return path


def env_for(broker: str, journal: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMOTE_SUPPORT_") or k == "REMOTE_SUPPORT_HOME"}
    env.update({"PYTHONPATH": str(REPO), "REMOTE_SUPPORT_BROKER": broker, "REMOTE_SUPPORT_JOURNAL": journal,
                "REMOTE_SUPPORT_WORKERS_CONFIG": "/nonexistent/workers.yml"})
    env.update(extra)
    return env


class Worker:
    """``remote-support worker --site NAME`` as a child process; stopped (or killed) by PID."""

    def __init__(self, site: str, env: dict[str, str], log: Path, concurrency: int = 1):
        self.site = site
        self.log = log
        self.out = open(log, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "remote_support", "worker", "--site", site,
                                         "--concurrency", str(concurrency)], env=env, cwd=REPO, stdout=self.out,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> "Worker":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.site} exited: {self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.site} not ready: {self.log.read_text(errors='replace')[-3000:]}")

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.out.close()


def cli(args: list[str], env: dict[str, str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "remote_support", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "remote_support", *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
