"""template and copy (steps/files.py) on real lab hosts: idempotency, check and diff modes, become, validate,
backup, and bad input reported before anything runs."""

from __future__ import annotations

import glob
import os
import pwd
import re
import stat
from pathlib import Path

import pytest

from remote_support.errors import TaskError, TemplateError
from remote_support.executor import TaskRun
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task


@pytest.fixture
def scratch(request):
    """A path prefix on the hosts unique to this test; everything under it is removed afterwards."""
    prefix = f"/tmp/rs-t-{request.node.name}"
    yield prefix
    for path in glob.glob(prefix + "*") + glob.glob(f"/tmp/.rs-t-{request.node.name}*"):
        Path(path).unlink(missing_ok=True)


def on_host(prefix: str, host) -> Path:
    return Path(f"{prefix}-{host.name}")


def existing(path: Path, content: str | bytes, user: str = "rslab") -> Path:
    """A file already on the host, owned by ``user`` (the login user unless said otherwise)."""
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def test_template_writes_each_host_then_reports_ok(lab, tmp_path, scratch):
    hosts = lab_hosts(lab, [0, 1])
    task = write_task(tmp_path, f"""
        name: motd
        steps:
          - name: write
            template: {{src: motd.j2, dest: "{scratch}-{{{{ inventory_hostname }}}}", mode: "0640"}}
        """, templates={"motd.j2": "Welcome to {{ inventory_hostname }}\nmanaged by {{ owner_team }}\n"})
    first = run_task(task, hosts, extra_vars={"owner_team": "IT support"})
    for index, host in enumerate(hosts):
        step = steps_of(first, index)["write"]
        assert step.status is Status.CHANGED, step.reason
        path = on_host(scratch, host)
        assert path.read_text() == f"Welcome to {host.name}\nmanaged by IT support\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert step.data["dest"] == str(path) and len(step.data["checksum"]) == 64
        assert step.diff == ""  # only with --diff or --check
    second = run_task(task, hosts, extra_vars={"owner_team": "IT support"})
    assert [steps_of(second, i)["write"].status for i in range(2)] == [Status.OK, Status.OK]


def test_check_mode_reports_the_change_and_writes_nothing(lab, tmp_path, scratch):
    host = lab_hosts(lab, [2])[0]
    current = existing(on_host(scratch, host), "old line\nkept line\n", user="root")
    task = write_task(tmp_path, f"""
        name: conf
        steps:
          - name: change
            template: {{src: conf.j2, dest: "{scratch}-{{{{ inventory_hostname }}}}", mode: "0600"}}
          - name: create
            copy: {{content: "new\\n", dest: "{scratch}-{{{{ inventory_hostname }}}}-new"}}
        """, templates={"conf.j2": "new line\nkept line\n"})
    run = run_task(task, [host], check=True)
    steps = steps_of(run)
    assert steps["change"].status is Status.CHANGED and "would update" in steps["change"].reason
    assert "-old line\n+new line\n kept line\n" in steps["change"].diff
    assert "mode 0644 -> 0600" in steps["change"].diff
    assert steps["create"].status is Status.CHANGED and "+new" in steps["create"].diff
    assert current.read_text() == "old line\nkept line\n"
    assert stat.S_IMODE(current.stat().st_mode) == 0o644
    assert not Path(f"{current}-new").exists()
    assert not glob.glob(f"/tmp/.rs-t-{Path(scratch).name[5:]}*")  # no temp file either


def test_diff_mode_shows_a_unified_diff(lab, tmp_path, scratch):
    host = lab_hosts(lab, [3])[0]
    existing(on_host(scratch, host), "port 22\nlisten all\n")
    task = write_task(tmp_path, f"""
        name: conf
        steps:
          - name: change
            copy: {{content: "port {{{{ port }}}}\\nlisten all\\n", dest: "{scratch}-{{{{ inventory_hostname }}}}"}}
        """)
    run = run_task(task, [host], diff=True, extra_vars={"port": 2222})
    step = steps_of(run)["change"]
    assert step.status is Status.CHANGED
    assert step.diff.startswith(f"--- {on_host(scratch, host)} (before)\n+++ {on_host(scratch, host)} (after)\n")
    assert "-port 22\n+port 2222\n listen all\n" in step.diff
    assert on_host(scratch, host).read_text() == "port 2222\nlisten all\n"
    again = steps_of(run_task(task, [host], diff=True, extra_vars={"port": 2222}))["change"]
    assert again.status is Status.OK and again.diff == ""


