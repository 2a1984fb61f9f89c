"""copy, template and fetch on Windows (WinRM) hosts, against the lab server's fake Windows file system."""

from __future__ import annotations

from remote_support.results import Status
from task_support import run_task, steps_of, write_task
from winrm_support import win_host
from winrm_support import winrm_server  # noqa: F401 - fixture

CONF = "c:\\programdata\\app\\app.conf"


def _run(tmp_path, server, text, *, check=False, diff=False, templates=None, **kw):
    task = write_task(tmp_path, text, templates=templates)
    return steps_of(run_task(task, [win_host(server)], check=check, diff=diff, fetch_dir=tmp_path / "fetched", **kw))


TASK = r"""
    name: t
    steps:
      - name: conf
        template: {src: app.conf.j2, dest: 'C:\ProgramData\app\app.conf', backup: true}
      - name: note
        copy: {content: "hello from {{ inventory_hostname }}\n", dest: 'C:/ProgramData/app/note.txt'}
"""
TEMPLATES = {"app.conf.j2": "host = {{ inventory_hostname }}\nport = {{ port }}\n"}


def test_copy_and_template_create_diff_and_stay_idempotent(tmp_path, winrm_server):
    files = winrm_server.files
    winrm_server.directories.add("c:\\programdata\\app")
    check = _run(tmp_path, winrm_server, TASK, check=True, diff=True, templates=TEMPLATES, extra_vars={"port": 80})
    assert check["conf"].status is Status.CHANGED and check["conf"].reason.startswith("check mode: would create")
    assert "+host = win-lab01" in check["conf"].diff and CONF not in files
    assert not any(c.startswith("sh ") or "mktemp" in c for c in winrm_server.commands)  # no POSIX probe to cmd.exe

    steps = _run(tmp_path, winrm_server, TASK, templates=TEMPLATES, extra_vars={"port": 80})
    assert [steps[n].status for n in ("conf", "note")] == [Status.CHANGED] * 2, steps["conf"].reason
    assert files[CONF] == b"host = win-lab01\nport = 80\n"
    assert files["c:\\programdata\\app\\note.txt"] == b"hello from win-lab01\n"
    assert steps["conf"].data["path"] == "C:\\ProgramData\\app\\app.conf" and steps["conf"].data["backup"] is None

    again = _run(tmp_path, winrm_server, TASK, templates=TEMPLATES, extra_vars={"port": 80})
    assert [again[n].status for n in ("conf", "note")] == [Status.OK] * 2
    writes = winrm_server.counters["file_writes"]

    changed = _run(tmp_path, winrm_server, TASK, diff=True, templates=TEMPLATES, extra_vars={"port": 8080})
    assert changed["conf"].status is Status.CHANGED and "-port = 80\n+port = 8080" in changed["conf"].diff
    backup = changed["conf"].data["backup"]
    assert backup.startswith("C:\\ProgramData\\app\\app.conf.") and backup.endswith("~")
    assert files[backup.lower()] == b"host = win-lab01\nport = 80\n" and files[CONF].endswith(b"8080\n")
    assert winrm_server.counters["file_writes"] == writes + 1


def test_fetch_brings_back_what_copy_wrote(tmp_path, winrm_server):
    winrm_server.directories.add("c:\\programdata\\app")
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: put, copy: {content: "line\r\n", dest: 'C:\ProgramData\app\x.log'}}
          - {name: get, fetch: {src: 'C:\ProgramData\app\x.log'}}
    """)
    assert steps["get"].status is Status.CHANGED
    assert (tmp_path / "fetched" / "win-lab01" / "C" / "ProgramData" / "app" / "x.log").read_bytes() == b"line\r\n"


def test_posix_attributes_relative_paths_and_missing_directories_are_refused(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: mode, copy: {content: x, dest: 'C:\Temp\a.txt', mode: "0600"}, ignore_errors: true}
          - {name: owner, copy: {content: x, dest: 'C:\Temp\a.txt', owner: admin}, ignore_errors: true}
          - {name: relative, copy: {content: x, dest: 'a.txt'}, ignore_errors: true}
          - {name: nodir, copy: {content: x, dest: 'C:\Nowhere\a.txt'}, ignore_errors: true}
          - {name: dir, copy: {content: x, dest: 'C:\Temp'}, ignore_errors: true}
    """)
    assert all(s.status is Status.FAILED for s in steps.values())
    assert "mode is POSIX permissions; Windows files have ACLs" in steps["mode"].reason
    assert "owner is POSIX permissions" in steps["owner"].reason
    assert "not an absolute Windows path" in steps["relative"].reason
    assert "its directory C:\\Nowhere does not exist" in steps["nodir"].reason
    assert "it is a directory" in steps["dir"].reason
    assert "c:\\temp\\a.txt" not in winrm_server.files


