"""The web view in a real browser: Debian's chromium driven by Selenium (chromium-driver; nothing
downloaded) against `remote-support serve` started as a process of the test on a free loopback port, with
runs on the real sshd lab.

RS_SCREENSHOT_DIR=docs/screenshots makes the tests save the README's screenshots of the main pages.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import HOSTILE, PASSWORD, Server, add_users, record_sample  # noqa: E402

from remote_support.journal import Journal  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

APPROVAL_TASK = """\
name: Write the message of the day
description: Write a message of the day file (a change that needs a second pair of eyes).
requires_approval: true
params:
  - {name: text, type: str, required: true, description: the message}
  - {name: where, type: str, required: true, description: directory of the file}
steps:
  - name: write it
    copy: {content: "{{ text }}\\n", dest: "{{ where }}/motd-{{ inventory_hostname }}"}
"""


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver; make test installs them)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    base = tmp_path_factory.mktemp("browser")
    tasks = base / "tasks"
    tasks.mkdir()
    (tasks / "web-motd.yml").write_text(APPROVAL_TASK)
    out = Path(tempfile.mkdtemp(prefix="rs-browser-"))
    out.chmod(0o777)  # the lab user writes here
    journal_path = base / "journal.sqlite"
    with Journal.open(str(journal_path)) as journal:
        add_users(journal)
        runs = record_sample(journal)
    server = Server(f"sqlite:///{journal_path}", inventory=str(lab.inventory_path),
                    env={"REMOTE_SUPPORT_TASKS": str(tasks)})
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    driver = None
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.implicitly_wait(0)
        yield {"server": server, "driver": driver, "runs": runs, "out": out, "lab": lab,
               "hosts": [h.name for h in lab.status()[97:99]], "journal": journal_path}
    finally:
        if driver is not None:
            driver.quit()  # stops chromedriver by its PID
        server.stop()
        shutil.rmtree(out, ignore_errors=True)


def wait_for(driver, condition, timeout: float = 30):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(
        NoSuchElementException, StaleElementReferenceException)).until(condition)


def wait_text(driver, css: str, words: str, timeout: float = 30) -> str:
    """The text of the element ``css`` once it holds ``words`` (pages change under the driver: ask again)."""
    wait_for(driver, lambda d: words in d.find_element("css selector", css).text, timeout)
    return driver.find_element("css selector", css).text


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def screenshot(driver, name: str) -> None:
    folder = os.environ.get("RS_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def login(site, name: str) -> None:
    driver, url = site["driver"], site["server"].url
    driver.delete_all_cookies()
    driver.get(url + "/login")
    by_id(driver, "name").send_keys(name)
    by_id(driver, "password").send_keys(PASSWORD)
    by_id(driver, "login").click()
    wait_text(driver, ".me", f"{name} (")


def test_unauthenticated_is_401_and_the_login_form_works(site):
    driver, url = site["driver"], site["server"].url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "/runs", timeout=10)
    assert refused.value.code == 401
    driver.delete_all_cookies()
    driver.get(url + "/runs")
    assert by_id(driver, "login")  # the login form in place of the page
    by_id(driver, "name").send_keys("alice")
    by_id(driver, "password").send_keys("not the password")
    by_id(driver, "login").click()
    wait_text(driver, "#message", "wrong user name or password")
    login(site, "alice")
    assert "unlock-user" in by_id(driver, "runs").text
    screenshot(driver, "runs")


def test_the_ticket_page_shows_the_story_with_html_escaped(site):
    driver, url = site["driver"], site["server"].url
    login(site, "viewer")
    driver.get(url + "/tickets/INC-1001")
    timeline = by_id(driver, "timeline").text
    assert "unlock-user" in timeline and "net-backup" in timeline and "vlan 20 appeared" in timeline
    assert "user called back " + HOSTILE in timeline  # shown as text
    assert driver.find_elements("css selector", "img[src=x]") == []  # not as markup
    screenshot(driver, "ticket")
    driver.get(url + f"/runs/{site['runs'][0]}")
    step = [d for d in driver.find_elements("css selector", "details.step") if "smb check" in d.text][0]
    assert step.get_attribute("open") is not None and "NT_STATUS_ACCOUNT_LOCKED_OUT" in step.text
    assert HOSTILE in driver.find_element("css selector", "pre.stdout").text
    screenshot(driver, "run")


def test_the_host_timeline_and_a_config_diff(site):
    from selenium.webdriver.support.ui import Select

    driver, url = site["driver"], site["server"].url
    login(site, "viewer")
    driver.get(url + "/hosts/sw-1")
    assert "net-backup" in by_id(driver, "history").text
    Select(by_id(driver, "diff-a")).select_by_value("1")
    Select(by_id(driver, "diff-b")).select_by_value("2")
    by_id(driver, "show-diff").click()
    wait_text(driver, "#diff", "+vlan 20")
    screenshot(driver, "host")


def test_unknown_run_is_a_404_page(site):
    driver, url = site["driver"], site["server"].url
    login(site, "viewer")
    driver.get(url + "/runs/20990101-0000-ffff")
    assert "Not found" in driver.find_element("tag name", "h1").text
    assert "unknown run id" in by_id(driver, "message").text


def test_a_viewer_is_refused_a_run(site):
    driver, url = site["driver"], site["server"].url
    login(site, "viewer")
    driver.get(url + "/tasks/flush-dns")
    by_id(driver, "pattern").send_keys(site["hosts"][0])
    by_id(driver, "start").click()
    wait_text(driver, "h1", "Not allowed")
    assert "may not run" in by_id(driver, "message").text


def test_a_forged_form_without_the_csrf_token_is_refused(site):
    driver, url = site["driver"], site["server"].url
    login(site, "alice")
    driver.get(url + f"/runs/{site['runs'][0]}")
    driver.execute_script("document.querySelector('form.note-form input[name=csrf]').remove()")
    by_id(driver, "note-text").send_keys("forged note")
    by_id(driver, "add-note").click()
    wait_text(driver, "h1", "Not allowed")
    assert "CSRF" in by_id(driver, "message").text
    driver.get(url + f"/runs/{site['runs'][0]}")
    assert "forged note" not in driver.page_source


def _start_check_run(site) -> str:
    driver, url = site["driver"], site["server"].url
    driver.get(url + "/tasks/web-motd")
    assert by_id(driver, "check").is_selected()  # check mode first, by default
    by_id(driver, "pattern").send_keys(",".join(site["hosts"]))
    by_id(driver, "param-text").send_keys("printer maintenance at 18:00")
    by_id(driver, "param-where").send_keys(str(site["out"]))
    by_id(driver, "ticket").send_keys("CHG-42")
    by_id(driver, "start").click()
    wait_for(driver, lambda d: "/runs/" in d.current_url)
    # htmx polls the progress and reloads the page when the run has finished
    wait_for(driver, lambda d: d.find_elements("css selector", "details.step"), timeout=60)
    return driver.current_url.rsplit("/", 1)[1]


def test_a_check_mode_run_on_the_lab_then_approval_by_a_second_user(site):
    driver, url = site["driver"], site["server"].url
    login(site, "bob")
    check_run = _start_check_run(site)
    assert "check (dry run)" in driver.page_source
    assert "+printer maintenance at 18:00" in driver.find_element("css selector", "pre.diff").text
    assert list(site["out"].iterdir()) == []  # nothing written in check mode
    screenshot(driver, "check-run")
    by_id(driver, "request-approval").click()
    wait_for(driver, lambda d: "/approvals/" in d.current_url)
    assert by_id(driver, "approval-status").text == "pending"
    assert driver.find_elements("id", "approve") == []  # not for the one who asked

    login(site, "lead")
    driver.get(url + "/approvals")
    driver.find_element("css selector", "#approvals a[href^='/approvals/']").click()
    assert "+printer maintenance at 18:00" in by_id(driver, "approval-diff").text
    screenshot(driver, "approval")
    by_id(driver, "approve").click()
    wait_text(driver, "#approval-status", "approved")

    login(site, "bob")
    driver.get(url + "/approvals")
    driver.find_element("css selector", "#approvals a[href^='/approvals/']").click()
    by_id(driver, "apply").click()
    wait_for(driver, lambda d: "/runs/" in d.current_url)
    wait_for(driver, lambda d: d.find_elements("css selector", "details.step"), timeout=60)
    assert "apply" in driver.page_source and "changed" in driver.find_element("tag name", "h1").text
    assert sorted(p.name for p in site["out"].iterdir()) == sorted(f"motd-{h}" for h in site["hosts"])
    assert check_run not in driver.current_url


def test_search_and_other_pages_for_the_readme(site):
    driver, url = site["driver"], site["server"].url
    login(site, "lead")
    driver.get(url + "/search?q=NT_STATUS_ACCOUNT_LOCKED_OUT")
    assert "INC-1001" in by_id(driver, "hits").text
    assert driver.find_element("css selector", "#hits mark").text == "NT_STATUS_ACCOUNT_LOCKED_OUT"
    screenshot(driver, "search")
    driver.get(url + "/escalations")
    assert "vlan 20 appeared" in by_id(driver, "escalations").text
    screenshot(driver, "escalations")
    driver.get(url + "/compliance")
    assert "FAIL" in by_id(driver, "compliance").text
    screenshot(driver, "compliance")
