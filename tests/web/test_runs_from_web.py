"""Runs started from the web view on the real sshd lab: levels, check mode first, live progress, cancel,
and requires_approval enforced in the application layer (api.prepare) for the browser, the API and the CLI."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from web_support import PASSWORD, add_users  # noqa: E402

from remote_support import api  # noqa: E402
from remote_support.errors import ApprovalRequired  # noqa: E402
from remote_support.journal import Journal  # noqa: E402
from remote_support.web.app import create_app  # noqa: E402

APPROVAL_TASK = """\
name: Write the message of the day
requires_approval: true
params:
  - {name: text, type: str, required: true}
  - {name: where, type: str, required: true}
steps:
  - name: write it
    copy: {content: "{{ text }}\\n", dest: "{{ where }}/motd-{{ inventory_hostname }}"}
"""

SLOW_TASK = """\
name: Wait a long time
steps:
  - name: wait
    command: sleep 60
"""


@pytest.fixture
def setup(lab, tmp_path, monkeypatch):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "web-motd.yml").write_text(APPROVAL_TASK)
    (tasks / "web-slow.yml").write_text(SLOW_TASK)
    monkeypatch.setenv("REMOTE_SUPPORT_TASKS", str(tasks))
    out = Path(tempfile.mkdtemp(prefix="rs-web-"))  # outside pytest's 0700 tree: the lab user writes here
    out.chmod(0o777)
    journal = Journal.open(str(tmp_path / "journal.sqlite"))
    people = add_users(journal)
    app = create_app(journal, inventory=[str(lab.inventory_path)], people=people)
    hosts = [h.name for h in lab.status()[95:97]]
    yield {"app": app, "journal": journal, "people": people, "hosts": hosts, "out": out, "lab": lab}
    app.state.registry.stop_all()
    journal.close()
    shutil.rmtree(out, ignore_errors=True)


def login(app, name: str) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"csrf": token, "name": name, "password": PASSWORD}).status_code == 303
    return c


def csrf(c: TestClient, page: str = "/tasks") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(page).text).group(1)


def finished(journal: Journal, run_id: str, within: float = 60):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        record = journal.get_run(run_id)
        if record.status != "running":
            return record
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still running after {within} s")


def _why(record) -> str:
    return "; ".join(f"{h.host} {h.status} {h.reason} " + " | ".join(f"{s.name}: {s.reason} {s.stderr}" for s in h.steps)
                     for h in record.hosts)


def start(c: TestClient, task: str, data: dict) -> str:
    answer = c.post(f"/tasks/{task}/run", data={"csrf": csrf(c), **data})
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def test_check_run_then_approval_by_another_approver_then_the_exact_request_runs_once(setup):
    app, journal, people, hosts, out = (setup[k] for k in ("app", "journal", "people", "hosts", "out"))
    bob, lead = login(app, "bob"), login(app, "lead")
    form = {"pattern": ",".join(hosts), "param.text": "maintenance tonight", "param.where": str(out),
            "ticket": "CHG-7"}
    check_id = start(bob, "web-motd", {**form, "check": "on"})
    record = finished(journal, check_id)
    assert record.check and record.status in ("changed", "ok"), _why(record)
    assert not list(out.iterdir())  # check mode wrote nothing
    page = bob.get(f"/runs/{check_id}").text
    assert "+maintenance tonight" in page and 'id="request-approval"' in page

    refused = bob.post("/tasks/web-motd/run", data={"csrf": csrf(bob), **form})  # the real run, unapproved
    assert refused.status_code == 403 and "requires approval" in refused.text

    asked = bob.post(f"/runs/{check_id}/request-approval", data={"csrf": csrf(bob)})
    approval_id = int(asked.headers["location"].rsplit("/", 1)[1])
    approval = people.approval(approval_id)
    assert approval.status == "pending" and "+maintenance tonight" in approval.diff
    assert bob.post(f"/approvals/{approval_id}/approve", data={"csrf": csrf(bob)}).status_code == 403  # own request
    alice = login(app, "alice")  # not an approver
    assert alice.post(f"/approvals/{approval_id}/approve", data={"csrf": csrf(alice)}).status_code == 403
    assert lead.post(f"/approvals/{approval_id}/approve", data={"csrf": csrf(lead)}).status_code == 303
    assert people.approval(approval_id).status == "approved"

    ran = bob.post(f"/approvals/{approval_id}/run", data={"csrf": csrf(bob)})
    assert ran.status_code == 303
    applied = finished(journal, ran.headers["location"].rsplit("/", 1)[1])
    assert not applied.check and applied.status == "changed"
    assert sorted(p.name for p in out.iterdir()) == sorted(f"motd-{h}" for h in hosts)
    assert people.approval(approval_id).status == "used"
    assert people.approval(approval_id).used_by_run == applied.id
    assert any("approval" in n.text for n in applied.notes)
    again = bob.post(f"/approvals/{approval_id}/run", data={"csrf": csrf(bob)})
    assert again.status_code == 403  # spent: one approval, one run
    actions = [e["action"] for e in people.audit_log()]
    assert {"run.start", "approval.request", "approval.approve", "run.refused"} <= set(actions)


def _request(setup, **changes) -> api.RunRequest:
    base = api.RunRequest(kind="task", what="web-motd", inventory=(str(setup["lab"].inventory_path),),
                          pattern=",".join(setup["hosts"]),
                          variables={"text": "hello", "where": str(setup["out"])}, diff=True, operator="bob")
    return base.replace(**changes)


def _approve(setup, request: api.RunRequest, *, ttl=timedelta(hours=1)) -> int:
    digest, _task, _hosts = setup["app"].state.registry.fingerprint(request)
    people = setup["people"]
    approval = people.request_approval(digest, request.to_record(), "test", "bob")
    people.decide(approval.id, people.user("lead"), True, ttl=ttl)
    return approval.id


def test_an_approval_covers_only_the_exact_request_and_expires(setup):
    journal = setup["journal"]
    request = _request(setup)
    _approve(setup, request)
    for other in (request.replace(variables={"text": "something else", "where": str(setup["out"])}),
                  request.replace(pattern=setup["hosts"][0]), request.replace(diff=False)):
        with pytest.raises(ApprovalRequired, match="requires approval"):
            api.prepare(other, journal=journal)
    expired = _request(setup, variables={"text": "late", "where": str(setup["out"])})
    _approve(setup, expired, ttl=timedelta(seconds=-1))
    with pytest.raises(ApprovalRequired):
        api.prepare(expired, journal=journal)
    with pytest.raises(ApprovalRequired):  # the approver cannot run what they approved
        api.prepare(request.replace(operator="lead"), journal=journal)
    run = api.prepare(request, journal=journal)  # the exact request: approved
    assert run.execute().exit_code == 0


def test_the_cli_obeys_requires_approval_and_check_mode_needs_none(setup, tmp_path):
    import os
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "journal.sqlite")}
    args = [sys.executable, "-m", "remote_support", "run", "web-motd", "-i", str(setup["lab"].inventory_path), "-l",
            setup["hosts"][0], "-e", "text=x", "-e", f"where={setup['out']}"]
    refused = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 5 and "requires approval" in refused.stderr
    checked = subprocess.run(args + ["--check"], env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr


def test_a_host_variable_requires_approval_too(setup, tmp_path):
    host = setup["hosts"][0]
    extra = tmp_path / "guarded.yml"  # a second inventory source that marks the host
    extra.write_text(f"all:\n  hosts:\n    {host}:\n      requires_approval: true\n")
    request = api.RunRequest(kind="exec", what="true", inventory=(str(setup["lab"].inventory_path), str(extra)),
                             pattern=host, operator="bob")
    with pytest.raises(ApprovalRequired):
        api.prepare(request, journal=setup["journal"])
    assert api.prepare(request.replace(check=True), journal=setup["journal"]).execute().exit_code == 0
    unmarked = request.replace(inventory=(str(setup["lab"].inventory_path),))
    assert api.prepare(unmarked, journal=setup["journal"]).execute().exit_code == 0


def test_live_progress_and_cancel_from_the_browser(setup):
    app, journal, hosts = setup["app"], setup["journal"], setup["hosts"]
    bob = login(app, "bob")
    run_id = start(bob, "web-slow", {"pattern": ",".join(hosts)})  # check unticked: a real run
    page = bob.get(f"/runs/{run_id}").text
    assert 'hx-get="/runs/' in page and 'hx-trigger="every 1s"' in page and 'id="cancel"' in page
    progress = bob.get(f"/runs/{run_id}/progress")
    assert "running" in progress.text and "HX-Refresh" not in progress.headers
    viewer = login(app, "viewer")
    assert viewer.post(f"/runs/{run_id}/cancel", data={"csrf": csrf(viewer, f"/runs/{run_id}")}).status_code == 403
    assert bob.post(f"/runs/{run_id}/cancel", data={"csrf": csrf(bob, f"/runs/{run_id}")}).status_code == 303
    record = finished(journal, run_id, within=30)
    assert record.status == "interrupted"
    done = bob.get(f"/runs/{run_id}/progress")
    assert done.headers.get("HX-Refresh") == "true" and "finished" in done.text
