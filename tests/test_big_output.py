"""300 MB of output from one lab host: the client's memory stays bounded in exec, run and report.

The real CLI runs against a real sshd host that prints 300 MB; the peak RSS of the CLI process is read
from getrusage of a wrapper that runs it as its only child. The stream is spilled to a temp file as it
arrives and compressed into the journal's blob; the terminal gets its head and tail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from winrm_support import winrm_server  # noqa: F401 - fixture

SIZE_MB = 300
BOUND_MB = 150
PRODUCE = f"head -c {SIZE_MB}M /dev/zero | tr '\\0' 'x'; echo; echo the-end"

# runs the CLI as its only child, its stdout into a file, and prints that child's peak RSS (KiB) last
WRAPPER = textwrap.dedent("""\
    import resource, subprocess, sys
    with open(sys.argv[1], "wb") as out:
        done = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE)
    sys.stderr.buffer.write(done.stderr[-100000:])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    sys.stderr.write("\\nRSS-KB=%d rc=%d\\n" % (usage.ru_maxrss, done.returncode))
    """)


def measured(*args: str, env, home) -> tuple[str, str, int, int]:
    """(head and tail of stdout, stderr, peak RSS in MB, exit code) of one CLI command."""
    out = home / "stdout"
    result = subprocess.run([sys.executable, "-c", WRAPPER, str(out), sys.executable, "-m", "remote_support",
                             *args], capture_output=True, text=True, timeout=900, env=env)
    last = result.stderr.strip().splitlines()[-1]
    rss_kb, rc = (int(part.split("=")[1]) for part in last.split())
    with open(out, "rb") as handle:
        head = handle.read(4096).decode("utf-8", "replace")
        handle.seek(max(0, out.stat().st_size - 4096))
        tail = handle.read().decode("utf-8", "replace")
    return head + "\n...\n" + tail, result.stderr, rss_kb // 1024, rc


def _whole_blob(path: str) -> tuple[int, str]:
    """(characters, last 20 characters) of the one stdout blob, inflated a megabyte at a time."""
    import sqlite3
    import zlib

    with sqlite3.connect(path) as conn:
        [data] = conn.execute("SELECT data FROM blobs WHERE stream = 'stdout'").fetchone()
    unpacker, total, end, pending = zlib.decompressobj(), 0, b"", data
    while True:
        out = unpacker.decompress(pending, 1 << 20)
        pending = unpacker.unconsumed_tail
        total, end = total + len(out), (end + out)[-20:]
        if not pending:
            break
    rest = unpacker.flush()
    return total + len(rest), (end + rest)[-20:].decode()


@pytest.fixture(scope="module")
def big_env(lab, tmp_path_factory):
    home = tmp_path_factory.mktemp("big")
    return {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(home / "j.sqlite"), "TMPDIR": str(home)}, home


@pytest.mark.slow
def test_exec_run_and_report_of_300_mb_stay_bounded(lab, tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite"), "TMPDIR": str(tmp_path)}
    name = lab.status()[3].name
    inventory = str(lab.inventory_path)
    shown, stderr, rss, rc = measured("exec", name, "-i", inventory, "--", PRODUCE, env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"exec peak RSS {rss} MB")
    assert rss < BOUND_MB, f"exec peaked at {rss} MB"
    assert shown.startswith(f"{name} | ok | rc=0 >>\nxxxx") and "the-end" in shown, shown
    size, end = _whole_blob(env["REMOTE_SUPPORT_JOURNAL"])  # the journal keeps all of it, compressed
    assert size == SIZE_MB * 1024 * 1024 + len("\nthe-end\n") and end.endswith("x\nthe-end\n")

    task = tmp_path / "big.yml"
    task.write_text(f"steps:\n  - name: big\n    command: {json.dumps(PRODUCE)}\n    changed_when: false\n")
    shown, stderr, rss, rc = measured("run", str(task), "-i", inventory, "-l", name, env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"run peak RSS {rss} MB")
    assert rss < BOUND_MB, f"run peaked at {rss} MB"

    runs = json.loads(subprocess.run([sys.executable, "-m", "remote_support", "runs", "list", "--json"],
                                     capture_output=True, text=True, env=env, check=True).stdout)
    assert len(runs) == 2
    for record in runs:
        page = tmp_path / f"{record['id']}.html"
        shown, stderr, rss, rc = measured("report", record["id"], "-o", str(page), env=env, home=tmp_path)
        assert rc == 0, stderr
        print(f"report peak RSS {rss} MB")
        assert rss < BOUND_MB, f"report peaked at {rss} MB"
        text = page.read_text()
        assert "the-end" in text and "characters not shown here" in text


@pytest.mark.slow
def test_exec_run_and_report_of_300_mb_on_the_local_connection_stay_bounded(tmp_path):
    """The local connection reads the command's pipes as they fill and spills them as SSH does."""
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite"), "TMPDIR": str(tmp_path)}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("hosts:\n  here: {connection: local}\n")
    both = "{ " + PRODUCE + "; } >&2; echo out-end"  # 300 MB on stderr, a line on stdout
    shown, stderr, rss, rc = measured("exec", "here", "-i", str(inventory), "--", both, env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"local exec peak RSS {rss} MB")
    assert rss < BOUND_MB, f"local exec peaked at {rss} MB"
    assert shown.startswith("here | ok | rc=0 >>\nout-end\nxxxx") and shown.endswith("x\nthe-end\n"), shown
    assert (tmp_path / "stdout").stat().st_size < 2 * 1024 * 1024  # the terminal got a head and a tail

    task = tmp_path / "big.yml"
    task.write_text(f"steps:\n  - name: big\n    command: {json.dumps(PRODUCE)}\n    changed_when: false\n")
    env["REMOTE_SUPPORT_JOURNAL"] = str(tmp_path / "run.sqlite")  # one stdout blob in it: the big one
    shown, stderr, rss, rc = measured("run", str(task), "-i", str(inventory), env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"local run peak RSS {rss} MB")
    assert rss < BOUND_MB, f"local run peaked at {rss} MB"
    size, end = _whole_blob(env["REMOTE_SUPPORT_JOURNAL"])  # the journal keeps all of it, compressed
    assert size == SIZE_MB * 1024 * 1024 + len("\nthe-end\n") and end.endswith("x\nthe-end\n")
    _report_stays_bounded(env, tmp_path)


