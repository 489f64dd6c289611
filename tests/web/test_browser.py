"""In a real browser (Debian's Chromium, headless): a resident logs in, uploads a phantom and
watches the boxes and the score appear. The screenshot is kept under artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.web import images
from tests.web.live import ROOT, free_port, start_server

ARTIFACTS = ROOT / "artifacts"


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "run scripts/test_services.sh: it installs Chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,860", f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def server(worker_factory, log_dir):
    worker_factory(ABVLMQ_SCRIPTED_DELAY="0.25")
    port = free_port()
    process = start_server(log_dir, port)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_a_resident_logs_in_uploads_a_phantom_and_sees_boxes_and_a_score(
    server, browser, resident, assignment, tmp_path
):
    phantom = tmp_path / "phantom.png"
    phantom.write_bytes(images.phantom())
    wait = WebDriverWait(browser, 30)

    browser.get(f"{server}/")
    assert "/accounts/login/" in browser.current_url
    assert browser.find_element(By.ID, "demo-banner").is_displayed()
    browser.find_element(By.ID, "id_username").send_keys("rita")
    browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: "Gallbladder week" in d.page_source)

    browser.get(f"{server}/upload/?assignment={assignment.pk}")
    browser.find_element(By.ID, "files").send_keys(str(phantom))
    link = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.scan-link"))[0]
    link.click()

    canvas = browser.find_element(By.ID, "canvas")
    wait.until(lambda d: int(canvas.get_attribute("data-boxes")) >= 1)  # boxes arrive first
    badge = browser.find_element(By.ID, "score-badge")
    wait.until(lambda d: badge.get_attribute("data-score"))
    assert canvas.get_attribute("data-boxes") == "2"
    assert badge.text.split() == ["6", "Good"]
    assert "Gallbladder longitudinal" in browser.find_element(By.ID, "plane").text
    items = browser.find_elements(By.CSS_SELECTOR, "#deductions li")
    assert len(items) == 2 and "Tip:" in items[0].text
    wait.until(lambda d: "done" in d.find_element(By.ID, "status").text)

    ActionChains(browser).move_to_element(items[0]).perform()  # its region lights up
    assert "active" in items[0].get_attribute("class")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "scan_page.png"
    browser.save_screenshot(str(shot))
    assert Path(shot).stat().st_size > 10_000
