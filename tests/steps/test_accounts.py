"""user and group (steps/user.py, steps/group.py) on real lab hosts.

The lab hosts share this machine's /etc/passwd, /etc/group and /etc/shadow, so every test makes accounts
with throwaway names (rstest-<random>) and removes them afterwards.
"""

from __future__ import annotations

import grp
import json
import pwd
import secrets
import subprocess
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task


def shadow(user: str) -> list[str]:
    for line in Path("/etc/shadow").read_text().splitlines():
        if line.startswith(user + ":"):
            return line.split(":")
    raise AssertionError(f"{user} is not in /etc/shadow")


def crypt_matches(password: str, hashed: str) -> bool:
    """The hash is of this password: checked with openssl on the controller, with the hash's own salt."""
    _, alg, salt, _ = hashed.split("$", 3)
    out = subprocess.run(["openssl", "passwd", f"-{alg}", "-salt", salt, "-stdin"], input=password + "\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    return out == hashed


@pytest.fixture
def names():
    """Throwaway user and group names; whatever exists under them afterwards is removed."""
    token = secrets.token_hex(3)
    made = {"user": f"rstest-u{token}", "group": f"rstest-g{token}", "group2": f"rstest-h{token}"}
    yield made
    subprocess.run(["userdel", "-r", made["user"]], capture_output=True, check=False)
    for group in (made["group"], made["group2"]):
        subprocess.run(["groupdel", group], capture_output=True, check=False)


def test_group_present_gid_and_absent_with_check_mode(lab, tmp_path, names):
    group = names["group"]
    gid = 42000 + secrets.randbelow(2000)
    while True:
        try:
            grp.getgrgid(gid)
            gid += 1
        except KeyError:
            break
    task = write_task(tmp_path, f"""
        name: groups
        params: [{{name: state, default: present, description: s}}]
        steps:
          - name: group
            group: {{name: {group}, gid: {gid}, state: "{{{{ state }}}}"}}
            become: true
        """)
    host = lab_hosts(lab, [60])
    run = run_task(task, host, check=True, diff=True)
    step = steps_of(run)["group"]
    assert step.status is Status.CHANGED and "would create group" in step.reason
    assert f"create group {group} (gid {gid})" in step.diff
    with pytest.raises(KeyError):
        grp.getgrnam(group)
    run = run_task(task, host)
    assert steps_of(run)["group"].status is Status.CHANGED, steps_of(run)["group"].reason
    assert grp.getgrnam(group).gr_gid == gid
    assert steps_of(run_task(task, host))["group"].status is Status.OK
    run = run_task(task, host, check=True, extra_vars={"state": "absent"})
    assert steps_of(run)["group"].status is Status.CHANGED and grp.getgrnam(group)
    run = run_task(task, host, extra_vars={"state": "absent"})
    assert steps_of(run)["group"].status is Status.CHANGED
    with pytest.raises(KeyError):
        grp.getgrnam(group)
    assert steps_of(run_task(task, host, extra_vars={"state": "absent"}))["group"].status is Status.OK


def test_user_created_changed_locked_and_removed(lab, tmp_path, names):
    user, group, group2 = names["user"], names["group"], names["group2"]
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["groupadd", group2], check=True)
    task = write_task(tmp_path, f"""
        name: users
        params:
          - {{name: shell, default: /bin/sh, description: s}}
          - {{name: groups, type: list, default: [{group}], description: g}}
          - {{name: append, type: bool, default: false, description: a}}
          - {{name: lock, type: bool, default: false, description: l}}
          - {{name: expires, type: float, default: -1, description: e}}
        steps:
          - name: account
            user:
              name: {user}
              shell: "{{{{ shell }}}}"
              groups: "{{{{ groups }}}}"
              append: "{{{{ append }}}}"
              home: /tmp/{user}-home
              password_lock: "{{{{ lock }}}}"
              expires: "{{{{ expires }}}}"
            become: true
        """)
    host = lab_hosts(lab, [61])
    run = run_task(task, host, check=True)
    assert steps_of(run)["account"].status is Status.CHANGED
    with pytest.raises(KeyError):
        pwd.getpwnam(user)

    run = run_task(task, host)
    assert steps_of(run)["account"].status is Status.CHANGED, steps_of(run)["account"].reason
    entry = pwd.getpwnam(user)
    assert entry.pw_shell == "/bin/sh" and entry.pw_dir == f"/tmp/{user}-home"
    assert Path(entry.pw_dir).is_dir(), "create_home defaults to true"
    assert user in grp.getgrnam(group).gr_mem
    assert steps_of(run_task(task, host))["account"].status is Status.OK, "a second run changes nothing"

    # append keeps the groups it has; exact replaces them
    run = run_task(task, host, extra_vars={"groups": [group2], "append": True})
    assert steps_of(run)["account"].status is Status.CHANGED
    assert user in grp.getgrnam(group).gr_mem and user in grp.getgrnam(group2).gr_mem
    run = run_task(task, host, diff=True, extra_vars={"groups": [group2], "shell": "/bin/bash"})
    step = steps_of(run)["account"]
    assert f"groups {','.join(sorted([group, group2]))} -> {group2}" in step.diff
    assert "shell /bin/sh -> /bin/bash" in step.diff
    assert user not in grp.getgrnam(group).gr_mem and user in grp.getgrnam(group2).gr_mem
    assert pwd.getpwnam(user).pw_shell == "/bin/bash"

    # lock, expiry: check mode first, read back from /etc/shadow
    subprocess.run(["chpasswd"], input=f"{user}:Some-Passw0rd\n", text=True, check=True)
    params = {"groups": [group2], "shell": "/bin/bash", "lock": True, "expires": 1893456000.0}  # 2030-01-01
    before = shadow(user)
    run = run_task(task, host, check=True, extra_vars=params)
    assert "lock the password" in steps_of(run)["account"].reason
    assert shadow(user) == before
    run = run_task(task, host, extra_vars=params)
    assert steps_of(run)["account"].status is Status.CHANGED, steps_of(run)["account"].reason
    after = shadow(user)
    assert after[1].startswith("!") and after[7] == str(1893456000 // 86400)
    assert steps_of(run_task(task, host, extra_vars=params))["account"].status is Status.OK
    run = run_task(task, host, extra_vars={**params, "lock": False, "expires": -1})
    assert not shadow(user)[1].startswith("!") and shadow(user)[7] == ""

    remove = write_task(tmp_path, f"""
        name: remove
        steps:
          - name: gone
            user: {{name: {user}, state: absent, remove: true}}
            become: true
        """, name="remove.yml")
    run = run_task(remove, host)
    assert steps_of(run)["gone"].status is Status.CHANGED
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    assert not Path(f"/tmp/{user}-home").exists()
    assert steps_of(run_task(remove, host))["gone"].status is Status.OK


def test_user_password_from_a_secret_is_hashed_on_the_host_and_never_shown(lab, tmp_path, names, monkeypatch):
    user = names["user"]
    password = f"S3cret pass:{secrets.token_hex(4)}"
    monkeypatch.setenv("RS_TEST_USER_PW", password)
    task = write_task(tmp_path, f"""
        name: pw
        steps:
          - name: account
            user: {{name: {user}, create_home: false, password: {{secret: "env:RS_TEST_USER_PW"}}}}
            become: true
        """)
    host = lab_hosts(lab, [62])
    run = run_task(task, host, diff=True)
    step = steps_of(run)["account"]
    assert step.status is Status.CHANGED, step.reason
    hashed = shadow(user)[1]
    assert hashed.startswith("$6$") and crypt_matches(password, hashed)
    text = json.dumps(run.to_dict())
    assert password not in text and hashed not in text
    assert "openssl passwd -6 -stdin" in step.command and "chpasswd -e" in step.command
    assert steps_of(run_task(task, host))["account"].status is Status.OK, "the same password: ok"

    monkeypatch.setenv("RS_TEST_USER_PW", password + "-new")
    run = run_task(task, host, check=True)
    assert steps_of(run)["account"].reason == "check mode: would set the password"
    assert shadow(user)[1] == hashed
    run = run_task(task, host)
    assert crypt_matches(password + "-new", shadow(user)[1])
    assert password not in json.dumps(run.to_dict())

    # a crypt hash is set as it is
    given = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input="hash-Passw0rd\n", capture_output=True,
                           text=True, check=True).stdout.strip()
    by_hash = write_task(tmp_path, f"""
        name: hash
        params: [{{name: pw_hash, description: h}}]
        steps:
          - name: account
            user: {{name: {user}, password_hash: "{{{{ pw_hash }}}}"}}
            become: true
        """, name="hash.yml")
    assert steps_of(run_task(by_hash, host, extra_vars={"pw_hash": given}))["account"].status is Status.CHANGED
    assert shadow(user)[1] == given
    assert steps_of(run_task(by_hash, host, extra_vars={"pw_hash": given}))["account"].status is Status.OK


