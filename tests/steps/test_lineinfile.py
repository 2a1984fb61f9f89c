"""lineinfile and blockinfile against ansible-core's own modules as the oracle.

Each case runs Ansible's module (``python -m ansible.modules.lineinfile ARGS.json``, as Ansible runs it on
a host) on one copy of the input file and our step, through a real task, on another copy (through the
local connection for speed; a few cases also on the sshd lab at the end), and compares the file's bytes,
the changed flag, and failure. Then our step runs again: the second run must be ok (idempotent).
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from task_support import lab_hosts, run_task, steps_of, write_task

from remote_support.errors import TaskError
from remote_support.inventory import Host
from remote_support.results import Status
from remote_support.tasks import load_task

SSHD = b"# sshd\nPort 22\n#PermitRootLogin yes\nListenAddress 0.0.0.0\nUsePAM yes\n"
INI = b"[main]\na=1\n[extra]\nb=2\n[main]\nc=3\n"
BLOCKED = (b"head\n# BEGIN ANSIBLE MANAGED BLOCK\nold one\nold two\n# END ANSIBLE MANAGED BLOCK\ntail\n")
MISSING = None

# (id, kind, input bytes or None for "no such file", arguments without the path)
CASES = [
    ("regexp-replaces", "lineinfile", SSHD, {"regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"}),
    ("regexp-no-match-appends", "lineinfile", SSHD, {"regexp": "^MaxAuthTries", "line": "MaxAuthTries 3"}),
    ("line-present-unchanged", "lineinfile", SSHD, {"line": "Port 22"}),
    ("line-appended", "lineinfile", SSHD, {"line": "Banner none"}),
    ("insertafter-regexp", "lineinfile", SSHD, {"line": "AddressFamily inet", "insertafter": "^Port"}),
    ("insertafter-no-match-eof", "lineinfile", SSHD, {"line": "X yes", "insertafter": "^Nothing"}),
    ("insertbefore-regexp", "lineinfile", SSHD, {"line": "X yes", "insertbefore": "^UsePAM"}),
    ("insertbefore-bof", "lineinfile", SSHD, {"line": "# managed", "insertbefore": "BOF"}),
    ("insertafter-bof", "lineinfile", SSHD, {"line": "# managed", "insertafter": "BOF"}),
    ("insertafter-eof", "lineinfile", SSHD, {"line": "# end", "insertafter": "EOF"}),
    ("backrefs-match", "lineinfile", SSHD, {"regexp": r"^(Port) (\d+)$", "line": r"\1 2222", "backrefs": True}),
    ("backrefs-named", "lineinfile", SSHD, {"regexp": r"^Port (?P<p>\d+)$", "line": r"Port \g<p>0", "backrefs": True}),
    ("backrefs-no-match-unchanged", "lineinfile", SSHD, {"regexp": "^Nope (.*)", "line": r"\1", "backrefs": True}),
    ("absent-regexp", "lineinfile", SSHD, {"regexp": "^#", "state": "absent"}),
    ("absent-line", "lineinfile", SSHD, {"line": "UsePAM yes", "state": "absent"}),
    ("absent-search-string", "lineinfile", SSHD, {"search_string": "Listen", "state": "absent"}),
    ("absent-no-match", "lineinfile", SSHD, {"regexp": "^Nothing", "state": "absent"}),
    ("absent-missing-file", "lineinfile", MISSING, {"line": "x", "state": "absent"}),
    ("search-string-replaces", "lineinfile", SSHD, {"search_string": "UsePAM", "line": "UsePAM no"}),
    ("regexp-last-match", "lineinfile", INI, {"regexp": r"^\[main\]", "line": "[main]  # one"}),
    ("regexp-firstmatch", "lineinfile", INI, {"regexp": r"^\[main\]", "line": "[main]  # one", "firstmatch": True}),
    ("insertafter-last-match", "lineinfile", INI, {"insertafter": r"^\[main\]", "line": "z=9"}),
    ("insertafter-firstmatch", "lineinfile", INI, {"insertafter": r"^\[main\]", "line": "z=9", "firstmatch": True}),
    ("insertbefore-firstmatch", "lineinfile", INI, {"insertbefore": r"^\[main\]", "line": "; top", "firstmatch": True}),
    ("regexp-wins-over-insertafter", "lineinfile", SSHD, {"regexp": "^UsePAM", "line": "UsePAM no",
                                                          "insertafter": "^Port"}),
    ("no-final-newline-append", "lineinfile", b"a\nb", {"line": "c"}),
    ("no-final-newline-replace", "lineinfile", b"a\nb", {"regexp": "^b", "line": "B"}),
    ("no-final-newline-same", "lineinfile", b"a\nb", {"line": "b"}),
    ("insertafter-last-line", "lineinfile", b"a\nb\n", {"insertafter": "^b", "line": "c"}),
    ("insertafter-already-there", "lineinfile", b"a\nc\nb\n", {"insertafter": "^a", "line": "c"}),
    ("insertbefore-already-there", "lineinfile", b"c\na\n", {"insertbefore": "^a", "line": "c"}),
    ("crlf-line", "lineinfile", b"a\r\nb\r\n", {"line": "a"}),
    ("empty-file", "lineinfile", b"", {"line": "first"}),
    ("create-missing", "lineinfile", MISSING, {"line": "first", "create": True}),
    ("missing-without-create-fails", "lineinfile", MISSING, {"line": "first"}),
    ("unicode", "lineinfile", "motd=Grüße\n".encode(), {"regexp": "^motd=", "line": "motd=こんにちは"}),
    ("block-append", "blockinfile", SSHD, {"block": "Match User backup\n  ForceCommand internal-sftp\n"}),
    ("block-replace", "blockinfile", BLOCKED, {"block": "new one\n"}),
    ("block-same", "blockinfile", BLOCKED, {"block": "old one\nold two"}),
    ("block-absent", "blockinfile", BLOCKED, {"state": "absent"}),
    ("block-empty-removes", "blockinfile", BLOCKED, {"block": ""}),
    ("block-custom-marker", "blockinfile", SSHD, {"marker": "## {mark} support", "block": "x=1"}),
    ("block-marker-begin-end", "blockinfile", SSHD, {"marker_begin": "START", "marker_end": "STOP", "block": "y"}),
    ("block-insertafter", "blockinfile", SSHD, {"insertafter": "^Port", "block": "z"}),
    ("block-insertbefore-bof", "blockinfile", SSHD, {"insertbefore": "BOF", "block": "top"}),
    ("block-insertbefore", "blockinfile", SSHD, {"insertbefore": "^UsePAM", "block": "before pam"}),
    ("block-insertafter-multiline", "blockinfile", SSHD, {"insertafter": "(?m)^Port 22$", "block": "m"}),
    ("block-no-final-newline", "blockinfile", b"a\nb", {"block": "c"}),
    ("block-create", "blockinfile", MISSING, {"block": "new file", "create": True}),
    ("block-absent-missing", "blockinfile", MISSING, {"state": "absent"}),
    ("block-absent-missing-create", "blockinfile", MISSING, {"state": "absent", "create": True}),
    ("block-empty-create", "blockinfile", MISSING, {"create": True}),
    ("block-newlines", "blockinfile", SSHD, {"insertafter": "^Port", "block": "n", "prepend_newline": True,
                                             "append_newline": True}),
    ("block-content-alias", "blockinfile", SSHD, {"content": "via content"}),
]

#: the line built from backrefs matches the regexp again, so every run changes it (in Ansible too)
NOT_IDEMPOTENT = {"backrefs-named"}


def ansible(kind: str, path: Path, args: dict) -> dict:
    """Ansible's own module on ``path``: its JSON result (with failed when it failed)."""
    spec = path.parent / f"{path.name}.args.json"
    spec.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "path": str(path)}}))
    proc = subprocess.run([sys.executable, "-m", f"ansible.modules.{kind}", str(spec)], capture_output=True,
                          text=True, env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(path.parent)})
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    result["failed"] = bool(result.get("failed")) or proc.returncode != 0
    return result


