"""Paths derived from host names stay inside their destination: fetch, escalation bundles.

Host names come from an inventory someone else may have written (or from a dynamic source): ``../../x``
and ``/abs`` must not make ``fetch`` write outside ``dest``, nor a bundle hold a member outside its root.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from remote_support.results import Status
from task_support import lab_hosts, run_task, steps_of, write_task


@pytest.fixture
def source():
    """A file the lab user can read (the lab hosts share this machine's file system)."""
    path = Path(f"/tmp/rs-t-fetch-paths-{os.getpid()}") / "on-host.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text("evidence\n")
    os.chmod(path.parent, 0o755)
    yield path
    path.unlink()
    path.parent.rmdir()


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/rs-abs-escape", "..", "a/../../b"])
def test_fetch_keeps_hostile_host_names_inside_dest(lab, tmp_path, source, name):
    task = write_task(tmp_path / "task", f"""
        steps:
          - name: get
            fetch: {{src: "{source}"}}
        """)
    dest = tmp_path / "out" / "fetched"
    [host] = lab_hosts(lab, [16])
    host = replace(host, name=name)
    run = run_task(task, [host], fetch_dir=dest)
    step = steps_of(run)["get"]
    assert step.status is Status.CHANGED, step.reason
    local = Path(step.data["dest"])
    assert os.path.commonpath([os.path.realpath(local), os.path.realpath(dest)]) == os.path.realpath(dest)
    assert local.read_text() == "evidence\n"
    assert not Path("/tmp/rs-abs-escape").exists()
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "out" / "escaped").exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name == "on-host.txt" and p != source]
    assert written == [local]


def test_fetch_refuses_a_link_planted_under_dest(lab, tmp_path, source):
    dest = tmp_path / "fetched"
    outside = tmp_path / "outside"
    outside.mkdir()
    [host] = lab_hosts(lab, [16])
    dest.mkdir()
    (dest / host.name).symlink_to(outside)  # dest/<host> -> somewhere else
    task = write_task(tmp_path / "task", f"""
        steps:
          - {{name: get, fetch: {{src: "{source}"}}}}
        """)
    step = steps_of(run_task(task, [host], fetch_dir=dest))["get"]
    assert step.status is Status.FAILED and "outside" in step.reason
    assert not any(outside.rglob("*"))


def test_escalation_bundle_members_stay_inside(tmp_path):
    import time

    from remote_support.journal import Journal
    from remote_support.results import HostResult, RunResult, StepResult

    journal = Journal.open(f"sqlite:///{tmp_path / 'j.sqlite'}")
    names = ["../../etc/passwd", "/abs/host"]
    run_id = journal.start_run(kind="exec", name="x", command="x", params={}, inventory=[], pattern="all",
                               check=False, diff=False, ticket=None, operator="t", hosts=names,
                               tool_version="0")
    for name, step_name in zip(names, ["../../../x", "/etc/shadow"]):
        now = time.time()
        journal.record_host(run_id, HostResult(name, Status.OK, (StepResult(step_name, Status.OK, stdout="a"),),
                                               "", now - 1, now))
    journal.finish_run(run_id, RunResult(hosts=()))
    from remote_support.handover import escalate

    bundle = escalate(journal, run_id, "L3", "look", files=[], out=tmp_path / "bundles")
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
    for member in names:
        assert not member.startswith("/") and ".." not in Path(member).parts, member
    assert len([n for n in names if n.startswith("hosts/")]) >= 2
