"""The web view and its API, through HTTP against the real application and a real journal (SQLite and
PostgreSQL): who may see and do what, forged forms, escaped text, the records the API returns.

The browser tests (test_browser.py) drive the same pages in chromium against `remote-support serve`."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402
from journal_support import journal, journal_url, postgres_server  # noqa: E402,F401 (fixtures)
from web_support import HOSTILE, PASSWORD, add_users, record_sample  # noqa: E402

from remote_support.journal_people import People  # noqa: E402
from remote_support.web.app import create_app  # noqa: E402


@pytest.fixture
def sample(journal):
    people = add_users(journal)
    return people, record_sample(journal)


@pytest.fixture
def app(journal, sample):
    return create_app(journal, people=sample[0])


def client(app) -> TestClient:
    return TestClient(app, follow_redirects=False)


def login(app, name: str, password: str = PASSWORD) -> TestClient:
    c = client(app)
    form = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = c.post("/login", data={"csrf": token, "name": name, "password": password, "next": "/runs"})
    assert answer.status_code == 303, answer.text
    return c


def csrf_of(c: TestClient, page: str = "/runs") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(page).text).group(1)


# -- who may see

@pytest.mark.parametrize("path", ["/runs", "/tickets/INC-1001", "/hosts/pc-042", "/escalations", "/compliance",
                                  "/search?q=x", "/tasks", "/approvals", "/audit", "/api/runs", "/api/tickets/INC-1001",
                                  "/api/hosts/pc-042", "/api/search?q=x", "/api/me"])
def test_unauthenticated_requests_get_401(app, path):
    answer = client(app).get(path)
    assert answer.status_code == 401
    if path.startswith("/api/"):
        assert answer.json()["status"] == 401
    else:
        assert 'action="/login"' in answer.text  # the login form, not the page


def test_a_forged_login_without_the_form_token_is_refused(app):
    answer = client(app).post("/login", data={"name": "alice", "password": PASSWORD})
    assert answer.status_code == 403
    assert "rs_session" not in answer.headers.get("set-cookie", "")


def test_wrong_password_is_401_and_repeated_failures_lock_the_account(journal, sample):
    people = People(journal, max_failed=3, lockout=timedelta(minutes=5))
    app = create_app(journal, people=people)
    c = client(app)
    for _ in range(3):
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        answer = c.post("/login", data={"csrf": token, "name": "bob", "password": "wrong password!"})
        assert answer.status_code == 401
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    answer = c.post("/login", data={"csrf": token, "name": "bob", "password": PASSWORD})
    assert answer.status_code == 401 and "locked" in answer.text
    actions = [e["action"] for e in people.audit_log()]
    assert actions.count("login.failed") == 4


def test_a_session_expires(journal, sample):
    app = create_app(journal, people=People(journal, session_ttl=timedelta(seconds=-1)))
    c = login(app, "alice")
    assert c.get("/runs").status_code == 401


def test_the_session_cookie_is_httponly_strict_and_secure_with_tls(journal, sample):
    for tls in (False, True):
        app = create_app(journal, people=sample[0], tls=tls)
        c = TestClient(app, follow_redirects=False, base_url="https://testserver" if tls else "http://testserver")
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        answer = c.post("/login", data={"csrf": token, "name": "alice", "password": PASSWORD})
        assert answer.status_code == 303
        cookie = [v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("rs_session=")][0]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert ("Secure" in cookie) == tls


def test_api_token_authenticates_and_a_wrong_one_is_401(app, sample):
    people = sample[0]
    token = people.new_token("bob", "script")
    c = client(app)
    assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "bob"
    assert c.get("/api/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401


# -- not found

def test_unknown_run_ticket_host_and_page_are_404_with_a_clear_page(app):
    c = login(app, "viewer")
    for path, words in (("/runs/20990101-0000-ffff", "unknown run id"), ("/tickets/NOPE-1", "no run is recorded"),
                        ("/hosts/no-such-host", "nothing is recorded"), ("/nowhere", "no page"),
                        ("/api/runs/20990101-0000-ffff", "unknown run id"), ("/approvals/999", "no approval")):
        answer = c.get(path)
        assert answer.status_code == 404, path
        assert words in answer.text, path


# -- who may do what

def test_a_viewer_starting_a_run_gets_403(app):
    c = login(app, "viewer")
    answer = c.post("/tasks/flush-dns/run", data={"csrf": csrf_of(c), "pattern": "pc-042", "check": "on"})
    assert answer.status_code == 403
    assert "viewer" in answer.text and "may not run" in answer.text


def test_level_1_may_not_start_a_level_2_task(app):
    c = login(app, "alice")
    answer = c.post("/tasks/restart-service/run", data={"csrf": csrf_of(c), "pattern": "pc-042",
                                                        "param.service": "cups", "check": "on"})
    assert answer.status_code == 403 and "needs level 2" in answer.text


def test_a_viewer_is_refused_through_the_api_too(app, sample):
    token = sample[0].new_token("viewer")
    answer = client(app).post("/api/runs", json={"task": "flush-dns", "pattern": "all"},
                              headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403


def test_forms_without_the_csrf_token_are_refused(app, sample):
    c = login(app, "alice")
    run_id = sample[1][0]
    for path, data in ((f"/runs/{run_id}/note", {"text": "forged"}), ("/logout", {}),
                       ("/tasks/flush-dns/run", {"pattern": "all"}), (f"/escalations/{run_id}/close", {})):
        assert c.post(path, data=data).status_code == 403, path
        assert c.post(path, data={**data, "csrf": "not-the-token"}).status_code == 403, path
    assert c.post(f"/api/runs/{run_id}/notes", json={"text": "forged"}).status_code == 403  # cookie, no header
    assert "forged" not in c.get(f"/runs/{run_id}").text
    assert "csrf.refused" in [e["action"] for e in sample[0].audit_log()]


def test_a_note_with_the_token_is_added_and_audited(app, sample):
    c = login(app, "viewer")  # viewers add notes
    run_id = sample[1][0]
    answer = c.post(f"/runs/{run_id}/note", data={"csrf": csrf_of(c), "text": "printer works again"})
    assert answer.status_code == 303
    assert "printer works again" in c.get(f"/runs/{run_id}").text
    entry = sample[0].audit_log()[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("viewer", "note.add", run_id)


# -- what is shown

@pytest.mark.parametrize("path", ["/runs", "/runs/{first}", "/runs/{second}", "/tickets/INC-1001", "/hosts/pc-042",
                                  "/escalations", "/search?q=locked", "/search?q=called", "/audit"])
def test_html_in_recorded_text_is_escaped(app, journal, sample, path):
    c = login(app, "viewer")
    sample[0].audit("viewer", "test", HOSTILE, HOSTILE)
    page = c.get(path.format(first=sample[1][0], second=sample[1][1]))
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    # shown, as text (PostgreSQL's search snippets leave out what its parser takes for markup)
    if path in ("/runs/{first}", "/audit") or (journal.is_sqlite and path.startswith("/search")):
        assert "&lt;script&gt;alert" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_no_secret_is_rendered(journal, sample):
    run_id = journal.start_run(kind="task", name="reset-password", command="x", params={"password": "Hunter2-secret!"},
                               inventory=[], pattern="pc-1", check=False, diff=False, ticket="INC-2", operator="alice",
                               hosts=["pc-1"], tool_version="t")
    app = create_app(journal, people=sample[0])
    c = login(app, "viewer")
    for path in (f"/runs/{run_id}", "/tickets/INC-2", f"/api/runs/{run_id}", "/api/tickets/INC-2"):
        text = c.get(path).text
        assert "Hunter2-secret!" not in text and "********" in text, path


def test_the_ticket_page_has_every_run_note_escalation_and_config_in_time_order(app, sample):
    c = login(app, "viewer")
    first, second = sample[1]
    page = c.get("/tickets/INC-1001").text
    order = [page.index(x) for x in (f'href="/runs/{first}">{first}', "user called back",
                                     f'href="/runs/{second}">{second}', "sw-1</a> v1", "vlan 20 appeared")]
    assert order == sorted(order)
    data = c.get("/api/tickets/INC-1001").json()
    assert [e["kind"] for e in data["events"]] == ["run", "file", "note", "run", "config", "config", "escalation"]
    assert data["events"][1]["src"] == "/var/log/auth.log" and "/srv/evidence/auth.log" in page
    assert set(data["hosts"]) == {"pc-042", "sw-1"}


def test_the_host_timeline_and_config_diff(app, sample):
    c = login(app, "viewer")
    page = c.get("/hosts/sw-1?a=1&b=2").text
    assert "net-backup" in page and "+vlan 20" in page
    assert c.get("/api/hosts/sw-1/diff", params={"a": 1, "b": 2}).json()["diff"].count("+vlan 20") == 1
    assert c.get("/api/hosts/pc-042").json()["history"][0]["failed_step"] == "smb check"


def test_the_api_returns_the_records_of_report_json(app, journal, sample):
    import json

    from remote_support.report import render_json

    c = login(app, "viewer")
    run_id = sample[1][0]
    assert c.get(f"/api/runs/{run_id}").json() == json.loads(render_json(journal.get_run(run_id)))
    listed = c.get("/api/runs", params={"ticket": "INC-1001", "per_page": 1}).json()
    assert listed["more"] is True and len(listed["runs"]) == 1
    assert c.get("/api/openapi.json").json()["info"]["title"] == "remote-support"


def test_runs_list_filters_and_pages(app, journal, sample):
    c = login(app, "viewer")
    for status in ("failed", "ok"):
        page = c.get("/runs", params={"status": status}).text
        assert ("unlock-user" in page) == (status == "failed")
    assert "net-backup" in c.get("/runs", params={"operator": "bob"}).text
    assert "net-backup" not in c.get("/runs", params={"operator": "alice"}).text
    assert "unlock-user" in c.get("/runs", params={"host": "pc-*", "since": "1d"}).text


def test_search_finds_step_output_and_notes(app, sample):
    c = login(app, "viewer")
    hits = c.get("/api/search", params={"q": "NT_STATUS_ACCOUNT_LOCKED_OUT"}).json()
    assert [(h["kind"], h["ticket"], h["host"], h["ref"]) for h in hits] == [("step", "INC-1001", "pc-042", "2")]
    assert "[NT_STATUS_ACCOUNT_LOCKED_OUT]" in hits[0]["snippet"]
    assert [h["kind"] for h in c.get("/api/search", params={"q": "vlan appeared"}).json()] == ["escalation"]
    assert "<mark>NT_STATUS_ACCOUNT_LOCKED_OUT</mark>" in c.get("/search", params={"q": "NT_STATUS_ACCOUNT_LOCKED_OUT"}).text


def test_escalations_inbox_and_closing(app, sample):
    c = login(app, "lead")
    page = c.get("/escalations").text
    assert "vlan 20 appeared" in page and "INC-1001" in page
    second = sample[1][1]
    assert c.post(f"/escalations/{second}/close", data={"csrf": csrf_of(c)}).status_code == 303
    assert "vlan 20 appeared" not in c.get("/escalations").text
    assert "vlan 20 appeared" in c.get("/escalations?all=true").text


def test_compliance_is_devices_by_rules_with_the_latest_backup(app):
    c = login(app, "viewer")
    data = c.get("/api/compliance").json()
    assert data["rules"] == ["no telnet", "ssh v2"]
    [device] = data["devices"]
    assert device["device"] == "sw-1" and device["compliant"] is False
    assert device["rules"] == {"no telnet": True, "ssh v2": False}
    assert device["backup"]["version"] == 2 and device["backup"]["age_hours"] < 1
    page = c.get("/compliance").text
    assert "FAIL" in page and "v2" in page


def test_a_secret_parameter_takes_only_a_reference_from_the_form(app, sample):
    c = login(app, "alice")  # reset-password is a level-1 task
    form = c.get("/tasks/reset-password").text
    assert 'name="param.new_password"' in form and "env:NAME or file:PATH" in form
    answer = c.post("/tasks/reset-password/run", data={"csrf": csrf_of(c), "pattern": "pc-042", "check": "on",
                                                       "param.user": "jdoe", "param.new_password": "Summer2026!"})
    assert answer.status_code == 400 and "give a reference" in answer.text
    assert "Summer2026!" not in answer.text
    assert "Summer2026!" not in str(sample[0].audit_log())