def ours(kind: str, path: Path, args: dict, task_dir: Path, host: Host, **modes) -> object:
    """Our step through a real task; its StepResult."""
    task = write_task(task_dir, f"""
        name: oracle
        steps:
          - name: edit
            {kind}: {json.dumps({**args, "path": str(path)})}
        """)
    return steps_of(run_task(task, [host], **modes))["edit"]


LOCAL = Host("controller", {"connection": "local"}, groups=("all",))


def prepare(directory: Path, name: str, content: bytes | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case, kind, content, args", CASES, ids=[c[0] for c in CASES])
def test_same_result_as_ansible(tmp_path, case, kind, content, args):
    theirs = prepare(tmp_path / "ansible", "file.conf", content)
    expected = ansible(kind, theirs, args)
    mine = prepare(tmp_path / "ours", "file.conf", content)
    step = ours(kind, mine, args, tmp_path / "task", LOCAL)
    assert (step.status is Status.FAILED) == expected["failed"], (step.reason, expected.get("msg"))
    if expected["failed"]:
        return
    assert (step.status is Status.CHANGED) == expected["changed"], (step.reason, expected.get("msg"))
    assert mine.exists() == theirs.exists()
    if theirs.exists():
        assert mine.read_bytes() == theirs.read_bytes()
    # the second run: as Ansible's second run (ok, except for edits that are not idempotent by nature)
    expected_again = ansible(kind, theirs, args)
    again = ours(kind, mine, args, tmp_path / "task", LOCAL)
    assert (again.status is Status.CHANGED) == expected_again["changed"], again.reason
    assert again.status is (Status.CHANGED if case in NOT_IDEMPOTENT else Status.OK)
    if theirs.exists():
        assert mine.read_bytes() == theirs.read_bytes()


def test_at_least_thirty_cases():
    assert len(CASES) >= 30 and {c[1] for c in CASES} == {"lineinfile", "blockinfile"}


@pytest.mark.parametrize("step, message", [
    ("lineinfile: {path: /tmp/x, regexp: '^a', backrefs: true}", "needs line with state: present"),
    ("lineinfile: {path: /tmp/x, line: a, backrefs: true}", "backrefs: true needs a regexp"),
    ("lineinfile: {path: /tmp/x}", "needs line with state: present"),
    ("lineinfile: {path: /tmp/x, state: absent}", "needs one of line, regexp or search_string"),
    ("lineinfile: {path: /tmp/x, line: a, insertafter: '^a', insertbefore: '^b'}", "insertbefore or insertafter"),
    ("lineinfile: {path: /tmp/x, line: a, regexp: '^a', search_string: a}", "regexp or search_string"),
    ("lineinfile: {path: /tmp/x, line: a, regexp: '^(a'}", "not a valid regular expression"),
    ("lineinfile: {line: a}", "needs the argument 'path'"),
    ("lineinfile: {path: /tmp/x, dest: /tmp/y, line: a}", "path or dest"),
    ("lineinfile: {path: /tmp/x, line: a, mode: 'u+rwz'}", "symbolic mode"),
    ("lineinfile: {path: /tmp/x, line: a, colour: red}", "no argument 'colour'"),
    ("lineinfile: {path: \"/tmp/a\\nb\", line: a}", "control character"),
    ("blockinfile: {path: /tmp/x, block: a, insertafter: '^a', insertbefore: BOF}", "insertbefore or insertafter"),
    ("blockinfile: {path: /tmp/x, block: a, content: b}", "block or content"),
    ("blockinfile: {path: /tmp/x, state: gone}", "use one of present, absent"),
])
def test_conflicting_arguments_are_refused_at_load(tmp_path, step, message):
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


def test_ansible_refuses_the_same_combinations(tmp_path):
    """The load-time refusals above are ones Ansible's module makes too (so none is our invention)."""
    path = prepare(tmp_path, "f", b"a\n")
    for args in ({"regexp": "^a", "backrefs": True}, {"line": "a", "backrefs": True}, {"state": "absent"},
                 {"line": "a", "insertafter": "^a", "insertbefore": "^b"},
                 {"line": "a", "regexp": "^a", "search_string": "a"}):
        assert ansible("lineinfile", path, args)["failed"], args
    assert ansible("blockinfile", path, {"block": "a", "insertafter": "^a", "insertbefore": "BOF"})["failed"]


# -- on the sshd lab: become, check mode, diff, backup, validate, attributes


def test_on_the_lab_with_become_check_diff_and_backup(lab, tmp_path):
    host = lab_hosts(lab, [10])[0]
    conf = Path(f"/tmp/rs-t-lineinfile-{os.getpid()}.conf")
    conf.write_bytes(SSHD)
    os.chmod(conf, 0o644)  # root's: the login user may read it, not write it
    args = {"regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no", "backup": True, "mode": "u=rw,g=r,o="}
    theirs = prepare(tmp_path / "ansible", "sshd_config", SSHD)
    os.chmod(theirs, 0o644)
    expected = ansible("lineinfile", theirs, args)
    try:
        task = write_task(tmp_path / "t", f"""
            name: lab
            steps:
              - name: edit
                lineinfile: {json.dumps({**args, "path": str(conf)})}
                become: true
            """)
        checked = steps_of(run_task(task, [host], check=True, diff=True))["edit"]
        assert checked.status is Status.CHANGED, checked.reason
        assert "-#PermitRootLogin yes\n+PermitRootLogin no\n" in checked.diff
        assert "mode 0644 -> 0640" in checked.diff
        assert conf.read_bytes() == SSHD and stat.S_IMODE(conf.stat().st_mode) == 0o644  # check changed nothing
        done = steps_of(run_task(task, [host], diff=True))["edit"]
        assert done.status is Status.CHANGED and expected["changed"]
        assert conf.read_bytes() == theirs.read_bytes()
        assert stat.S_IMODE(conf.stat().st_mode) == stat.S_IMODE(theirs.stat().st_mode) == 0o640
        assert conf.stat().st_uid == 0
        assert Path(done.data["backup"]).read_bytes() == SSHD
        again = steps_of(run_task(task, [host], diff=True))["edit"]
        assert again.status is Status.OK and again.diff == "" and again.data.get("backup") is None
        plain = write_task(tmp_path / "p", f"""
            name: plain
            steps:
              - name: edit
                lineinfile: {json.dumps({"path": str(conf), "line": "x"})}
            """)
        refused = steps_of(run_task(plain, [host]))["edit"]
        assert refused.status is Status.FAILED and "use become: true" in refused.reason
        # now 0640: the login user may not read it, so a diff (even with become) does not show it
        private = steps_of(run_task(write_task(tmp_path / "q", f"""
            name: private
            steps:
              - name: edit
                lineinfile: {json.dumps({"path": str(conf), "regexp": "^Port", "line": "Port 2222"})}
                become: true
            """), [host], check=True, diff=True))["edit"]
        assert private.status is Status.CHANGED and "old content not shown" in private.diff
        assert "UsePAM" not in private.diff and "Port" not in private.diff.split("\n", 1)[1]
    finally:
        for path in Path("/tmp").glob(conf.name + "*"):
            path.unlink()


def test_on_the_lab_validate_failure_leaves_the_file(lab, tmp_path):
    host = lab_hosts(lab, [11])[0]
    conf = Path(f"/tmp/rs-t-blockinfile-{os.getpid()}.conf")
    conf.write_bytes(b"valid = yes\n")
    user = pwd.getpwnam(lab.user)
    os.chown(conf, user.pw_uid, user.pw_gid)
    try:
        task = write_task(tmp_path, f"""
            name: lab
            steps:
              - name: edit
                blockinfile:
                  path: {conf}
                  block: "{{{{ body }}}}"
                  insertbefore: BOF
                  validate: "grep -qx 'valid = maybe' %s"
            """)
        bad = steps_of(run_task(task, [host], extra_vars={"body": "broken = 1"}))["edit"]
        assert bad.status is Status.FAILED and "validation failed" in bad.reason
        assert conf.read_bytes() == b"valid = yes\n"
        good = steps_of(run_task(task, [host], extra_vars={"body": "valid = maybe"}))["edit"]
        assert good.status is Status.CHANGED, good.reason
        assert conf.read_bytes() == (b"# BEGIN ANSIBLE MANAGED BLOCK\nvalid = maybe\n# END ANSIBLE MANAGED BLOCK\n"
                                     b"valid = yes\n")
        assert conf.stat().st_uid == user.pw_uid  # kept the owner it had
        assert steps_of(run_task(task, [host], extra_vars={"body": "valid = maybe"}))["edit"].status is Status.OK
    finally:
        conf.unlink(missing_ok=True)


def test_a_secret_in_the_file_is_written_back_as_it_was(tmp_path):
    """The file comes back in base64, so output masking never rewrites a secret inside it as ****."""
    path = prepare(tmp_path, "app.conf", b"password = s3cr3t-value\n")
    task = write_task(tmp_path / "t", f"""
        name: masked
        steps:
          - name: edit
            lineinfile: {json.dumps({"path": str(path), "line": "other = 1"})}
        """)
    step = steps_of(run_task(task, [LOCAL], extra_vars={"db_password": "s3cr3t-value"}))["edit"]
    assert step.status is Status.CHANGED
    assert path.read_bytes() == b"password = s3cr3t-value\nother = 1\n"


LAB_CASES = ["regexp-replaces", "insertbefore-regexp", "backrefs-match", "absent-regexp", "crlf-line",
             "create-missing", "block-replace", "block-insertafter-multiline", "block-create"]


@pytest.mark.parametrize("case, kind, content, args", [c for c in CASES if c[0] in LAB_CASES],
                         ids=LAB_CASES)
def test_same_result_as_ansible_on_the_sshd_lab_with_become(lab, tmp_path, case, kind, content, args):
    host = lab_hosts(lab, [20])[0]
    theirs = prepare(tmp_path / "ansible", "file.conf", content)
    expected = ansible(kind, theirs, args)
    mine = Path(f"/tmp/rs-t-oracle-{case}-{os.getpid()}.conf")
    mine.unlink(missing_ok=True)
    if content is not None:
        mine.write_bytes(content)  # root's, 0644
    try:
        if content is not None:
            step = ours(kind, mine, {**args}, tmp_path / "task", host)
            assert step.status is Status.FAILED, "the login user may not write a root file"
        task = write_task(tmp_path / "become", f"""
            name: oracle
            steps:
              - name: edit
                {kind}: {json.dumps({**args, "path": str(mine)})}
                become: true
            """)
        step = steps_of(run_task(task, [host]))["edit"]
        assert (step.status is Status.CHANGED) == expected["changed"], step.reason
        assert mine.read_bytes() == theirs.read_bytes() and mine.stat().st_uid == 0
        assert steps_of(run_task(task, [host]))["edit"].status is Status.OK
    finally:
        mine.unlink(missing_ok=True)