@pytest.mark.parametrize("args, message", [
    ("{name: jdoe, password: hunter22}", "must not be written in the task"),
    ("{name: jdoe, password: {secret: 'hunter22'}}", "is not a reference"),
    ("{name: jdoe, password_hash: plain}", "is not a crypt hash"),
    ("{name: jdoe, password: {secret: 'env:X'}, password_hash: '$6$a$b'}", "not both"),
    ("{name: 'a;b'}", "is not a valid name"),
    ("{name: jdoe, state: absent, shell: /bin/sh}", "takes no shell"),
    ("{name: jdoe, colour: red}", "has no argument 'colour'"),
    ("{name: jdoe, groups: ['wheel', 'x y']}", "group 'x y' is not a valid name"),
])
def test_bad_user_arguments_are_refused_at_load_with_the_line(tmp_path, args, message):
    task = write_task(tmp_path, f"""
        name: bad
        steps:
          - name: first
            command: "true"
          - user: {args}
        """)
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert message in str(error.value) and "task.yml:6" in str(error.value)


def test_without_become_the_steps_say_so_and_change_nothing(lab, tmp_path, names):
    task = write_task(tmp_path, f"""
        name: no become
        steps:
          - name: group
            group: {{name: {names["group"]}}}
            ignore_errors: true
          - name: user
            user: {{name: {names["user"]}, shell: /bin/sh}}
        """)
    run = run_task(task, lab_hosts(lab, [77]))
    steps = steps_of(run)
    assert steps["group"].status is Status.FAILED and "use become: true" in steps["group"].reason
    assert steps["user"].status is Status.FAILED and "use become: true" in steps["user"].reason
    with pytest.raises(KeyError):
        grp.getgrnam(names["group"])