def test_become_writes_a_root_owned_private_file(lab, tmp_path, scratch):
    host = lab_hosts(lab, [4])[0]
    task = write_task(tmp_path, f"""
        name: secret
        steps:
          - name: write
            template: {{src: key.j2, dest: "{scratch}-{{{{ inventory_hostname }}}}", owner: root, group: root,
                        mode: "0600"}}
            become: true
          - name: read back
            command: cat {scratch}-{{{{ inventory_hostname }}}}
            become: true
            register: back
            changed_when: false
        """, templates={"key.j2": "motto={{ motto }}\n"})
    run = run_task(task, [host], extra_vars={"motto": "abc123"})
    steps = steps_of(run)
    assert steps["write"].status is Status.CHANGED, steps["write"].reason
    info = on_host(scratch, host).stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
    assert steps["read back"].stdout == "motto=abc123\n"
    again = steps_of(run_task(task, [host], extra_vars={"motto": "abc123"}))
    assert again["write"].status is Status.OK

    # the login user can neither compare nor replace it
    plain = write_task(tmp_path / "plain", f"""
        name: plain
        steps:
          - name: write
            copy: {{content: "x", dest: "{scratch}-{{{{ inventory_hostname }}}}"}}
        """)
    step = steps_of(run_task(plain, [host]))["write"]
    assert step.status is Status.FAILED and "use become: true" in step.reason
    assert on_host(scratch, host).read_text() == "motto=abc123\n"


def test_failed_validation_leaves_the_file_untouched(lab, tmp_path, scratch):
    host = lab_hosts(lab, [5])[0]
    dest = existing(on_host(scratch, host), "valid = yes\n")
    task = write_task(tmp_path, f"""
        name: validated
        steps:
          - name: write
            copy:
              content: "{{{{ body }}}}"
              dest: "{scratch}-{{{{ inventory_hostname }}}}"
              validate: grep -q '^valid = ' %s
            become: true
        """)
    bad = steps_of(run_task(task, [host], extra_vars={"body": "broken\n"}))["write"]
    assert bad.status is Status.FAILED
    assert "validation failed" in bad.reason and "left as it was" in bad.reason and "exited 1" in bad.reason
    assert dest.read_text() == "valid = yes\n"
    assert not [p for p in glob.glob(f"/tmp/.{dest.name}.rs-*")]  # the rejected temp file is gone
    good = steps_of(run_task(task, [host], extra_vars={"body": "valid = no\n"}))["write"]
    assert good.status is Status.CHANGED and dest.read_text() == "valid = no\n"


def test_backup_keeps_the_old_file(lab, tmp_path, scratch):
    host = lab_hosts(lab, [6])[0]
    dest = existing(on_host(scratch, host), "version 1\n")
    task = write_task(tmp_path, f"""
        name: backed up
        steps:
          - name: write
            copy: {{content: "version {{{{ v }}}}\\n", dest: "{scratch}-{{{{ inventory_hostname }}}}", backup: yes}}
        """)
    step = steps_of(run_task(task, [host], extra_vars={"v": 2}))["write"]
    assert step.status is Status.CHANGED
    backup = step.data["backup"]
    assert re.fullmatch(re.escape(str(dest)) + r"\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~", backup)
    assert Path(backup).read_text() == "version 1\n" and dest.read_text() == "version 2\n"
    same = steps_of(run_task(task, [host], extra_vars={"v": 2}))["write"]
    assert same.status is Status.OK and same.data["backup"] is None


