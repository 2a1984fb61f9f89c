"""The `file` step kind on real lab hosts: each state, modes (octal and symbolic), owner/group, recurse,
idempotency, check mode (the host is read afterwards: nothing changed), diff, become, and links a second
unprivileged user planted, which must not be followed."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

import pytest
from attack_support import SECRET, as_attacker
from task_support import lab_hosts, run_task, steps_of, write_task

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task


@pytest.fixture
def base(request):
    path = Path(f"/tmp/rs-t-file-{request.node.name[:40]}-{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def one(task: Path, host, **modes):
    run = run_task(task, [host], **modes)
    return steps_of(run)["it"]


def test_directory_with_parents_symbolic_mode_and_owner(lab, tmp_path, base):
    host = lab_hosts(lab, [12])[0]
    target = base / "srv" / "app"
    task = write_task(tmp_path, f"""
        name: dir
        steps:
          - name: it
            file: {{path: "{target}", state: directory, mode: "u=rwx,g=rx,o=", owner: {lab.user}, group: root}}
            become: true
        """)
    checked = one(task, host, check=True, diff=True)
    assert checked.status is Status.CHANGED and "create directory" in checked.diff
    assert not base.exists()  # check mode created nothing
    done = one(task, host, diff=True)
    assert done.status is Status.CHANGED, done.reason
    info = target.stat()
    assert mode_of(target) == 0o750 and info.st_uid == pwd.getpwnam(lab.user).pw_uid and info.st_gid == 0
    assert one(task, host).status is Status.OK
    os.chmod(target, 0o777)
    changed = one(task, host, diff=True)
    assert changed.status is Status.CHANGED and "mode 0777 -> 0750" in changed.diff
    assert mode_of(target) == 0o750


def test_recurse_changes_everything_inside_and_check_changes_nothing(lab, tmp_path, base):
    host = lab_hosts(lab, [13])[0]
    (base / "a" / "b").mkdir(parents=True)
    for name, mode in (("a/f1", 0o666), ("a/b/f2", 0o700), ("top", 0o640)):
        (base / name).write_text(name)
        os.chmod(base / name, mode)
    os.chmod(base / "a", 0o777)
    task = write_task(tmp_path, f"""
        name: tree
        steps:
          - name: it
            file: {{path: "{base}", state: directory, recurse: true, owner: {lab.user}, mode: "u=rwX,g=rX,o="}}
            become: true
        """)
    checked = one(task, host, check=True, diff=True)
    assert checked.status is Status.CHANGED and "inside" in checked.diff
    assert mode_of(base / "a" / "f1") == 0o666 and (base / "a" / "f1").stat().st_uid == 0
    done = one(task, host)
    assert done.status is Status.CHANGED, done.reason
    uid = pwd.getpwnam(lab.user).pw_uid
    expected = {"a": 0o750, "a/b": 0o750, "a/f1": 0o640, "a/b/f2": 0o750, "top": 0o640}
    assert {name: mode_of(base / name) for name in expected} == expected
    assert all((base / name).stat().st_uid == uid for name in expected)
    assert one(task, host).status is Status.OK


def test_touch_link_hard_and_absent(lab, tmp_path, base):
    host = lab_hosts(lab, [14])[0]
    base.mkdir()
    os.chown(base, pwd.getpwnam(lab.user).pw_uid, -1)
    task = write_task(tmp_path, f"""
        name: states
        params:
          - {{name: target, default: one}}
          - {{name: force, type: bool, default: false}}
        steps:
          - name: touched
            file: {{path: "{base}/one", state: touch, mode: "0640", modification_time: preserve, access_time: preserve}}
          - name: touched2
            file: {{path: "{base}/two", state: touch, modification_time: preserve, access_time: preserve}}
          - name: link
            file: {{path: "{base}/link", state: link, src: "{{{{ target }}}}", force: "{{{{ force }}}}"}}
          - name: hard
            file: {{path: "{base}/hard", state: hard, src: "{base}/one"}}
        """)
    run = steps_of(run_task(task, [host]))
    assert [run[n].status for n in ("touched", "touched2", "link", "hard")] == [Status.CHANGED] * 4, \
        [run[n].reason for n in run]
    assert mode_of(base / "one") == 0o640 and os.readlink(base / "link") == "one"
    assert (base / "hard").stat().st_ino == (base / "one").stat().st_ino
    again = steps_of(run_task(task, [host]))
    assert [again[n].status for n in ("touched", "touched2", "link", "hard")] == [Status.OK] * 4
    retarget = steps_of(run_task(task, [host], check=True, diff=True, extra_vars={"target": "two"}))["link"]
    assert retarget.status is Status.CHANGED and "was a link to one" in retarget.diff
    assert os.readlink(base / "link") == "one"
    assert steps_of(run_task(task, [host], extra_vars={"target": "two"}))["link"].status is Status.CHANGED
    assert os.readlink(base / "link") == "two"

    # a file in the way of a link: refused unless force
    (base / "two").unlink()
    (base / "link").unlink()
    (base / "link").write_text("a file\n")
    refused = steps_of(run_task(task, [host], extra_vars={"target": "one"}))["link"]
    assert refused.status is Status.FAILED and "use force: true" in refused.reason
    assert (base / "link").read_text() == "a file\n"
    forced = steps_of(run_task(task, [host], extra_vars={"target": "one", "force": True}))["link"]
    assert forced.status is Status.CHANGED and os.readlink(base / "link") == "one"

    gone = write_task(tmp_path / "g", f"""
        name: gone
        steps:
          - name: it
            file: {{path: "{base}/link", state: absent}}
          - name: dir
            file: {{path: "{base}", state: absent}}
            become: true
        """)
    first = steps_of(run_task(gone, [host], check=True))
    assert first["it"].status is Status.CHANGED and (base / "link").is_symlink()
    done = steps_of(run_task(gone, [host]))
    assert done["it"].status is Status.CHANGED and done["dir"].status is Status.CHANGED
    assert not base.exists()
    assert all(s.status is Status.OK for s in steps_of(run_task(gone, [host])).values())


def test_touch_without_preserve_changes_every_time_as_ansible(lab, tmp_path, base):
    host = lab_hosts(lab, [15])[0]
    base.mkdir(mode=0o1777)
    os.chmod(base, 0o1777)
    task = write_task(tmp_path, f"""
        name: touch
        steps:
          - name: it
            file: {{path: "{base}/stamp", state: touch}}
        """)
    assert one(task, host).status is Status.CHANGED
    os.utime(base / "stamp", (1, 1))
    assert one(task, host).status is Status.CHANGED and (base / "stamp").stat().st_mtime > 1


def test_state_file_does_not_create_and_default_state_keeps_the_type(lab, tmp_path, base):
    host = lab_hosts(lab, [16])[0]
    base.mkdir()
    os.chown(base, pwd.getpwnam(lab.user).pw_uid, -1)
    task = write_task(tmp_path, f"""
        name: file
        steps:
          - name: it
            file: {{path: "{base}/{{{{ name }}}}", mode: "g+w"}}
        """)
    missing = one(task, host, extra_vars={"name": "nothere"})
    assert missing.status is Status.FAILED and "use state: touch" in missing.reason
    (base / "conf").write_text("x")
    os.chown(base / "conf", pwd.getpwnam(lab.user).pw_uid, -1)
    os.chmod(base / "conf", 0o644)
    assert one(task, host, extra_vars={"name": "conf"}).status is Status.CHANGED
    assert mode_of(base / "conf") == 0o664 and one(task, host, extra_vars={"name": "conf"}).status is Status.OK
    (base / "sub").mkdir()
    os.chown(base / "sub", pwd.getpwnam(lab.user).pw_uid, -1)
    os.chmod(base / "sub", 0o755)
    assert one(task, host, extra_vars={"name": "sub"}).status is Status.CHANGED and mode_of(base / "sub") == 0o775


def test_planted_links_are_not_followed(lab, tmp_path, attacker, sticky):
    base, secret = sticky
    link = base / "logs"
    as_attacker(attacker, "ln", "-s", str(secret), str(link))
    tree = base / "tree"
    tree.mkdir()
    os.chmod(tree, 0o777)  # the attacker may write in it
    as_attacker(attacker, "ln", "-s", str(secret), str(tree / "evil"))
    host = lab_hosts(lab, [17])[0]
    task = write_task(tmp_path, f"""
        name: planted
        steps:
          - name: it
            file: {{path: "{{{{ p }}}}", state: "{{{{ s }}}}", mode: "0666", owner: {lab.user}}}
            become: true
        """)
    for state in ("file", "touch", "directory"):
        step = one(task, host, extra_vars={"p": str(link), "s": state})
        assert step.status is Status.FAILED and "symbolic link" in step.reason, (state, step.reason)
    recursive = write_task(tmp_path / "r", f"""
        name: recursive
        steps:
          - name: it
            file: {{path: "{tree}", state: directory, recurse: true, mode: "0777", owner: {lab.user}}}
            become: true
        """)
    assert one(recursive, host).status is Status.CHANGED
    assert mode_of(secret) == 0o600 and secret.stat().st_uid == 0 and secret.read_text() == SECRET
    removal = write_task(tmp_path / "a", f"""
        name: absent
        steps:
          - name: it
            file: {{path: "{link}", state: absent}}
            become: true
        """)
    assert one(removal, host).status is Status.CHANGED
    assert not link.is_symlink() and secret.read_text() == SECRET


@pytest.mark.parametrize("step, message", [
    ("file: {path: /tmp/x, state: directory, mode: 'u+rwz'}", "symbolic mode"),
    ("file: {path: /tmp/x, state: directory, mode: 0755}", "quote it"),
    ("file: {path: /tmp/x, state: link}", "needs src"),
    ("file: {path: /tmp/x, state: directory, src: /tmp/y}", "src is only for state: link or hard"),
    ("file: {path: /tmp/x, state: touch, recurse: true}", "recurse is only for state: directory"),
    ("file: {path: /tmp/x, state: gone}", "use one of file, directory"),
    ("file: {path: /tmp/x, state: absent, mode: '0644'}", "takes no mode"),
    ("file: {state: directory}", "needs the argument 'path'"),
    ("file: {path: /tmp/x, name: /tmp/y}", "one of path, dest, name"),
    ("file: {path: \"/tmp/a\\rb\", state: touch}", "control character"),
])
def test_bad_arguments_are_refused_at_load(tmp_path, step, message):
    task = write_task(tmp_path, f"""
        name: bad
        steps:
          - name: fine
            command: "true"
          - name: broken
            {step}
        """)
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:7" in str(error.value) and message in str(error.value)


def test_without_become_a_root_directory_is_refused_with_a_hint(lab, tmp_path, base):
    host = lab_hosts(lab, [12])[0]
    base.mkdir(mode=0o755)
    task = write_task(tmp_path, f"""
        name: plain
        steps:
          - name: it
            file: {{path: "{base}", state: directory, mode: "0700"}}
        """)
    step = one(task, host)
    assert step.status is Status.FAILED and "use become: true" in step.reason, step.reason
    assert mode_of(base) == 0o755
    made = write_task(tmp_path / "m", f"""
        name: sub
        steps:
          - name: it
            file: {{path: "{base}/sub", state: directory}}
        """)
    step = one(made, host)
    assert step.status is Status.FAILED and "use become: true" in step.reason and not (base / "sub").exists()
