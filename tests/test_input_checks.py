"""Input checked up front: bad task files and inventory values are exit 5 with file:line before anything
runs; a host_vars file of no host is a warning; reports are written 0600."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    env = {**(env or os.environ), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.fixture
def local_inventory(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  pc-1: {connection: local}\n")
    return inv


def _bad_input(result: subprocess.CompletedProcess, where: str, *words: str) -> None:
    assert result.returncode == 5, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert where in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize("name, content, line, words", [
    ("binary.yml", b"steps:\n  - command: x\n\x00\x01\x02ELF", 3, ("binary",)),
    ("latin1.yml", "steps:\n  - name: caf\xe9\n    command: echo\n".encode("latin-1"), 2, ("UTF-8",)),
    ("when.yml", b"steps:\n  - name: x\n    command: 'true'\n    when: facts.os_family ==\n", 2, ("does not parse",)),
    ("syntax.yml", b"steps:\n  - name: x\n    command: echo {{ x \n", 2, ("template syntax error",)),
    ("script.yml", b"steps:\n  - name: x\n    script: nothere.sh\n", 2, ("nothere.sh", "not found")),
    ("become.yml", b"steps:\n  - name: x\n    command: 'true'\n    become: maybe\n", 4, ("become", "maybe")),
    ("ignore.yml", b"steps:\n  - {name: x, command: 'true', ignore_errors: sometimes}\n", 2, ("ignore_errors",)),
])
def test_bad_task_files_are_bad_input_with_file_and_line(tmp_path, local_inventory, name, content, line, words):
    task = tmp_path / name
    task.write_bytes(content)
    marker = tmp_path / "ran"
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    result = cli("run", str(task), "-i", str(local_inventory), env=env)
    _bad_input(result, f"{task}:{line}", *words)
    assert not marker.exists()


@pytest.mark.parametrize("host_line, words", [
    ("pc-1: {address: [10.0.0.1, 10.0.0.2]}", ("address",)),
    ("pc-1: {address: 10.0.0.1 10.0.0.2}", ("address",)),
    ("pc-1: {address: {ip: 10.0.0.1}}", ("address",)),
    ("'': {address: 10.0.0.1}", ("host name",)),
    ("'pc 1': {address: 10.0.0.1}", ("host name",)),
    ("pc-1: {address: 10.0.0.1, proxy_jump: 'user@@bastion:22'}", ("proxy_jump",)),
    ("pc-1: {address: 10.0.0.1, proxy_jump: [bastion]}", ("proxy_jump",)),
    ("pc-1: {address: 10.0.0.1, user: [a, b]}", ("user",)),
    ("pc-1: {address: 10.0.0.1, connect_timeout: soon}", ("connect_timeout",)),
])
def test_inventory_values_of_the_wrong_type_fail_at_load(tmp_path, host_line, words):
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  " + host_line + "\n")
    _bad_input(cli("inventory", "list", "-i", str(inv)), f"{inv}:2", *words)


def test_good_proxy_jumps_still_load(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text("hosts:\n  pc-1: {address: 10.0.0.1, proxy_jump: 'ops@jump1:2222,[2001:db8::1]:22,jump3'}\n"
                   "  pc-2: {address: 'fe80::1', proxy_jump: none, user: 1001}\n")
    result = cli("inventory", "list", "-i", str(inv), "--json")
    assert result.returncode == 0, result.stderr


def test_host_vars_of_a_host_the_inventory_lacks_is_a_warning(tmp_path):
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.ini").write_text("[web]\nweb1 ansible_host=10.0.0.1\n")
    (tmp_path / "inv" / "host_vars").mkdir()
    (tmp_path / "inv" / "host_vars" / "web1.yml").write_text("role: a\n")
    (tmp_path / "inv" / "host_vars" / "wbe1.yml").write_text("role: b\n")
    result = cli("inventory", "list", "-i", str(tmp_path / "inv"), "--json")
    assert result.returncode == 0, result.stderr
    assert "wbe1" in result.stderr and "not in the inventory" in result.stderr
    assert "web1.yml" not in result.stderr
    assert json.loads(result.stdout)["web1"]["vars"]["role"] == "a"


def test_reports_are_written_0600(tmp_path, local_inventory):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    done = cli("exec", "all", "-i", str(local_inventory), "--", "echo hi", env=env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(cli("runs", "list", "--json", env=env).stdout)[0]["id"]
    old = os.umask(0o022)
    try:
        for fmt in ("html", "json", "junit"):
            out = tmp_path / f"report.{fmt}"
            out.write_text("old")
            os.chmod(out, 0o644)  # an existing, world-readable file is replaced, not written through
            result = cli("report", run_id, "--format", fmt, "-o", str(out), env=env)
            assert result.returncode == 0, result.stderr
            assert stat.S_IMODE(out.stat().st_mode) == 0o600, fmt
            assert "hi" in out.read_text()
    finally:
        os.umask(old)


def test_extra_vars_file_that_is_not_utf8(tmp_path, local_inventory):
    extra = tmp_path / "vars.yml"
    extra.write_bytes(b"site: caf\xe9\n")
    task = tmp_path / "t.yml"
    task.write_text("steps:\n  - {name: x, command: 'true'}\n")
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    _bad_input(cli("run", str(task), "-i", str(local_inventory), "-e", f"@{extra}", env=env), str(extra), "UTF-8")