def test_copy_from_files_dir_attributes_and_binary(lab, tmp_path, scratch):
    host = lab_hosts(lab, [7])[0]
    (tmp_path / "files").mkdir()
    blob = bytes(range(256)) * 4
    (tmp_path / "files" / "tool.bin").write_bytes(blob)
    dest = existing(on_host(scratch, host), b"\x00old")
    task = write_task(tmp_path, f"""
        name: binary
        steps:
          - name: put
            copy: {{src: tool.bin, dest: "{scratch}-{{{{ inventory_hostname }}}}", mode: "{{{{ mode }}}}"}}
        """)
    step = steps_of(run_task(task, [host], diff=True, extra_vars={"mode": "0755"}))["put"]
    assert step.status is Status.CHANGED and "binary/large file changed" in step.diff
    assert dest.read_bytes() == blob and stat.S_IMODE(dest.stat().st_mode) == 0o755
    only_mode = steps_of(run_task(task, [host], diff=True, extra_vars={"mode": "0700"}))["put"]
    assert only_mode.status is Status.CHANGED and "mode 0755 -> 0700" in only_mode.diff
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert steps_of(run_task(task, [host], extra_vars={"mode": "0700"}))["put"].status is Status.OK


def test_missing_directory_fails_with_a_clear_message(lab, tmp_path, scratch):
    host = lab_hosts(lab, [8])[0]
    task = write_task(tmp_path, f"""
        name: nowhere
        steps:
          - name: write
            copy: {{content: "x", dest: "{scratch}-dir/sub/file"}}
        """)
    step = steps_of(run_task(task, [host]))["write"]
    assert step.status is Status.FAILED
    assert f"its directory {scratch}-dir/sub does not exist" in step.reason and "mkdir -p" in step.reason


@pytest.mark.parametrize("step, message", [
    ('template: {src: a.j2, dest: /tmp/x, colour: red}', "template has no argument 'colour'"),
    ('template: {src: a.j2}', "template needs the argument 'dest'"),
    ('template: {src: a.j2, dest: /tmp/x, mode: 0644}', "quote it"),
    ('template: {src: a.j2, dest: /tmp/x, mode: "rw"}', "octal digits"),
    ('template: {src: a.j2, dest: /tmp/x, validate: "visudo -c"}', "must contain %s"),
    ('copy: {dest: /tmp/x}', "exactly one of src"),
    ('copy: {src: a.txt, content: hi, dest: /tmp/x}', "this one has both"),
    ('copy: {src: nothere.txt, dest: /tmp/x}', "copy src 'nothere.txt' not found"),
])
def test_bad_arguments_name_the_step_line(tmp_path, step, message):
    task = write_task(tmp_path, f"""
        name: bad
        steps:
          - name: fine
            command: "true"
          - name: broken
            {step}
        """, templates={"a.j2": "x"})
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:7" in str(error.value) and message in str(error.value)


def test_template_problems_are_found_before_anything_runs(tmp_path):
    missing = write_task(tmp_path / "missing", """
        name: missing
        steps:
          - template: {src: nothere.j2, dest: /tmp/x}
        """)
    with pytest.raises(TemplateError, match="template 'nothere.j2' not found"):
        TaskRun(load_task(missing))
    broken = write_task(tmp_path / "broken", """
        name: broken
        steps:
          - template: {src: broken.j2, dest: /tmp/x}
        """, templates={"broken.j2": "line one\n{% if x %}\nno endif\n"})
    with pytest.raises(TemplateError) as error:
        TaskRun(load_task(broken))
    assert re.search(r"broken\.j2:\d+: template syntax error", str(error.value))


def test_undefined_variable_fails_the_host_before_any_command(lab, tmp_path, scratch):
    host = lab_hosts(lab, [9])[0]
    task = write_task(tmp_path, f"""
        name: undefined
        steps:
          - name: marker
            command: touch {scratch}-marker
          - name: write
            template: {{src: site.j2, dest: "{scratch}-{{{{ inventory_hostname }}}}"}}
        """, templates={"site.j2": "name = {{ site_name }}\nport = {{ site_port }}\n"})
    run = run_task(task, [host], extra_vars={"site_name": "hq"})
    assert run.hosts[0].status is Status.FAILED
    reason = run.hosts[0].reason
    assert "undefined variable 'site_port' in template site.j2:2" in reason
    assert not Path(f"{scratch}-marker").exists()


