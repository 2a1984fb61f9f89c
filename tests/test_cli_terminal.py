"""What a new user meets in the terminal: `| head` ends quietly, a tag that selects nothing says so,
"1 host", check-mode runs marked in a host's history, `config diff` with a single version explains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

from remote_support.journal import Journal
from remote_support.results import HostResult, Status, StepResult


def cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_piping_into_head_ends_quietly_with_the_runs_code(lab, tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    name = lab.status()[93].name
    for extra in ([], ["--json"]):
        argv = " ".join([sys.executable, "-m", "remote_support", "exec", name, "-i", str(lab.inventory_path), *extra,
                         "--", "'seq 1 200000'"])
        done = subprocess.run(["bash", "-c", f"{argv} | head -1; exit ${{PIPESTATUS[0]}}"], capture_output=True,
                              text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "Broken pipe" not in done.stderr and "error" not in done.stderr


def test_tags_that_select_no_step_say_so_and_the_summary_says_one_host(lab, tmp_path):
    task = tmp_path / "tagged.yml"
    task.write_text(textwrap.dedent("""\
        name: Tagged
        steps:
          - {name: a, command: "true", changed_when: false, tags: [disk]}
          - {name: b, command: "true", changed_when: false, tags: [dns]}
        """))
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    done = cli("run", str(task), "-i", str(lab.inventory_path), "-l", lab.status()[94].name, "--tags", "printer",
               env=env)
    assert done.returncode == 0, done.stderr
    assert "select no step of task Tagged" in done.stderr and "disk, dns" in done.stderr
    assert "1 host: " in done.stderr and "1 hosts" not in done.stderr


def test_host_history_marks_check_mode_runs(lab, tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite"), "COLUMNS": "200"}
    name = lab.status()[95].name
    task = tmp_path / "touch.yml"
    task.write_text("name: Touch a file\nsteps:\n  - {name: touch, command: 'touch /tmp/rs-check-$(id -u)'}\n")
    assert cli("run", str(task), "-i", str(lab.inventory_path), "-l", name, "--check", env=env).returncode == 0
    history = cli("hosts", "history", name, env=env)
    assert "Touch a file (check)" in history.stdout, history.stdout
    data = json.loads(cli("hosts", "history", name, "--json", env=env).stdout)
    assert data[0]["check"] is True


def test_config_diff_of_a_device_with_one_version_explains(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
    with Journal.open(url) as journal:
        run_id = journal.start_run(kind="task", name="net-backup", command=None, params={}, inventory=["i"],
                                   pattern="sw-1", check=False, diff=False, ticket=None, operator=None,
                                   hosts=["sw-1"], tool_version="0")
        config = "hostname sw-1\n"
        step = StepResult("backup", Status.OK, command="show running-config",
                          data={"config": config, "config_backup": {"sha256": "-", "lines": 1}})
        journal.record_host(run_id, HostResult("sw-1", Status.OK, (step,), "", time.time() - 1, time.time()))
    done = cli("config", "diff", "sw-1", "--journal", url)
    assert done.returncode == 0, done.stderr
    assert "has one config version so far" in done.stderr and "net-backup -l sw-1" in done.stderr
