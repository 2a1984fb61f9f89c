"""unarchive (steps/unarchive.py) on real lab hosts: tar.gz and zip, from the controller and from the
host, idempotent, check mode; and malicious archives (.., absolute paths, links out of dest, links
chained through each other, a symlink already in dest) refused whole, with nothing written anywhere."""

from __future__ import annotations

import io
import secrets
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from remote_support.results import Status
from remote_support.steps.unarchive import UnsafeArchive, inspect_archive
from task_support import lab_hosts, run_task, steps_of, write_task


def make_tar(entries: list[tuple], compression: str = "gz") -> bytes:
    """entries: (name, "file", content) | (name, "dir") | (name, "sym", target) | (name, "hard", target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:
        for name, kind, *rest in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid = info.gid = 4242  # an owner the archive claims, which must not be kept
            if kind in ("file", "setuid"):
                data = rest[0]
                info.size, info.mode = len(data), 0o4755 if kind == "setuid" else 0o644
                archive.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            archive.addfile(info)
    return buffer.getvalue()


def make_zip(entries: list[tuple]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, kind, *rest in entries:
            if kind == "file":
                archive.writestr(name, rest[0])
            elif kind == "sym":
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, rest[0])
    return buffer.getvalue()


GOOD = [("tool", "dir"), ("tool/bin", "dir"), ("tool/bin/run", "file", b"#!/bin/sh\necho run\n"),
        ("tool/README", "file", b"read me\n"), ("tool/current", "sym", "bin"),
        ("tool/README.hard", "hard", "tool/README")]

MALICIOUS = {
    "dotdot": [("ok", "file", b"x"), ("../../CANARY", "file", b"owned\n")],
    "absolute": [("/CANARY", "file", b"owned\n")],
    "symlink out": [("out", "sym", "../../.."), ("out/CANARY", "file", b"owned\n")],
    "absolute symlink": [("etc", "sym", "/etc")],
    "through a symlink": [("up", "sym", ".."), ("up/CANARY", "file", b"owned\n")],
    "hard link out": [("pw", "hard", "../../../etc/passwd")],
    "chained links": [("d", "dir"), ("l", "sym", "d/e/../../CANARY"), ("d/e", "sym", ".")],
    "loop": [("a", "sym", "b"), ("b", "sym", "a"), ("a/x", "file", b"x")],
    "fifo": [("pipe", "fifo")],
    "setuid": [("bin/su2", "setuid", b"#!/bin/sh\n")],
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_every_malicious_member_is_refused_by_the_inspection(name):
    with pytest.raises(UnsafeArchive):
        inspect_archive(make_tar(MALICIOUS[name]))


def test_zip_symlinks_are_checked_too():
    with pytest.raises(UnsafeArchive):
        inspect_archive(make_zip([("out", "sym", "../../etc"), ("ok", "file", b"x")]))
    fmt, members = inspect_archive(make_zip([("a/b.txt", "file", b"b"), ("a/link", "sym", "b.txt")]))
    assert fmt == "zip" and {m.path for m in members} == {"a/b.txt", "a/link"}


@pytest.fixture
def place():
    """dest (a fresh directory) inside a parent where a CANARY must never appear; removed afterwards."""
    parent = Path(f"/tmp/rstest-unarc-{secrets.token_hex(3)}")
    dest = parent / "a" / "dest"
    dest.mkdir(parents=True)
    parent.chmod(0o755)
    yield parent, dest
    shutil.rmtree(parent, ignore_errors=True)


def unarchive_task(tmp_path, dest, src, remote=False, name="task.yml"):
    return write_task(tmp_path, f"""
        name: unpack
        steps:
          - name: unpack
            unarchive: {{src: "{src}", dest: {dest}, remote_src: {str(remote).lower()}}}
            become: true
        """, name=name)


@pytest.mark.parametrize("fmt", ["tgz", "zip"])
def test_unpacks_from_the_controller_then_is_ok_and_check_mode_writes_nothing(lab, tmp_path, place, fmt):
    parent, dest = place
    entries = GOOD if fmt == "tgz" else [e for e in GOOD if e[1] == "file"] + [("tool/current", "sym", "bin")]
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / f"bundle.{fmt}").write_bytes(make_tar(entries) if fmt == "tgz" else make_zip(entries))
    task = unarchive_task(tmp_path, dest, f"bundle.{fmt}")
    host = lab_hosts(lab, [70])

    run = run_task(task, host, check=True)
    step = steps_of(run)["unpack"]
    assert step.status is Status.CHANGED and step.reason.startswith("check mode: would unpack")
    assert f"{dest}/tool/bin/run\n" in step.diff
    assert list(dest.iterdir()) == []

    run = run_task(task, host, diff=True)
    step = steps_of(run)["unpack"]
    assert step.status is Status.CHANGED, step.reason
    assert (dest / "tool/bin/run").read_bytes() == b"#!/bin/sh\necho run\n"
    assert (dest / "tool/bin/run").stat().st_uid == 0, "owned by who unpacked, not by the archive's uid"
    assert (dest / "tool/current").is_symlink() and (dest / "tool/current").resolve() == dest / "tool/bin"
    if fmt == "tgz":
        assert (dest / "tool/README.hard").read_bytes() == b"read me\n"
    assert steps_of(run_task(task, host))["unpack"].status is Status.OK

    (dest / "tool/README").write_bytes(b"changed locally\n")
    run = run_task(task, host)
    assert steps_of(run)["unpack"].data["extracted"][:1] == ["tool/README"]
    assert (dest / "tool/README").read_bytes() == b"read me\n"


def test_unpacks_an_archive_already_on_the_host(lab, tmp_path, place):
    parent, dest = place
    archive = parent / "on-host.tar.xz"
    archive.write_bytes(make_tar(GOOD, "xz"))
    task = unarchive_task(tmp_path, dest, archive, remote=True)
    host = lab_hosts(lab, [71])
    run = run_task(task, host)
    assert steps_of(run)["unpack"].status is Status.CHANGED, steps_of(run)["unpack"].reason
    assert (dest / "tool/bin/run").exists()
    assert steps_of(run_task(task, host))["unpack"].status is Status.OK


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_a_malicious_archive_is_refused_on_the_lab_and_nothing_is_written(lab, tmp_path, place, name):
    parent, dest = place
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "evil.tgz").write_bytes(make_tar(MALICIOUS[name]))
    run = run_task(unarchive_task(tmp_path, dest, "evil.tgz"), lab_hosts(lab, [72]))
    step = steps_of(run)["unpack"]
    assert step.status is Status.FAILED and step.reason.startswith("refused to unpack evil.tgz: member ")
    assert "nothing was extracted" in step.reason
    assert list(dest.iterdir()) == [], "not even the harmless members"
    assert not list(parent.rglob("CANARY")) and not Path("/CANARY").exists()


def test_a_symlink_already_in_dest_that_leads_out_is_refused(lab, tmp_path, place):
    parent, dest = place
    outside = parent / "outside"
    outside.mkdir()
    (dest / "tool").symlink_to(outside)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "bundle.tgz").write_bytes(make_tar(GOOD))
    run = run_task(unarchive_task(tmp_path, dest, "bundle.tgz"), lab_hosts(lab, [73]))
    step = steps_of(run)["unpack"]
    assert step.status is Status.FAILED and "already exists on the host and leads outside" in step.reason
    assert list(outside.iterdir()) == []


def test_a_missing_controller_archive_is_refused_at_load(tmp_path):
    from remote_support.errors import TaskError
    from remote_support.tasks import load_task

    with pytest.raises(TaskError) as error:
        load_task(unarchive_task(tmp_path, "/tmp/x", "missing.tgz"))
    assert "not found" in str(error.value) and "remote_src: true" in str(error.value)
    with pytest.raises(TaskError) as error:
        load_task(unarchive_task(tmp_path, "relative", "missing.tgz", remote=True, name="b.yml"))
    assert "absolute path" in str(error.value) and "b.yml:5" in str(error.value)
