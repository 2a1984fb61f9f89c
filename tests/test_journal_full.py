"""A journal that fills up mid-run loses nothing: a 2 MB tmpfs holds the journal, the hosts print more
than it can take; every host's output still reaches the terminal, no finished host is marked
interrupted, and the next command that opens the journal merges what was spooled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from remote_support.journal import Journal


@pytest.fixture()
def tiny_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs: run the suite as root (make test does)", pytrace=False)
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_journal_disk_loses_no_result(lab, tiny_tmpfs, tmp_path):
    journal_url = f"sqlite:///{tiny_tmpfs / 'journal.sqlite'}"
    home = tmp_path / "home"  # the data directory (the spool) is on another filesystem than the journal
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": journal_url, "REMOTE_SUPPORT_HOME": str(home)}
    names = [h.name for h in lab.status()[40:52]]
    # 12 hosts x ~400 KB of incompressible output: far more than the 2 MB the journal's disk has
    command = "echo BEGIN-$(uname -n); head -c 300000 /dev/urandom | base64 -w 0; echo; echo END-$(uname -n)"
    result = subprocess.run([sys.executable, "-m", "remote_support", "exec", ",".join(names), "-i",
                             str(lab.inventory_path), "-f", "4", "--", command], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for name in names:  # every host's output reached the terminal
        assert f"BEGIN-{name}" in result.stdout and f"END-{name}" in result.stdout
    assert "could not take every result" in result.stderr and "journal-spool" in result.stderr
    spooled = list((home / "journal-spool").glob("*.jsonl"))
    assert spooled and all(p.stat().st_mode & 0o777 == 0o600 for p in spooled)
    # room again: the next command that opens the journal merges the spool; nothing was lost
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_tmpfs)], check=True)
    listed = subprocess.run([sys.executable, "-m", "remote_support", "runs", "list", "--json"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    record = Journal.open(journal_url).get_run(run["id"], full_output=True)
    assert record.status == "ok" and [h.host for h in record.hosts] == names
    assert all(h.status == "ok" for h in record.hosts), [(h.host, h.status, h.reason) for h in record.hosts]
    for host in record.hosts:
        assert host.steps[0].stdout.rstrip().endswith(f"END-{host.host}")
    assert not list((home / "journal-spool").glob("*.jsonl"))
