"""`copy` with `remote_src: true` (issue 13, pinned down): src is a file on the host, read there (with
become when the step has it), written through the shared safe writer. Against ansible-core's own copy
module run locally as the oracle, then on the real lab: become, check and diff, backup, failures, and a
planted link at src (tests/attack_support.py)."""

from __future__ import annotations

import glob
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from attack_support import SECRET, as_attacker

from remote_support.errors import TaskError
from remote_support.inventory import Host
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

LOCAL = Host("controller", {"connection": "local"}, groups=("all",))


def ansible_copy(args: dict, work: Path) -> dict:
    spec = work / "args.json"
    spec.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"remote_src": True, **args}}))
    proc = subprocess.run([sys.executable, "-m", "ansible.modules.copy", str(spec)], capture_output=True,
                          text=True, check=False)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    result["failed"] = bool(result.get("failed")) or proc.returncode != 0
    return result


def build(root: Path) -> None:
    (root / "src.conf").write_text("listen 8080\n")
    os.chmod(root / "src.conf", 0o700)
    (root / "same.conf").write_text("listen 8080\n")
    os.chmod(root / "same.conf", 0o600)
    (root / "old.conf").write_text("listen 80\n")
    os.chmod(root / "old.conf", 0o640)


CASES = [  # (id, args with ROOT/ for the case's directory)
    ("new-dest-umask", {"src": "ROOT/src.conf", "dest": "ROOT/new.conf"}),
    ("new-dest-octal", {"src": "ROOT/src.conf", "dest": "ROOT/new.conf", "mode": "0604"}),
    ("new-dest-symbolic", {"src": "ROOT/src.conf", "dest": "ROOT/new.conf", "mode": "u=rw,g=r,o="}),
    ("same-content-untouched", {"src": "ROOT/src.conf", "dest": "ROOT/same.conf"}),
    ("same-content-mode", {"src": "ROOT/src.conf", "dest": "ROOT/same.conf", "mode": "0644"}),
    ("update-takes-src-mode", {"src": "ROOT/src.conf", "dest": "ROOT/old.conf"}),
    ("update-with-mode", {"src": "ROOT/src.conf", "dest": "ROOT/old.conf", "mode": "0600"}),
    ("missing-src-fails", {"src": "ROOT/nothere.conf", "dest": "ROOT/new.conf"}),
    ("to-itself", {"src": "ROOT/old.conf", "dest": "ROOT/old.conf"}),
]


def files(root: Path) -> dict[str, tuple[str, str]]:
    return {p.name: (p.read_text(), oct(stat.S_IMODE(p.stat().st_mode))) for p in sorted(root.iterdir())}


@pytest.mark.parametrize("case, args", CASES, ids=[c[0] for c in CASES])
def test_same_files_and_changed_flag_as_ansible(tmp_path, case, args):
    theirs, mine = tmp_path / "ansible", tmp_path / "ours"
    for root in (theirs, mine):
        root.mkdir()
        build(root)

    def rooted(root: Path) -> dict:
        return {k: v.replace("ROOT", str(root)) for k, v in args.items()}

    old_umask = os.umask(0o022)
    try:
        expected = ansible_copy(rooted(theirs), tmp_path)
        task = write_task(tmp_path / "task", f"""
            name: oracle
            steps:
              - name: it
                copy: {json.dumps({**rooted(mine), "remote_src": True})}
            """)
        step = steps_of(run_task(task, [LOCAL]))["it"]
        assert (step.status is Status.FAILED) == expected["failed"], (step.reason, expected.get("msg"))
        if not expected["failed"]:
            assert (step.status is Status.CHANGED) == expected["changed"], (step.reason, expected)
        else:
            assert "not found on the host" in step.reason
        assert files(mine) == files(theirs)
        again = steps_of(run_task(task, [LOCAL]))["it"]
        assert again.status is (Status.FAILED if expected["failed"] else Status.OK), again.reason
    finally:
        os.umask(old_umask)


@pytest.fixture
def scratch(request):
    prefix = f"/tmp/rs-rsrc-{request.node.name}"
    yield prefix
    for path in glob.glob(prefix + "*"):
        Path(path).unlink(missing_ok=True)


def copy_task(tmp_path, src, dest, become=True, extra=""):
    return write_task(tmp_path, f"""
        name: remote copy
        steps:
          - name: copy
            copy: {{src: "{src}", dest: "{dest}", remote_src: true{extra}}}
            become: {str(become).lower()}
        """)


