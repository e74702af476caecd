"""A real browser through the local runner: headless Chromium (Debian's `chromium`, driven
by Selenium through Debian's `chromium-driver`) loads the example app's notes page, submits
its form (CSRF token, Laravel's session cookie), follows Laravel's redirect, and the value
kept in the session is shown on the next pages."""

import json
import shutil
import tempfile
import urllib.parse

import pytest

from local_runner import LocalRunner

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
SESSION_COOKIE = "hover_example_session"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.fail("Debian's chromium and chromium-driver are needed (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hover-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def runner():
    runner = LocalRunner()
    yield runner
    runner.stop()


def submit(browser, text):
    """Types into the form and submits it, then waits for the next page (the old one's
    elements go stale once the browser has left it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.ID, "text").send_keys(text)
    button = browser.find_element(By.ID, "save")
    button.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(button))
    WebDriverWait(browser, 30).until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def test_a_form_submitted_in_a_browser_keeps_its_value_in_the_session(browser, runner):
    from selenium.webdriver.common.by import By

    browser.get(f"{runner.url}/notes")
    assert browser.title == "Notes"
    assert browser.find_element(By.ID, "note").text == "no note yet"
    first = browser.get_cookie(SESSION_COOKIE)
    assert first is not None, browser.get_cookies()
    assert first["httpOnly"] and not first["secure"]

    submit(browser, "typed in Chromium")

    # Laravel's redirect back to the page (https:// in Laravel's eyes, http:// through the
    # front door): the browser followed it with the session cookie, and the page shows the note.
    assert browser.current_url == f"{runner.url}/notes"
    assert browser.find_element(By.ID, "note").text == "typed in Chromium"
    assert browser.find_element(By.ID, "saves").text == "1"

    # The session persists: the cookie the browser holds is the one it sent back, and a
    # later load of the page (and a second submission) sees the same session.
    browser.get(f"{runner.url}/notes")
    assert browser.find_element(By.ID, "note").text == "typed in Chromium"
    submit(browser, "again")
    assert browser.find_element(By.ID, "note").text == "again"
    assert browser.find_element(By.ID, "saves").text == "2"
    assert browser.get_cookie(SESSION_COOKIE) is not None

    # What the browser sends: its session cookie, as it holds it (the /echo route shows the
    # request's cookies as they came, not decrypted).
    browser.get(f"{runner.url}/echo")
    seen = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    assert seen["cookies"][SESSION_COOKIE] == urllib.parse.unquote(browser.get_cookie(SESSION_COOKIE)["value"])

    # The POSTs carried the CSRF token and the session cookie (a missing one is a 419),
    # and no request failed on the way.
    requests = [line for line in runner.output().splitlines() if line.startswith("[front] ")]
    assert any('"POST /notes HTTP/1.1" 302' in line for line in requests), requests
    assert not any('" 419 ' in line or '" 5' in line for line in requests), requests
