"""In Chromium (headless): the pages keep to the Content Security Policy with no console error,
and the scan page stops reconnecting once its user has logged out (it sees the 4401)."""

from __future__ import annotations

import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web.conftest import PASSWORD
from tests.web.live import free_port, start_server

pytestmark = pytest.mark.e2e  # real processes: daphne, Chromium


@pytest.fixture
def chromium(tmp_path):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert binary and driver_path, "scripts/test.sh installs Chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,860", f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def site(transactional_db, redis_layer, log_dir):
    port = free_port()
    process = start_server(log_dir, port)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def _login(browser, site: str, username: str) -> None:
    browser.get(f"{site}/accounts/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    WebDriverWait(browser, 20).until(lambda d: "/accounts/login/" not in d.current_url)


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
        WebDriverWait(chromium, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        if path.startswith("/scans/"):
            WebDriverWait(chromium, 20).until(
                lambda d: "done" in d.find_element(By.ID, "status").text
            )
        if path == "/api/docs/":
            WebDriverWait(chromium, 20).until(
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
    WebDriverWait(chromium, 20).until(lambda d: "done" in d.find_element(By.ID, "status").text)
    chromium.delete_all_cookies()  # logged out (in another tab, say): the session is gone
    chromium.execute_script(
        f"const ws = new WebSocket(`ws://${{location.host}}/ws/scans/{scan.pk}/`);"
        "ws.onclose = (e) => { window.__closeCode = e.code; };"
    )
    WebDriverWait(chromium, 10).until(lambda d: d.execute_script("return window.__closeCode"))
    assert chromium.execute_script("return window.__closeCode") == 4401
