"""Issue 11 item 1, attacked on the real lab: a second unprivileged user plants symbolic links in a sticky,
world-writable directory (and a directory of their own) pointing at a root-only file, and a `copy` or
`template` with become must neither overwrite that file nor show its content in --check --diff."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from attack_support import SECRET, as_attacker
from task_support import lab_hosts, run_task, steps_of, write_task

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task


def test_copy_with_become_does_not_write_through_a_planted_link(lab, tmp_path, attacker, sticky):
    base, secret = sticky
    link = base / "app.conf"
    as_attacker(attacker, "ln", "-s", str(secret), str(link))
    assert link.lstat().st_uid == attacker.pw_uid
    host = lab_hosts(lab, [0])[0]
    task = write_task(tmp_path, f"""
        name: planted
        steps:
          - name: write
            copy: {{content: "setting = 1\\n", dest: "{link}", mode: "0644"}}
            become: true
          - name: follow is no way around it
            copy: {{content: "setting = 1\\n", dest: "{link}", follow: true}}
            become: true
            ignore_errors: true
        """)
    for check in (True, False):
        run = run_task(task, [host], check=check, diff=True)
        steps = steps_of(run)
        step = steps["write"]
        assert step.status is Status.FAILED
        assert "refusing" in step.reason and "symbolic link" in step.reason, step.reason
        assert secret.read_text() == SECRET and stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "hunter2" not in step.diff + step.stdout + step.stderr + step.reason
        assert link.is_symlink()
    run = run_task(write_task(tmp_path / "f", f"""
        name: follow
        steps:
          - name: follow
            copy: {{content: "setting = 1\\n", dest: "{link}", follow: true}}
            become: true
        """), [host], diff=True)
    step = steps_of(run)["follow"]
    assert step.status is Status.FAILED and "follow: true only follows links of root" in step.reason
    assert secret.read_text() == SECRET


def test_template_through_a_planted_directory_link_is_refused(lab, tmp_path, attacker, sticky):
    """The link is a directory above the destination: /sticky/dir -> /root."""
    base, secret = sticky
    as_attacker(attacker, "ln", "-s", str(secret.parent), str(base / "dir"))
    host = lab_hosts(lab, [1])[0]
    task = write_task(tmp_path, f"""
        name: planted dir
        steps:
          - name: write
            template: {{src: t.j2, dest: "{base}/dir/{secret.name}"}}
            become: true
        """, templates={"t.j2": "overwritten\n"})
    for check in (True, False):
        step = steps_of(run_task(task, [host], check=check, diff=True))["write"]
        assert step.status is Status.FAILED and "on its path is a symbolic link" in step.reason, step.reason
        assert "hunter2" not in step.diff + step.reason
    assert secret.read_text() == SECRET


def test_check_diff_never_shows_what_the_login_user_cannot_read(lab, tmp_path, sticky):
    """No link at all: a root-only file named directly. With become the change is found (as root), but
    the old text is read as the login user, who may not: the diff says so instead of showing it."""
    base, _ = sticky
    private = base / "private.conf"
    private.write_text(SECRET)
    os.chmod(private, 0o600)
    host = lab_hosts(lab, [2])[0]
    task = write_task(tmp_path, f"""
        name: private
        steps:
          - name: write
            copy: {{content: "new\\n", dest: "{private}"}}
            become: true
        """)
    step = steps_of(run_task(task, [host], check=True, diff=True))["write"]
    assert step.status is Status.CHANGED, step.reason
    assert "hunter2" not in step.diff and "old content not shown" in step.diff
    assert "the login user may not read" in step.diff
    assert private.read_text() == SECRET
    step = steps_of(run_task(task, [host], diff=True))["write"]
    assert step.status is Status.CHANGED and "hunter2" not in step.diff
    assert private.read_text() == "new\n" and private.stat().st_uid == 0


def test_a_trusted_link_is_followed_only_when_asked(lab, tmp_path, sticky):
    """A link the login user made to their own file: refused by default, written through with follow."""
    base, _ = sticky
    user = pwd.getpwnam(lab.user)
    target = base / "real.conf"
    target.write_text("old\n")
    os.chown(target, user.pw_uid, user.pw_gid)
    link = base / "alias.conf"
    link.symlink_to(target)
    os.lchown(link, user.pw_uid, user.pw_gid)
    host = lab_hosts(lab, [3])[0]
    task = write_task(tmp_path, f"""
        name: alias
        steps:
          - name: write
            copy: {{content: "new\\n", dest: "{link}", follow: "{{{{ follow }}}}"}}
        """)
    step = steps_of(run_task(task, [host], extra_vars={"follow": False}))["write"]
    assert step.status is Status.FAILED and "set follow: true" in step.reason
    step = steps_of(run_task(task, [host], extra_vars={"follow": True}))["write"]
    assert step.status is Status.CHANGED, step.reason
    assert target.read_text() == "new\n" and link.is_symlink() and step.data["path"] == str(target)
    assert steps_of(run_task(task, [host], extra_vars={"follow": True}))["write"].status is Status.OK


def test_a_link_swapped_in_after_the_check_is_replaced_not_followed(lab, tmp_path, attacker, sticky):
    """The destination is a plain file owned by the attacker in their own directory; the attacker turns it
    into a link to the root-only file at the moment the step writes (a validate command does the swap).
    The rename replaces the link; the secret stays."""
    base, secret = sticky
    own = base / "attackers"
    as_attacker(attacker, "mkdir", str(own))
    dest = own / "settings"
    as_attacker(attacker, "sh", "-c", f"echo old > {dest}")
    host = lab_hosts(lab, [4])[0]
    swap = f"setpriv --reuid={attacker.pw_uid} --regid={attacker.pw_gid} --clear-groups -- " \
           f"ln -sf {secret} {dest}"
    task = write_task(tmp_path, f"""
        name: race
        steps:
          - name: write
            copy: {{content: "new\\n", dest: "{dest}", validate: "{swap} && test %s"}}
            become: true
        """)
    step = steps_of(run_task(task, [host]))["write"]
    assert secret.read_text() == SECRET
    assert step.status is Status.CHANGED and not dest.is_symlink() and dest.read_text() == "new\n"


@pytest.mark.parametrize("kind", ["copy: {content: x, dest: PATH}", "template: {src: t.j2, dest: PATH}",
                                  "fetch: {src: PATH}"])
@pytest.mark.parametrize("path", ["/tmp/a\nb", "/tmp/tab\there", "/tmp/esc\x1b[2J"])
def test_control_characters_in_a_literal_path_are_refused_at_load(tmp_path, kind, path):
    task = write_task(tmp_path, """
        name: ctl
        steps:
          - name: write
            KIND
        """.replace("KIND", kind.replace("PATH", '"' + path.encode("unicode_escape").decode() + '"')),
        templates={"t.j2": "x"})
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:5" in str(error.value) and "control character" in str(error.value)


def test_control_characters_in_a_rendered_path_are_refused_at_run(lab, tmp_path):
    host = lab_hosts(lab, [5])[0]
    task = write_task(tmp_path, """
        name: ctl
        steps:
          - name: write
            copy: {content: x, dest: "/tmp/{{ name }}"}
        """)
    step = steps_of(run_task(task, [host], extra_vars={"name": "evil\nname"}))["write"]
    assert step.status is Status.FAILED and "control character" in step.reason
    assert not Path("/tmp/evil\nname").exists()


def test_dotdot_is_refused(lab, tmp_path):
    host = lab_hosts(lab, [6])[0]
    task = write_task(tmp_path, """
        name: dots
        steps:
          - name: write
            copy: {content: x, dest: "/tmp/../tmp/rs-dotdot"}
        """)
    step = steps_of(run_task(task, [host]))["write"]
    assert step.status is Status.FAILED and "'..'" in step.reason


def test_fetch_with_become_does_not_read_through_a_planted_link(lab, tmp_path, attacker, sticky):
    base, secret = sticky
    link = base / "report.log"
    as_attacker(attacker, "ln", "-s", str(secret), str(link))
    host = lab_hosts(lab, [7])[0]
    task = write_task(tmp_path, f"""
        name: fetch planted
        steps:
          - name: get
            fetch: {{src: "{link}", dest: "{tmp_path / 'out'}", flat: true}}
            become: true
        """)
    step = steps_of(run_task(task, [host]))["get"]
    assert step.status is Status.FAILED and "symbolic link" in step.reason, step.reason
    assert not (tmp_path / "out").exists() or "hunter2" not in "".join(
        p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_the_cli_output_and_journal_never_hold_the_secret(lab, tmp_path, attacker, sticky):
    """End to end: `run --check --diff -b`, then the real write, through the CLI and its journal."""
    base, secret = sticky
    link = base / "motd"
    as_attacker(attacker, "ln", "-s", str(secret), str(link))
    task = tmp_path / "motd.yml"
    task.write_text(f"steps:\n  - name: motd\n    copy: {{content: \"hello\\n\", dest: {link}}}\n")
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    name = lab.status()[0].name
    for extra in (["--check", "--diff"], ["--diff"]):
        result = subprocess.run([sys.executable, "-m", "remote_support", "run", str(task), "-i",
                                 str(lab.inventory_path), "-l", name, "-b", *extra], capture_output=True,
                                text=True, timeout=120, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "refusing" in result.stdout + result.stderr
        assert "hunter2" not in result.stdout + result.stderr
    journal = list(tmp_path.glob("j.sqlite*"))  # with its WAL
    assert journal and all(b"hunter2" not in path.read_bytes() for path in journal)
    assert secret.read_text() == SECRET
