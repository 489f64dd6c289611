"""In a real browser (Debian's Chromium, headless): a resident logs in, uploads a phantom and
watches the boxes and the score appear, produced by the committed demo model in a real Celery
worker. The screenshot is kept under artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from abvlmq_web.scans.models import Analysis
from scoring.rubric import default_rubric
from tests.web import images
from tests.web.conftest import Wait
from tests.web.live import ROOT, free_port, start_server

# real processes (Celery worker, daphne, Chromium) and the demo model
pytestmark = [pytest.mark.ml, pytest.mark.slow, pytest.mark.e2e]

ARTIFACTS = ROOT / "artifacts"
RUBRIC = default_rubric()


def start_chromium(profile: Path, extra: tuple[str, ...] = ()) -> webdriver.Chrome:
    """Debian's Chromium, headless, 1280 x 860, its profile in ``profile`` (plus ``extra``
    command-line flags, e.g. a fake camera playing a file)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "run scripts/test.sh: it installs Chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,860", f"--user-data-dir={profile}", *extra,
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


DEMO = ROOT / "models" / "demo"


@pytest.fixture
def server(settings, worker_factory, log_dir):
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_MODEL_DIR = DEMO
    worker_factory(ABVLMQ_MODEL_DIR=str(DEMO))
    port = free_port()
    process = start_server(log_dir, port)
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_a_resident_logs_in_uploads_a_phantom_and_sees_boxes_and_a_score(
    server, fresh_browser, resident, assignment, tmp_path
):
    browser = fresh_browser  # the browser tests' shared Chromium, as new (tests/web/conftest.py)
    phantom = tmp_path / "phantom.png"
    phantom.write_bytes(images.phantom(index=3, seed=7))  # a phantom with defects
    wait = Wait(browser, 30)

    browser.get(f"{server}/")
    assert "/accounts/login/" in browser.current_url
    assert browser.find_element(By.ID, "demo-banner").is_displayed()
    browser.find_element(By.ID, "id_username").send_keys("rita")
    browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: "Gallbladder week" in d.page_source)

    browser.get(f"{server}/upload/?assignment={assignment.pk}")
    browser.find_element(By.ID, "files").send_keys(str(phantom))
    wait.until(lambda d: "/scans/" in d.current_url)  # one file alone opens its scan page

    canvas = browser.find_element(By.ID, "canvas")
    # the model runs on two shared CPU cores
    wait = Wait(browser, 120)
    wait.until(lambda d: int(canvas.get_attribute("data-boxes")) >= 1)  # boxes arrive first
    badge = browser.find_element(By.ID, "score-badge")
    wait.until(lambda d: badge.get_attribute("data-score"))
    wait.until(lambda d: "done" in d.find_element(By.ID, "status").text)
    scan_id = int(browser.current_url.rstrip("/").split("/")[-1])
    analysis = Analysis.objects.get(scan_id=scan_id)
    boxes = [e for e in analysis.events.all() if e.type == "structure"]
    assert int(canvas.get_attribute("data-boxes")) == len(boxes) >= 1
    assert badge.text.split() == [f"{analysis.score:g}", analysis.grade]
    plane_names = [RUBRIC.planes[c].name for c in analysis.planes]
    assert all(name in browser.find_element(By.ID, "plane").text for name in plane_names)
    items = browser.find_elements(By.CSS_SELECTOR, "#deductions li")
    assert len(items) == analysis.events.filter(type="deduction").count() >= 1
    assert all("Tip:" in item.text for item in items)

    # the first box is drawn on the canvas, in the first colour, where the event put it
    first = boxes[0].payload["box"]
    # (the line is 2 canvas px wide, centred on the edge: the closest of the 5 px across it)
    strip = _strip(browser, canvas, first[0], (first[1] + first[3]) / 2)
    cyan = (0x00, 0xE5, 0xFF)
    edge = min(strip, key=lambda p: max(abs(c - v) for c, v in zip(p, cyan, strict=True)))
    assert max(abs(c - v) for c, v in zip(edge, cyan, strict=True)) < 60, strip

    region = (
        analysis.events.filter(type="deduction").order_by("seq").first().payload.get("box") or first
    )
    middle = ((region[0] + region[2]) / 2, (region[1] + region[3]) / 2)
    before = _pixel(browser, canvas, *middle)
    ActionChains(browser).move_to_element(items[0]).perform()  # its region lights up
    assert "active" in items[0].get_attribute("class")
    after = _pixel(browser, canvas, *middle)
    redder = after[0] > before[0] + 20 and after[0] - after[2] > before[0] - before[2]
    assert redder, (before, after)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "scan_page.png"
    browser.save_screenshot(str(shot))  # for people to look at; the checks are above
    with Image.open(shot) as img:
        assert img.format == "PNG" and img.size == tuple(
            browser.execute_script("return [window.innerWidth, window.innerHeight]")
        )


def _strip(browser, canvas, x: float, y: float) -> list[tuple[int, int, int]]:
    """The canvas's RGB at the 5 canvas pixels centred on a point of the 0-1000 grid, across."""
    data = browser.execute_script(
        "const [c, x, y] = arguments;"
        "const u = Math.max(0, Math.min(c.width - 5, Math.round(x * c.width / 1000) - 2));"
        "return Array.from(c.getContext('2d').getImageData("
        "  u, Math.round(y * c.height / 1000), 5, 1).data);",
        canvas,
        x,
        y,
    )
    return [tuple(data[i : i + 3]) for i in range(0, len(data), 4)]


def _pixel(browser, canvas, x: float, y: float) -> tuple[int, int, int]:
    """The canvas's RGB at a point given on the 0-1000 grid of the image."""
    return tuple(
        browser.execute_script(
            "const [c, x, y] = arguments;"
            "const d = c.getContext('2d').getImageData("
            "  Math.round(x * c.width / 1000), Math.round(y * c.height / 1000), 1, 1).data;"
            "return [d[0], d[1], d[2]];",
            canvas,
            x,
            y,
        )
    )