def test_root_only_src_is_read_with_become_check_diff_backup_idempotent(lab, tmp_path, scratch):
    src = Path(f"{scratch}-src")
    src.write_text("setting = 2\n")
    os.chmod(src, 0o600)
    dest = Path(f"{scratch}-dest")
    dest.write_text("setting = 1\n")
    os.chmod(dest, 0o644)
    host = lab_hosts(lab, [92])
    task = copy_task(tmp_path, src, dest, extra=', backup: true, mode: "0640", owner: rslab')
    step = steps_of(run_task(task, host, check=True, diff=True))["copy"]
    assert step.status is Status.CHANGED and step.reason == f"check mode: would update {dest}", step.reason
    # the login user may not read src: its content stays out of the diff, as the old file's would
    assert "setting = 2" not in step.diff and f"the login user may not read src {src}" in step.diff
    assert dest.read_text() == "setting = 1\n"
    os.chmod(src, 0o644)
    step = steps_of(run_task(task, host, check=True, diff=True))["copy"]
    assert "-setting = 1\n+setting = 2\n" in step.diff, step.diff
    os.chmod(src, 0o600)
    step = steps_of(run_task(task, host, diff=True))["copy"]
    assert step.status is Status.CHANGED, step.reason
    assert dest.read_text() == "setting = 2\n" and stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert dest.owner() == "rslab" and step.data["remote_src"] is True
    assert Path(step.data["backup"]).read_text() == "setting = 1\n"
    assert steps_of(run_task(task, host))["copy"].status is Status.OK

    unprivileged = copy_task(tmp_path / "u", src, f"{scratch}-mine", become=False)
    step = steps_of(run_task(unprivileged, host))["copy"]
    assert step.status is Status.FAILED and "permission denied; use become: true" in step.reason, step.reason
    assert not Path(f"{scratch}-mine").exists()


@pytest.mark.parametrize("src, message", [
    ("/nonexistent/rs-src.conf", "copy src /nonexistent/rs-src.conf not found on the host"),
    ("/tmp/rs-rsrc-missing-src.conf", "copy src /tmp/rs-rsrc-missing-src.conf not found on the host"),
    ("/etc", "copy src /etc on the host is a directory"),
])
def test_a_missing_or_unusable_host_src_is_a_clear_failed_step(lab, tmp_path, scratch, src, message):
    step = steps_of(run_task(copy_task(tmp_path, src, f"{scratch}-dest"), lab_hosts(lab, [93]), check=True))["copy"]
    assert step.status is Status.FAILED and step.reason.startswith(message), step.reason
    assert not Path(f"{scratch}-dest").exists()


def test_a_src_link_planted_by_another_user_is_not_read(lab, tmp_path, scratch, attacker, sticky):
    """The attacker points src at a root-only file, hoping the step (as root) copies it somewhere they read."""
    base, secret = sticky
    link = base / "shared.conf"
    as_attacker(attacker, "ln", "-s", str(secret), str(link))
    dest = Path(f"{scratch}-dest")
    for check in (True, False):
        step = steps_of(run_task(copy_task(tmp_path, link, dest, extra=', mode: "0644"'), lab_hosts(lab, [94]),
                                 check=check, diff=True))["copy"]
        assert step.status is Status.FAILED and step.reason.startswith(f"refusing copy src {link}"), step.reason
        assert "hunter2" not in step.diff + step.reason + step.stdout + step.stderr
        assert not dest.exists() and secret.read_text() == SECRET


@pytest.mark.parametrize("body, message", [
    ("copy: {content: hi, remote_src: true, dest: /tmp/x}", "remote_src needs src"),
    ("copy: {src: /etc/hosts, remote_src: maybe, dest: /tmp/x}", "argument 'remote_src' must be bool"),
    ('copy: {src: "/tmp/a\\nb", remote_src: true, dest: /tmp/x}', "control character"),
])
def test_bad_remote_src_arguments_are_refused_at_load(tmp_path, body, message):
    path = tmp_path / "t.yml"
    path.write_text(f"name: t\nsteps:\n  - {body}\n")
    with pytest.raises(TaskError, match=message):
        load_task(path)


def test_remote_src_does_not_need_the_file_on_the_controller(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text("name: t\nsteps:\n  - copy: {src: /srv/only-on-the-host.conf, remote_src: yes, dest: /tmp/x}\n")
    load_task(path)
