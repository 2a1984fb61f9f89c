"""A recorded session in the web view: its recording as asciicast v2 from the run's .cast route, the vendored
asciinema-player on the run page (Debian's chromium through Selenium, against `remote-support serve` as a
process), and its screen text in the search. The session is written through the recorder and the journal
as `shell` writes it, without a terminal."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import PASSWORD, Server, add_users  # noqa: E402

from remote_support import __version__  # noqa: E402
from remote_support.journal import Journal  # noqa: E402
from remote_support.sessions.recorder import SessionRecorder  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WORD = "quokka-disk-full"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("player")
    journal_path = base / "journal.sqlite"
    with Journal.open(str(journal_path)) as journal:
        people = add_users(journal)
        tokens = {name: people.new_token(name) for name in ("viewer", "alice")}
        session = journal.start_run(kind="session", name="shell h1", command=None, params={}, inventory=[],
                                    pattern="h1", check=False, diff=False, ticket="INC-4242", operator="alice",
                                    hosts=["h1"], tool_version=__version__)
        recorder = SessionRecorder(journal, session, 80, 24, env={"TERM": "xterm"}, title="h1 INC-4242")
        recorder.output(b"$ df -h /var\r\n")
        recorder.output(f"/dev/sda1  20G  20G  0 100% /var  {WORD}\r\n$ ".encode())
        recorder.close()
        other = journal.start_run(kind="exec", name="uptime", command="uptime", params={}, inventory=[],
                                  pattern="h1", check=False, diff=False, ticket=None, operator="alice",
                                  hosts=["h1"], tool_version=__version__)
    server = Server(f"sqlite:///{journal_path}")
    try:
        yield {"server": server, "session": session, "other": other, "tokens": tokens}
    finally:
        server.stop()


def get(site, path: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {site['tokens'][token]}"} if token else {}
    return urllib.request.urlopen(urllib.request.Request(site["server"].url + path, headers=headers), timeout=10)


def test_the_cast_route_is_asciicast_v2_for_a_viewer_and_401_without_login(site):
    path = f"/runs/{site['session']}/session.cast"
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(site, path)
    assert refused.value.code == 401
    with get(site, path, "viewer") as answer:
        assert answer.headers["Content-Type"].startswith("application/x-asciicast")
        lines = answer.read().decode().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] == 80 and header["height"] == 24
    events = [json.loads(line) for line in lines[1:]]
    assert all(isinstance(t, float) and kind in "oir" for t, kind, _ in events)
    assert WORD in "".join(data for _, kind, data in events if kind == "o")
    with pytest.raises(urllib.error.HTTPError) as not_a_session:
        get(site, f"/runs/{site['other']}/session.cast", "viewer")
    assert not_a_session.value.code == 400


def test_the_web_search_finds_what_the_session_screen_showed(site):
    with get(site, "/api/search?" + urllib.parse.urlencode({"q": WORD, "kind": "session"}), "viewer") as answer:
        hits = json.loads(answer.read())
    assert [(h["kind"], h["run_id"], h["ticket"]) for h in hits] == [("session", site["session"], "INC-4242")]
    with get(site, "/api/search?" + urllib.parse.urlencode({"q": WORD, "kind": "step"}), "viewer") as answer:
        assert json.loads(answer.read()) == []


def test_the_session_run_page_plays_the_recording_under_the_csp(site):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; make test installs them)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        url = site["server"].url
        driver.get(url + "/login")
        driver.find_element("id", "name").send_keys("viewer")
        driver.find_element("id", "password").send_keys(PASSWORD)
        driver.find_element("id", "login").click()
        WebDriverWait(driver, 30).until(lambda d: "viewer (" in d.find_element("css selector", ".me").text)
        driver.get(f"{url}/runs/{site['session']}")
        # the player replaces the empty element with its own; with preload it shows the first frame
        WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d: d.find_elements("css selector", "#session-player .ap-player"))
        WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d: d.find_elements("css selector", "#session-player .ap-play-button, #session-player .ap-term"))
        # playing it shows what the technician saw
        driver.find_element("css selector", "#session-player .ap-player").click()
        WebDriverWait(driver, 30, poll_frequency=0.2).until(
            lambda d: WORD in d.find_element("css selector", "#session-player").text)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
                  and "favicon.ico" not in e["message"]]
        assert errors == [], errors  # nothing refused by the Content-Security-Policy, no script error
        # a run of another kind has no player and loads none of it
        driver.get(f"{url}/runs/{site['other']}")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", "#summary"))
        assert not driver.find_elements("css selector", "#session-player")
        assert "asciinema-player" not in driver.page_source
    finally:
        driver.quit()
    with get(site, f"/runs/{site['session']}", "viewer") as answer:
        csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "'unsafe-inline'" not in csp
    with get(site, f"/runs/{site['other']}", "viewer") as answer:
        assert "script-src 'self';" in answer.headers["Content-Security-Policy"]
