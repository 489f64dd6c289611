"""In Chromium (headless): the pages keep to the Content Security Policy with no console error,
and the scan page stops reconnecting once its user has logged out (it sees the 4401)."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.web.conftest import PASSWORD, Wait, browser_reset

pytestmark = pytest.mark.e2e  # real processes: daphne, Chromium


@pytest.fixture(scope="module")
def module_chromium_with_log(tmp_path_factory):
    """One Chromium for the module, keeping its console log; ``chromium`` resets it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert binary and driver_path, "scripts/test.sh installs Chromium"
    profile = tmp_path_factory.mktemp("chromium") / "profile"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,860", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def chromium(module_chromium_with_log):
    """The module's Chromium as a new one (tests/web/conftest.py), its console log read empty:
    an earlier test's messages are not this test's."""
    driver = module_chromium_with_log
    browser_reset(driver)
    driver.get_log("browser")
    yield driver
    driver.get("about:blank")


@pytest.fixture
def site(shared_daphne, transactional_db, redis_layer):
    """The browser tests' shared daphne (tests/web/conftest.py); each test's rows are its own."""
    return shared_daphne


def _login(browser, site: str, username: str) -> None:
    browser.get(f"{site}/accounts/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    Wait(browser, 20).until(lambda d: "/accounts/login/" not in d.current_url)


def _csp_problems(browser) -> list[str]:
    return [
        e["message"]
        for e in browser.get_log("browser")
        if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"
    ]


@pytest.mark.slow
def test_the_pages_keep_to_the_csp_with_no_console_errors(site, chromium, people, scan):
    _login(chromium, site, "rita")
    problems = {}
    for path in ("/", "/upload/", f"/scans/{scan.pk}/", "/progress/", "/api/docs/"):
        chromium.get(site + path)
        Wait(chromium, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        if path.startswith("/scans/"):
            Wait(chromium, 20).until(lambda d: "done" in d.find_element(By.ID, "status").text)
        if path == "/api/docs/":
            Wait(chromium, 20).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")
            )
        problems[path] = _csp_problems(chromium)
    chromium.delete_all_cookies()
    _login(chromium, site, "ian")
    for path in ("/cohort/", "/review/"):
        chromium.get(site + path)
        problems[path] = _csp_problems(chromium)
    assert problems == {path: [] for path in problems}


@pytest.mark.slow
def test_after_logout_the_browser_sees_4401_so_the_scan_page_stops_reconnecting(
    site, chromium, people, scan
):
    """static/js/scan.js reconnects on any close but 4401 and 4404; a close before the accept
    reaches a browser as 1006, so the page retried for ever."""
    _login(chromium, site, "rita")
    chromium.get(f"{site}/scans/{scan.pk}/")
    Wait(chromium, 20).until(lambda d: "done" in d.find_element(By.ID, "status").text)
    chromium.delete_all_cookies()  # logged out (in another tab, say): the session is gone
    chromium.execute_script(
        f"const ws = new WebSocket(`ws://${{location.host}}/ws/scans/{scan.pk}/`);"
        "ws.onclose = (e) => { window.__closeCode = e.code; };"
    )
    Wait(chromium, 10).until(lambda d: d.execute_script("return window.__closeCode"))
    assert chromium.execute_script("return window.__closeCode") == 4401