def test_relative_dest_is_in_the_login_users_home(lab, tmp_path, request):
    host = lab_hosts(lab, [8])[0]
    name = f"rs-t-{request.node.name}-{host.name}"
    home = Path(pwd.getpwnam(lab.user).pw_dir)
    task = write_task(tmp_path, f"""
        name: relative
        steps:
          - name: write
            copy: {{content: "hi\\n", dest: "{name}"}}
        """)
    try:
        step = steps_of(run_task(task, [host]))["write"]
        assert step.status is Status.CHANGED, step.reason
        assert (home / name).read_text() == "hi\n" and step.data["path"] == str(home / name)
        assert (home / name).stat().st_uid == pwd.getpwnam(lab.user).pw_uid
    finally:
        (home / name).unlink(missing_ok=True)


def test_a_directory_the_login_user_cannot_enter_gives_the_become_hint(lab, tmp_path):
    host = lab_hosts(lab, [9])[0]
    task = write_task(tmp_path, """
        name: private
        steps:
          - name: write
            copy: {content: "x", dest: /root/rs-t-never-written}
        """)
    step = steps_of(run_task(task, [host]))["write"]
    assert step.status is Status.FAILED and "use become: true" in step.reason, step.reason
    assert not Path("/root/rs-t-never-written").exists()


def test_same_content_with_other_attributes_changes_them_in_place(lab, tmp_path, scratch):
    """Without --diff or --check a file is written in one command (files._ensure_script): the host compares,
    and when only the mode differs it is set on the file as it is, with no temporary file left."""
    host = lab_hosts(lab, [8])[0]
    dest = existing(on_host(scratch, host), "same\n")
    inode = dest.stat().st_ino
    task = write_task(tmp_path, f"""
        name: attrs
        steps:
          - name: write
            copy: {{content: "same\\n", dest: "{scratch}-{{{{ inventory_hostname }}}}", mode: "{{{{ mode }}}}"}}
        """)
    step = steps_of(run_task(task, [host], extra_vars={"mode": "0600"}))["write"]
    assert step.status is Status.CHANGED and step.reason == f"changed attributes of {dest}"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.stat().st_ino == inode
    again = steps_of(run_task(task, [host], extra_vars={"mode": "0600"}))["write"]
    assert again.status is Status.OK and again.reason == f"{dest} is up to date"
    assert dest.stat().st_ino == inode  # not rewritten
    assert not glob.glob(f"/tmp/.{dest.name}.rs-*")


@pytest.mark.parametrize("plant", ["link-to-device", "link-to-file", "file"])
def test_a_name_planted_at_the_temporary_name_is_never_written_through(lab, tmp_path, scratch, monkeypatch,
                                                                       plant):
    """The temporary name is opened exclusively (set -C); what someone put there first (a link to a device,
    a link to a file, a file) makes the step fail and is left as it was, and so is the destination."""
    from remote_support.steps import files

    host = lab_hosts(lab, [9])[0]
    dest = existing(on_host(scratch, host), "old\n")
    victim = existing(Path(f"{scratch}-victim"), "victim\n")
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: "0badc0de")
    temp = Path(f"/tmp/.{dest.name}.rs-0badc0de")
    if plant == "link-to-device":
        temp.symlink_to("/dev/null")
    elif plant == "link-to-file":
        temp.symlink_to(victim)
    else:
        existing(temp, "planted\n")
    try:
        task = write_task(tmp_path, f"""
            name: planted
            steps:
              - name: write
                copy: {{content: "new\\n", dest: "{scratch}-{{{{ inventory_hostname }}}}"}}
                become: true
            """)
        step = steps_of(run_task(task, [host]))["write"]
        assert step.status is Status.FAILED
        assert "temporary file" in step.reason, step.reason
        assert dest.read_text() == "old\n" and victim.read_text() == "victim\n"
        assert temp.is_symlink() == plant.startswith("link")
    finally:
        temp.unlink(missing_ok=True)
