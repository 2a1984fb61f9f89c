"""script, fetch and wait_for on real lab hosts."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import tarfile
import threading
import time
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
    for path in glob.glob(prefix + "*"):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            Path(path).unlink(missing_ok=True)


# ------------------------------------------------------------------ script


def test_script_runs_with_quoted_args_and_is_removed(lab, tmp_path, scratch):
    hosts = lab_hosts(lab, [10, 11])
    task = write_task(tmp_path, """
        name: script
        steps:
          - name: run
            script: {src: report.sh, args: "--label {{ label }}"}
            register: out
          - name: again
            script: report.sh --plain
        """, templates={"report.sh": """\
            echo "script=$0"
            echo "host={{ inventory_hostname }}"
            for a in "$@"; do echo "arg=[$a]"; done
            touch {{ marker }}-{{ inventory_hostname }}
            """})
    run = run_task(task, hosts, extra_vars={"label": "two words; rm -rf /", "marker": scratch})
    for index, host in enumerate(hosts):
        step = steps_of(run, index)["run"]
        assert step.status is Status.CHANGED, step.reason
        lines = step.stdout.splitlines()
        assert f"host={host.name}" in lines
        assert lines[-2:] == ["arg=[--label]", "arg=[two words; rm -rf /]"]
        uploaded = lines[0].split("=", 1)[1]
        assert uploaded.startswith("/tmp/rs-script.") and not os.path.exists(uploaded)
        assert step.command == "/bin/sh report.sh --label 'two words; rm -rf /'"
        assert Path(f"{scratch}-{host.name}").exists()
        assert steps_of(run, index)["again"].stdout.splitlines()[-1] == "arg=[--plain]"


def test_script_interpreter_become_creates_and_check_mode(lab, tmp_path, scratch):
    host = lab_hosts(lab, [12])[0]
    task = write_task(tmp_path, f"""
        name: script
        steps:
          - name: python
            script: {{src: who, creates: "{scratch}-done"}}
            become: true
        """, templates={"who": """\
            #!/usr/bin/env python3
            import os, pwd
            print(pwd.getpwuid(os.getuid()).pw_name)
            open("{{ done }}", "w").write("ran")
            """})
    check = steps_of(run_task(task, [host], check=True, extra_vars={"done": f"{scratch}-done"}))["python"]
    assert check.status is Status.SKIPPED and check.reason == "check mode: would run script who"
    assert not os.path.exists(f"{scratch}-done")
    step = steps_of(run_task(task, [host], extra_vars={"done": f"{scratch}-done"}))["python"]
    assert step.status is Status.CHANGED and step.stdout == "root\n"
    assert step.command == "/usr/bin/env python3 who" and os.stat(f"{scratch}-done").st_uid == 0
    again = steps_of(run_task(task, [host], extra_vars={"done": f"{scratch}-done"}))["python"]
    assert again.status is Status.SKIPPED and "exists" in again.reason


def test_script_chdir_and_removes_as_a_passwordless_sudo_user(lab, tmp_path, scratch):
    host = lab_hosts(lab, [12], user="rslabnp", become_password=None)[0]
    Path(f"{scratch}-dir").mkdir()
    task = write_task(tmp_path, f"""
        name: script
        steps:
          - name: here
            script: {{src: where.sh, chdir: "{scratch}-dir", removes: "{scratch}-dir"}}
            become: true
          - name: not there
            script: {{src: where.sh, removes: "{scratch}-nothere"}}
        """, templates={"where.sh": "pwd; id -un\n"})
    steps = steps_of(run_task(task, [host]))
    assert steps["here"].status is Status.CHANGED and steps["here"].stdout == f"{scratch}-dir\nroot\n"
    assert steps["not there"].status is Status.SKIPPED
    assert steps["not there"].reason == f"{scratch}-nothere does not exist"


def test_script_failure_and_timeout_still_remove_it(lab, tmp_path, scratch):
    host = lab_hosts(lab, [13])[0]
    task = write_task(tmp_path, """
        name: script
        steps:
          - name: fails
            script: fail.bash
            ignore_errors: true
          - name: hangs
            script: hang.sh
            timeout: 1
        """, templates={"fail.bash": 'echo "$0" > {{ marker }}-fail; echo oops >&2; exit 3\n',
                        "hang.sh": 'echo "$0" > {{ marker }}-hang; sleep 30\n'})
    run = run_task(task, [host], extra_vars={"marker": scratch})
    steps = steps_of(run)
    assert steps["fails"].status is Status.FAILED and steps["fails"].rc == 3 and steps["fails"].stderr == "oops\n"
    assert steps["hangs"].status is Status.FAILED and "timed out after 1s" in steps["hangs"].reason
    for name in ("fail", "hang"):
        uploaded = Path(f"{scratch}-{name}").read_text().strip()
        assert uploaded.startswith("/tmp/rs-script.") and not os.path.exists(uploaded)


def test_script_template_problems_before_anything_runs(lab, tmp_path, scratch):
    missing = write_task(tmp_path / "missing", """
        name: script
        steps:
          - script: nothere.sh
        """)
    with pytest.raises(TemplateError, match="template 'nothere.sh' not found"):
        TaskRun(load_task(missing))
    unknown = write_task(tmp_path / "unknown", """
        name: script
        steps:
          - script: {src: a.sh, shell: bash}
        """, templates={"a.sh": "true\n"})
    with pytest.raises(TaskError, match=rf"{unknown}:4: script has no argument 'shell'"):
        load_task(unknown)
    undefined = write_task(tmp_path / "undefined", f"""
        name: script
        steps:
          - name: marker
            command: touch {scratch}-marker
          - script: a.sh
        """, templates={"a.sh": "echo hi\necho {{ nobody_defined_this }}\n"})
    run = run_task(undefined, lab_hosts(lab, [13]))
    assert "undefined variable 'nobody_defined_this' in template a.sh:2" in run.hosts[0].reason
    assert not os.path.exists(f"{scratch}-marker")


# ------------------------------------------------------------------ fetch


def test_fetch_file_per_host_then_up_to_date(lab, tmp_path, scratch):
    hosts = lab_hosts(lab, [14, 15])
    for host in hosts:
        Path(f"{scratch}-{host.name}.log").write_text(f"log of {host.name}\n")
    task = write_task(tmp_path, f"""
        name: fetch
        steps:
          - name: get
            fetch: {{src: "{scratch}-{{{{ inventory_hostname }}}}.log"}}
        """)
    fetched = tmp_path / "fetched"
    first = run_task(task, hosts, fetch_dir=fetched)
    for index, host in enumerate(hosts):
        step = steps_of(first, index)["get"]
        local = fetched / host.name / f"{scratch}-{host.name}.log".lstrip("/")
        assert step.status is Status.CHANGED, step.reason
        assert local.read_text() == f"log of {host.name}\n"
        assert step.data["dest"] == str(local) and step.data["size"] == len(local.read_bytes())
        assert step.data["checksum"] == hashlib.sha256(local.read_bytes()).hexdigest()
    second = run_task(task, hosts, fetch_dir=fetched, check=True)  # read-only: runs in check mode too
    assert [steps_of(second, i)["get"].status for i in range(2)] == [Status.OK, Status.OK]


def test_fetch_root_only_file_with_become_flat(lab, tmp_path, scratch):
    host = lab_hosts(lab, [16])[0]
    secret = Path(f"{scratch}-{host.name}")
    secret.write_bytes(b"\x00\x01binary only root reads\xff")
    secret.chmod(0o600)
    def task(become: bool) -> Path:
        return write_task(tmp_path, f"""
            name: fetch
            steps:
              - name: get
                fetch: {{src: "{scratch}-{{{{ inventory_hostname }}}}", dest: "{tmp_path}/out", flat: true}}
                become: {str(become).lower()}
            """, name=f"fetch-{become}.yml")

    denied = steps_of(run_task(task(False), [host]))["get"]
    assert denied.status is Status.FAILED and "permission denied for the login user: use become" in denied.reason
    before = set(glob.glob("/tmp/rs-fetch.*"))
    step = steps_of(run_task(task(True), [host]))["get"]
    assert step.status is Status.CHANGED, step.reason
    assert (tmp_path / "out" / secret.name).read_bytes() == secret.read_bytes()
    assert set(glob.glob("/tmp/rs-fetch.*")) <= before  # the host's temp copy is gone


def test_fetch_directory_as_tarball_and_missing_file(lab, tmp_path, scratch):
    host = lab_hosts(lab, [17])[0]
    directory = Path(f"{scratch}-{host.name}")
    (directory / "sub").mkdir(parents=True)
    (directory / "a.conf").write_text("a\n")
    (directory / "sub" / "b.conf").write_text("b\n")
    task = write_task(tmp_path, f"""
        name: fetch
        steps:
          - name: bundle
            fetch: {{src: "{scratch}-{{{{ inventory_hostname }}}}"}}
        """)
    fetched = tmp_path / "fetched"
    step = steps_of(run_task(task, [host], fetch_dir=fetched))["bundle"]
    local = fetched / host.name / "tmp" / f"{directory.name}.tar.gz"
    assert step.status is Status.CHANGED and step.data["dest"] == str(local), step.reason
    with tarfile.open(local) as archive:
        assert sorted(archive.getnames()) == sorted([directory.name, f"{directory.name}/a.conf",
                                                     f"{directory.name}/sub", f"{directory.name}/sub/b.conf"])
        assert archive.extractfile(f"{directory.name}/sub/b.conf").read() == b"b\n"
    again = steps_of(run_task(task, [host], fetch_dir=fetched))["bundle"]
    assert again.status is Status.OK  # same bytes: sorted members, no gzip timestamp

    missing = write_task(tmp_path / "missing", f"""
        name: fetch
        steps:
          - name: get
            fetch: {{src: "{scratch}-nothere"}}
        """)
    step = steps_of(run_task(missing, [host], fetch_dir=fetched))["get"]
    assert step.status is Status.FAILED and step.reason == f"no such file on the host: {scratch}-nothere"


# ------------------------------------------------------------------ wait_for


def test_wait_for_ports(lab, tmp_path):
    entry = lab.status()[18]
    host = lab_hosts(lab, [18])[0]
    task = write_task(tmp_path, f"""
        name: wait
        steps:
          - name: sshd is up
            wait_for: {{port: {entry.port}, host: {entry.address}, timeout: 10}}
          - name: nothing on port 1
            wait_for: {{port: 1, state: stopped, timeout: 10}}
          - name: never opens
            wait_for: {{port: 1, timeout: 1.5, sleep: 0.5}}
        """)
    steps = steps_of(run_task(task, [host], check=True))
    assert steps["sshd is up"].status is Status.OK and steps["sshd is up"].data["attempts"] == 1
    assert steps["nothing on port 1"].status is Status.OK
    never = steps["never opens"]
    assert never.status is Status.FAILED
    assert never.reason == "timed out after 1.5s waiting for port 1 on 127.0.0.1 to be started"
    assert 1.0 <= never.data["elapsed"] < 4


def test_wait_for_path_and_command(lab, tmp_path, scratch):
    host = lab_hosts(lab, [19])[0]
    flag = Path(f"{scratch}-flag")
    gone = Path(f"{scratch}-gone")
    gone.write_text("x")
    task = write_task(tmp_path, f"""
        name: wait
        steps:
          - name: appears
            wait_for: {{path: "{flag}", sleep: 0.2, timeout: 10}}
          - name: goes
            wait_for: {{path: "{gone}", state: absent, sleep: 0.2, timeout: 10}}
          - name: command
            wait_for: {{command: "test -s {flag}", sleep: 0.2, timeout: 10}}
          - name: command never
            wait_for: {{command: "echo not yet >&2; false", timeout: 0.5, sleep: 0.2}}
        """)

    def later():
        time.sleep(0.8)
        flag.write_text("ready")
        gone.unlink()

    thread = threading.Thread(target=later)
    thread.start()
    try:
        steps = steps_of(run_task(task, [host]))
    finally:
        thread.join()
    assert steps["appears"].status is Status.OK and 0.5 < steps["appears"].data["elapsed"] < 5
    assert steps["appears"].data["attempts"] > 1
    assert steps["goes"].status is Status.OK and steps["command"].status is Status.OK
    never = steps["command never"]
    assert never.status is Status.FAILED
    assert never.reason == ("timed out after 0.5s waiting for `echo not yet >&2; false` to succeed "
                            "(last exit code 1: not yet)")


@pytest.mark.parametrize("args, message", [
    ("{port: 22, path: /tmp}", "exactly one of port, path and command, this one has port and path"),
    ("{timeout: 5}", "exactly one of port, path and command"),
    ("{path: /tmp, state: started}", "state 'started' does not go with path: use present or absent"),
    ("{port: 22, state: gone}", "use one of started, stopped, present, absent, succeed"),
    ("{port: http}", "'port' must be int"),
    ("{port: 22, hots: x}", "wait_for has no argument 'hots'"),
])
def test_wait_for_bad_arguments(tmp_path, args, message):
    task = write_task(tmp_path, f"""
        name: wait
        steps:
          - wait_for: {args}
        """)
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:4" in str(error.value) and message in str(error.value)
