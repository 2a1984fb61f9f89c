"""Helpers for tests that talk to practice-lab hosts with the system OpenSSH client."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Protocol, Sequence

#: the session lab of tests/conftest.py: its own network, so it never meets a user's lab on 127.42.x
LAB_NETWORK = os.environ.get("RS_TEST_LAB_NETWORK", "127.43.0.0")  # override to run two suites at once
LAB_SIZE = 100


class _Endpoint(Protocol):
    address: str
    port: int


def ssh_argv(key: Path | str, known_hosts: Path | str, host: _Endpoint, user: str, command: str, *,
             options: Sequence[str] = ()) -> list[str]:
    """``ssh`` with strict host-key checking against ``known_hosts`` and nothing from ~/.ssh.

    ``options`` come first: for ssh the first value of an option wins.
    """
    argv = ["ssh", *options, "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10",
            # curve25519 rather than OpenSSH 9's default sntrup761: a third of the client CPU per login
            "-o", "KexAlgorithms=curve25519-sha256"]
    return argv + ["-p", str(host.port), f"{user}@{host.address}", command]


def run_ssh(lab, host: _Endpoint, command: str, *, user: str | None = None, input: str | None = None,
            options: Sequence[str] = (), as_user: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``command`` on a lab host as ``user`` (default: the lab's user) with the lab's key."""
    argv = ssh_argv(lab.client_key_path, lab.known_hosts_path, host, user or lab.user, command, options=options)
    if as_user:
        argv = ["runuser", "-u", as_user, "--"] + argv
    return subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)


def run_ssh_many(lab, hosts: Iterable[_Endpoint], command: str, *, workers: int = 12,
                 **kwargs) -> list[subprocess.CompletedProcess[str]]:
    """``run_ssh`` on many hosts in parallel; results in the order of ``hosts``."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda h: run_ssh(lab, h, command, **kwargs), hosts))