def _report_stays_bounded(env, tmp_path) -> None:
    runs = json.loads(subprocess.run([sys.executable, "-m", "remote_support", "runs", "list", "--json"],
                                     capture_output=True, text=True, env=env, check=True).stdout)
    assert len(runs) == 1
    page = tmp_path / "report.html"
    shown, stderr, rss, rc = measured("report", runs[0]["id"], "-o", str(page), env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"report peak RSS {rss} MB")
    assert rss < BOUND_MB, f"report peaked at {rss} MB"
    text = page.read_text()
    assert "the-end" in text and "characters not shown here" in text


@pytest.mark.slow
def test_exec_run_and_report_of_300_mb_from_a_winrm_host_stay_bounded(tmp_path, winrm_server):
    """The lab's Windows prints 300 MB (made as it is read); the WinRM connection spills it as SSH does."""
    from winrm_support import cli_env, win_inventory

    env = {**cli_env(tmp_path), "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite"), "TMPDIR": str(tmp_path)}
    inventory = win_inventory(tmp_path / "inventory.yml", winrm_server, hosts=("win-a",))
    shown, stderr, rss, rc = measured("exec", "win-a", "-i", str(inventory), "--",
                                      rf"type C:\lab\huge-{SIZE_MB}mb.log", env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"winrm exec peak RSS {rss} MB")
    assert rss < BOUND_MB, f"winrm exec peaked at {rss} MB"
    assert shown.startswith("win-a | ok | rc=0 >>\n0123456789 the quick") and "the-end" in shown[-100:], shown
    assert (tmp_path / "stdout").stat().st_size < 2 * 1024 * 1024  # the terminal got a head and a tail
    size, end = _whole_blob(env["REMOTE_SUPPORT_JOURNAL"])  # the journal keeps all of it, compressed
    assert size == SIZE_MB * 1024 * 1024 + len("the-end\r\n") and end.endswith("NOPQthe-end\r\n")

    task = tmp_path / "big.yml"
    task.write_text(f"steps:\n  - name: big\n    command: 'type C:\\lab\\huge-{SIZE_MB}mb.log'\n"
                    "    changed_when: false\n")
    env["REMOTE_SUPPORT_JOURNAL"] = str(tmp_path / "run.sqlite")
    shown, stderr, rss, rc = measured("run", str(task), "-i", str(inventory), env=env, home=tmp_path)
    assert rc == 0, stderr
    print(f"winrm run peak RSS {rss} MB")
    assert rss < BOUND_MB, f"winrm run peaked at {rss} MB"
    _report_stays_bounded(env, tmp_path)
