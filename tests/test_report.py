"""Reports of a recorded run: one self-contained HTML page, JUnit XML, JSON."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from lxml import etree

from journal_support import journal, journal_url, postgres_server  # noqa: F401 (fixtures)
from remote_support.report import JSON_FORMAT_VERSION, HOST_STATUSES, render_html, render_json, render_junit
from remote_support.results import HostResult, RunResult, Status, StepResult
from remote_support.secrets import MASK, MASKED

SECRET = "Report-s3cret-6620"
XSD = Path(__file__).parent / "data" / "junit" / "junit-10.xsd"  # Jenkins xunit-plugin's; see its README
XSS = "<script>alert('pwned')</script>"
DIFF = "--- a/etc/motd\n+++ b/etc/motd\n@@ -1,2 +1,2 @@\n welcome\n-old line\n+new line & <b>\n"


@pytest.fixture
def recorded(journal):
    """A finished run: changed, failed (with hostile output), unreachable, skipped and pending-then-skipped hosts."""
    MASK.add(SECRET)
    run_id = journal.start_run(kind="task", name="motd & <update>", command=None,
                               params={"message": "hello", "api_token": "tok-report-1234"},
                               inventory=["inventories/prod.yml"], pattern="all", check=False, diff=True,
                               ticket="INC-77", operator="alice", hosts=["web1", "web2", "db1", "mail1", "late1"],
                               tool_version="0.1.0")
    now = time.time()
    journal.record_host(run_id, HostResult("web1", Status.CHANGED, (
        StepResult("gather facts", Status.OK, command="uname -a", rc=0, stdout="Linux web1\n", duration=0.2),
        StepResult("write motd", Status.CHANGED, command="cat > /etc/motd", rc=0, diff=DIFF, duration=0.4),
        StepResult("optional check", Status.FAILED, command="test -f /x", rc=1, reason="exit code 1",
                   ignored=True),
    ), "", now - 2, now), facts={"os_family": "Debian", "fqdn": "web1.example.net"})
    journal.record_host(run_id, HostResult("web2", Status.FAILED, (
        StepResult("gather facts", Status.OK, command="uname -a", rc=0, stdout="Linux web2\n"),
        StepResult("write motd", Status.FAILED, command=f"login {SECRET}", rc=2, stdout=f"{XSS}\npass={SECRET}\n",
                   stderr=f"denied {SECRET} \x1b[31mred\x1b[0m\x00", reason="exit code 2", attempts=3),
        StepResult("restart", Status.SKIPPED, reason="a previous step failed"),
    ), "step 'write motd' failed", now - 3, now))
    journal.record_host(run_id, HostResult("db1", Status.UNREACHABLE, (), "connection refused (port 22)", now, now))
    journal.record_host(run_id, HostResult("mail1", Status.SKIPPED, (
        StepResult("write motd", Status.SKIPPED, reason="when: os_family == 'RedHat' is false"),), "", now, now))
    journal.finish_run(run_id, RunResult(hosts=()))
    journal.add_note(run_id, f"web2 needs L2 {XSS}", author="bob")
    return journal.get_run(run_id)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_one_self_contained_escaped_page(recorded):
    page = render_html(recorded)
    parser = _Page()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    text = "".join(parser.text)

    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not any(k in ("src", "srcset") or (k == "href" and not v.startswith("#"))
                   for _, attrs in parser.tags for k, v in attrs.items())
    assert "style" in tags and "details" in tags
    assert XSS in text  # shown as text, not run
    assert "motd & <update>" in text
    assert SECRET not in page and "tok-report-1234" not in page and MASKED in text
    assert "\x00" not in page

    root = ET.fromstring(page)  # well-formed: every tag closed, only XML entities
    hosts = root.find(".//table[@class='hosts']")
    rows = [[("".join(td.itertext())).strip() for td in tr.findall("td")] for tr in hosts.findall("tr")[1:]]
    assert [(r[0], r[1]) for r in rows] == [("web1", "changed"), ("web2", "failed"), ("db1", "unreachable"),
                                           ("mail1", "skipped"), ("late1", "skipped")]
    assert rows[2][4] == "connection refused (port 22)"
    badges = {span.text for span in hosts.iter("span") if "status" in span.get("class", "")}
    assert badges == {"changed", "failed", "unreachable", "skipped"}
    summary = "".join(root.find(".//table[@class='summary']").itertext())
    for expected in ("INC-77", "alice (", "1 unreachable", "1 failed", "1 changed", "2 skipped", "exit code 4"):
        assert expected in summary

    diff = root.find(".//pre[@class='diff']")
    assert [(s.get("class"), s.text) for s in diff] == [
        ("file", "--- a/etc/motd"), ("file", "+++ b/etc/motd"), ("hunk", "@@ -1,2 +1,2 @@"),
        ("ctx", " welcome"), ("del", "-old line"), ("add", "+new line & <b>")]
    opened = [d for d in root.iter("details") if d.get("open")]
    assert len(opened) == 1 and "write motd" in "".join(opened[0].find("summary").itertext())
    assert "3 attempts" in "".join(opened[0].find("summary").itertext())
    assert "failure ignored" in page and "web1.example.net" in page
    assert f"web2 needs L2 {XSS}" in text


def test_junit_counts_match_the_statuses(recorded):
    root = ET.fromstring(render_junit(recorded))
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("web1", "01 gather facts"), ("web1", "02 write motd"), ("web1", "03 optional check"),
        ("web2", "01 gather facts"), ("web2", "02 write motd"), ("web2", "03 restart"),
        ("db1", "(host)"), ("mail1", "01 write motd"), ("late1", "(host)")]
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name") for c in failures] == ["02 write motd"] and failures[0].get("classname") == "web2"
    assert [(c.get("classname"), c.find("error").get("type")) for c in errors] == [("db1", "unreachable")]
    assert [c.get("classname") for c in skipped] == ["web2", "mail1", "late1"]
    for element in (root, suite):
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == (str(len(cases)), "1", "1")
    assert suite.get("skipped") == "3" and root.get("skipped") is None  # junit-10.xsd refuses it on testsuites
    assert suite.get("name") == "motd & <update>" and suite.get("id") == recorded.id
    assert failures[0].find("failure").get("message") == "exit code 2"
    assert XSS in failures[0].find("system-out").text
    assert SECRET not in ET.tostring(root, encoding="unicode")
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["ticket"] == "INC-77" and properties["run_id"] == recorded.id
    assert properties["check"] == "False"


def test_json_round_trips(recorded):
    text = render_json(recorded)
    data = json.loads(text)
    expected = json.loads(json.dumps(recorded.to_dict()))
    assert data["format_version"] == JSON_FORMAT_VERSION == 1
    assert data["summary"] == {"ok": 0, "changed": 1, "failed": 1, "unreachable": 1, "skipped": 2,
                               "interrupted": 0, "pending": 0}
    assert data == expected
    assert data["id"] == recorded.id and data["params"]["api_token"] == MASKED
    assert [h["status"] for h in data["hosts"]] == ["changed", "failed", "unreachable", "skipped", "skipped"]
    assert data["hosts"][1]["steps"][1]["stdout"].startswith(XSS)
    assert SECRET not in text


# ------------------------------------------------------------------------- JUnit against junit-10.xsd

@pytest.fixture(scope="module")
def junit_schema():
    return etree.XMLSchema(etree.parse(str(XSD)))


def _validate(schema, text: str) -> None:
    document = etree.fromstring(text.encode())
    if not schema.validate(document):
        raise AssertionError("\n".join(str(e) for e in schema.error_log))


def test_junit_is_valid_against_jenkins_junit_10_xsd(recorded, junit_schema):
    _validate(junit_schema, render_junit(recorded))


def test_the_schema_refuses_what_the_old_report_wrote(recorded, junit_schema):
    """The check can fail: ``skipped`` on testsuites (the old report) and a time with a unit are refused."""
    root = etree.fromstring(render_junit(recorded).encode())
    root.set("skipped", "3")
    assert not junit_schema.validate(root)
    assert "skipped" in str(junit_schema.error_log)
    root = etree.fromstring(render_junit(recorded).encode())
    root.find("testsuite").set("time", "1.5s")
    assert not junit_schema.validate(root)


def test_exec_run_suite_is_named_by_a_short_command_and_valid(journal, junit_schema):
    command = "for i in 1 2 3; do echo $i; done; " + "x" * 100 + "\nsecond line"
    run_id = journal.start_run(kind="exec", name=command, command=command, params={}, inventory=["inv"],
                               pattern="all", check=False, diff=False, ticket=None, operator=None,
                               hosts=["h1", "h2"], tool_version="0.1.0")
    now = time.time()
    journal.record_host(run_id, HostResult("h1", Status.CHANGED, (
        StepResult("command", Status.CHANGED, command=command, rc=0, stdout="1\n2\n3\n"),), "", now, now))
    journal.record_host(run_id, HostResult("h2", Status.FAILED, (
        StepResult("command", Status.FAILED, command=command, rc=1, stderr="boom\x1b[0m", reason="exit code 1"),),
        "", now, now))
    journal.finish_run(run_id, RunResult(hosts=()))
    record = journal.get_run(run_id)
    text = render_junit(record)
    _validate(junit_schema, text)
    suite = etree.fromstring(text.encode()).find("testsuite")
    assert suite.get("name").startswith("exec: for i in 1 2 3; do echo $i; done; xxx")
    assert len(suite.get("name")) == len("exec: ") + 60 and suite.get("name").endswith("\u2026")
    assert suite.get("id") == run_id


def test_junit_of_a_run_still_pending_is_valid(journal, junit_schema):
    run_id = journal.start_run(kind="task", name="diagnose", command="/tasks/diagnose.yml", params={},
                               inventory=["inv"], pattern="all", check=True, diff=False, ticket="T-1",
                               operator="op", hosts=["p1"], tool_version="0.1.0")
    text = render_junit(journal.get_run(run_id))
    _validate(junit_schema, text)
    suite = etree.fromstring(text.encode()).find("testsuite")
    assert suite.get("name") == "diagnose" and suite.get("skipped") == "1"


def test_junit_timestamp_carries_its_zone(recorded):
    suite = ET.fromstring(render_junit(recorded)).find("testsuite")
    stamp = suite.get("timestamp")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp), stamp
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert abs((parsed - recorded.started_at).total_seconds()) < 1


def test_json_counts_every_status_even_when_none(journal):
    run_id = journal.start_run(kind="exec", name="uptime", command="uptime", params={}, inventory=["inv"],
                               pattern="all", check=False, diff=False, ticket=None, operator=None,
                               hosts=["a"], tool_version="0.1.0")
    data = json.loads(render_json(journal.get_run(run_id)))
    assert data["format_version"] == JSON_FORMAT_VERSION
    assert list(data["summary"]) == list(HOST_STATUSES)
    assert data["summary"]["pending"] == 1 and sum(data["summary"].values()) == 1
