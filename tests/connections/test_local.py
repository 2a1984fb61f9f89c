"""The controller itself as a host."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from remote_support.connections.base import ConnectOptions
from remote_support.connections.local import LocalConnection
from remote_support.errors import CommandTimeout, ConnectError
from remote_support.inventory import Host


def local() -> LocalConnection:
    connection = LocalConnection(Host("controller", {"connection": "local"}), ConnectOptions())
    connection.open()
    return connection


def test_run_stdin_and_exit_codes():
    c = local()
    result = c.run("tr a-z A-Z; echo err >&2; exit 3", stdin="hello")
    assert (result.stdout, result.stderr, result.rc) == ("HELLO", "err\n", 3)


def test_big_stdin_and_outputs_on_both_streams_flow_at_once_and_a_big_one_is_spilled():
    from remote_support.spill import SPILL_AT, SpilledText

    data = os.urandom(3 * 1024 * 1024).hex().encode()  # 6 MB: far past any pipe's buffer, both ways
    result = local().run("tee /dev/stderr | wc -c", stdin=data)
    assert result.rc == 0 and result.stdout.strip() == str(len(data)) and result.stderr == data.decode()
    big = local().run(f"head -c {SPILL_AT + 1024 * 1024} /dev/zero | tr '\\0' y; echo; echo end")
    assert isinstance(big.stdout, SpilledText) and big.stdout.size == SPILL_AT + 1024 * 1024 + 5
    assert big.stdout.startswith("yyyy") and big.stdout.endswith("y\nend\n") and len(big.stdout) < SPILL_AT
    assert sum(len(chunk) for chunk in big.stdout.chunks()) == big.stdout.size


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = f"61.{os.getpid()}"
    with pytest.raises(CommandTimeout) as caught:
        local().run(f"echo started; sleep {marker} & wait", timeout=0.5)
    assert caught.value.partial.stdout == "started\n"
    time.sleep(0.2)
    assert subprocess.run(["pgrep", "-f", f"[s]leep {marker}"], capture_output=True).returncode == 1


def test_put_and_get(tmp_path):
    c = local()
    c.put(b"data", str(tmp_path / "f"), mode=0o600)
    assert c.get(str(tmp_path / "f")) == b"data" and (tmp_path / "f").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConnectError, match="cannot read"):
        c.get(str(tmp_path / "missing"))


def test_become_as_root_needs_no_sudo():
    if os.geteuid() != 0:
        pytest.skip("the controller runs the tests as root in CI; as another user become needs sudo rights")
    assert local().run("id -u", become=True).stdout.strip() == "0"