def test_a_corrupted_upload_or_a_denied_replace_leaves_the_file_as_it_was(tmp_path, winrm_server):
    winrm_server.files["c:\\temp\\keep.txt"] = b"old\n"
    task = r"""
        name: t
        steps:
          - {name: write, copy: {content: "new\n", dest: 'C:\Temp\keep.txt'}}
    """
    winrm_server.windows.corrupt_uploads = True  # bytes change on the way: the script's SHA-256 check must catch it
    steps = _run(tmp_path, winrm_server, task)
    assert steps["write"].status is Status.FAILED and "arrived incomplete" in steps["write"].reason
    assert winrm_server.files["c:\\temp\\keep.txt"] == b"old\n"
    winrm_server.windows.corrupt_uploads = False
    winrm_server.read_only.add("c:\\temp\\keep.txt")
    steps = _run(tmp_path, winrm_server, task)
    assert steps["write"].status is Status.FAILED and "is denied" in steps["write"].reason
    assert "left as it was" in steps["write"].reason and winrm_server.files["c:\\temp\\keep.txt"] == b"old\n"


def test_fetch_of_a_directory_or_a_missing_file_says_so(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: dir, fetch: {src: 'C:\Temp'}, ignore_errors: true}
          - {name: missing, fetch: {src: 'C:\Temp\nope.log'}, ignore_errors: true}
    """)
    assert "C:\\Temp is a directory: fetch brings single files from Windows hosts" in steps["dir"].reason
    assert steps["missing"].reason.endswith("no such file on the host: C:\\Temp\\nope.log")


def test_wait_for_ports_and_paths_on_a_windows_host(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: winrm up, wait_for: {port: 5985, timeout: 5}}
          - {name: rdp down, wait_for: {port: 3389, state: stopped, timeout: 5}}
          - {name: lab dir, wait_for: {path: 'C:\lab', timeout: 5}}
          - {name: never, wait_for: {path: 'C:\never.flag', timeout: 1, sleep: 0.2}, ignore_errors: true}
          - {name: cmd, wait_for: {command: hostname, timeout: 5}}
    """)
    assert [steps[n].status for n in ("winrm up", "rdp down", "lab dir", "cmd")] == [Status.OK] * 4, \
        {n: s.reason for n, s in steps.items()}
    assert steps["never"].status is Status.FAILED and "waiting for C:\\never.flag to be present" in steps["never"].reason
    assert not any("test -e" in c or "/dev/tcp" in c for c in winrm_server.commands)


def test_posix_file_kinds_say_what_to_use_on_windows(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, r"""
        name: t
        steps:
          - {name: file, file: {path: 'C:\Temp\x', state: directory}, ignore_errors: true}
          - {name: line, lineinfile: {path: 'C:\Temp\x.ini', line: a=1}, ignore_errors: true}
          - {name: block, blockinfile: {path: 'C:\Temp\x.ini', block: a=1}, ignore_errors: true}
    """)
    assert "file works on POSIX (ssh, local) hosts; win-lab01 is a winrm host: use win_file" in steps["file"].reason
    assert "lineinfile works on POSIX" in steps["line"].reason and "blockinfile works on POSIX" in steps["block"].reason
    assert not any("sh" in c.split()[:1] for c in winrm_server.commands)


def test_copy_remote_src_on_windows_is_a_clear_failure(tmp_path, winrm_server):
    steps = _run(tmp_path, winrm_server, """
        name: t
        steps:
          - name: copy
            copy: {src: 'C:/ProgramData/app/a.txt', dest: 'C:/ProgramData/app/b.txt', remote_src: true}
    """)
    step = steps["copy"]
    assert step.status is Status.FAILED and "remote_src reads src on POSIX hosts only" in step.reason, step.reason
