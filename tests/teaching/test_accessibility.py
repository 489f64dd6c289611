"""Every page of each role in Chromium: no serious or critical axe-core violation (WCAG 2.1
A and AA), and at 390 px wide no horizontal scroll."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.review.services import dispute_open
from tests.teaching.conftest import correct, days, make_analysis
from tests.teaching.test_browser_flows import log_in, server  # noqa: F401
from tests.web.a11y import axe_violations, horizontal_overflow
from tests.web.live import ROOT

# Chromium
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def world(resident, other_resident, instructor, program_admin, cohort, assignment):
    a = make_analysis(resident, score=6, at=days(1), needs_review=True, assignment=assignment)
    correct(a, instructor, items=["ATT.mild", "GB.wall_unclear"])
    b = make_analysis(resident, score=5, at=days(2))
    dispute_open(resident=resident, analysis=b, reason="why not 8")
    make_analysis(other_resident, planes=("SPL",), structures=[], score=4, at=days(1))
    rule = {"plane": "GB", "min_count": 1, "min_grade": "Moderate", "verified_count": 1}
    requirement_set_save(user=program_admin, name="Core", cohorts=[cohort], requirements=[rule])
    return {"a": a.scan_id, "b": b.scan_id, "rita": resident.pk, "cohort": cohort.pk,
            "assignment": assignment.pk}  # fmt: skip


PAGES = {
    None: ["/accounts/login/", "/accounts/password-reset/"],
    "rita": [
        "/", "/scans/", "/upload/", "/scans/{a}/", "/scans/{b}/", "/progress/",
        "/competency/residents/{rita}/", "/notifications/", "/remediation/ATT.mild/?scan={a}",
        "/examples/",
    ],
    "ian": [
        "/cohort/", "/review/", "/review/agreement/", "/assignments/", "/assignments/new/",
        "/assignments/{assignment}/edit/", "/progress/cohorts/", "/progress/cohorts/{cohort}/",
        "/progress/residents/{rita}/", "/competency/", "/competency/cohorts/{cohort}/",
        "/scans/{a}/", "/scans/{b}/", "/notifications/",
    ],
    "pat": [
        "/administration/models/", "/administration/rubrics/", "/competency/requirements/",
        "/competency/requirements/new/", "/competency/audit/", "/lti/", "/sso/", "/examples/",
    ],
}  # fmt: skip


@pytest.mark.parametrize("who", list(PAGES), ids=lambda w: w or "anonymous")
def test_every_page_passes_axe_and_fits_a_phone(server, browser, world, who):  # noqa: F811
    if who:
        log_in(browser, server, who)
    else:
        browser.delete_all_cookies()
    problems = {}
    for width, height in ((1280, 860), (390, 844)):
        browser.set_window_size(width, height)
        for path in PAGES[who]:
            url = server + path.format(**world)
            browser.get(url)
            WebDriverWait(browser, 20).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            if "/scans/" in path and path != "/scans/":  # the image drawn on the canvas
                WebDriverWait(browser, 20).until(
                    lambda d: d.execute_script("return document.getElementById('canvas').width")
                )
            if width == 1280:
                found = axe_violations(browser)
                if found:
                    problems[f"{path} axe"] = found
            else:
                over = horizontal_overflow(browser)
                if over:
                    problems[f"{path} at 390 px"] = over
    browser.set_window_size(1280, 860)
    report = ROOT / "artifacts" / f"a11y-{who or 'anonymous'}.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(json.dumps(problems, indent=1))  # the whole list, for whoever fixes them
    assert not problems, json.dumps(problems, indent=1)


def test_keyboard_reaches_the_file_chooser_and_the_deductions(server, browser, world, tmp_path):  # noqa: F811
    log_in(browser, server, "rita")
    browser.get(f"{server}/upload/")
    # the file chooser cannot be seen headless: count the clicks on its input instead
    browser.execute_script(
        "const i = document.getElementById('files'); window.__chooser = 0;"
        "i.click = () => { window.__chooser += 1; };"
    )
    chooser = browser.find_element(By.ID, "choose-files")  # the one way to choose files
    chooser.send_keys(Keys.ENTER)
    chooser.send_keys(Keys.SPACE)
    assert browser.execute_script("return window.__chooser") == 2
    # no second, native one: the input is visually hidden (1 px, clipped), kept for the label
    native = browser.find_element(By.ID, "files")
    assert native.size["width"] <= 1 and native.size["height"] <= 1
    assert "visually-hidden" in native.get_attribute("class")
    # a refused file: its row says why and shows no (full) progress bar
    bad = tmp_path / "notes.txt"
    bad.write_text("not a scan")
    browser.find_element(By.ID, "files").send_keys(str(bad))
    row = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#uploads li.refused")
    )
    assert not row.find_element(By.TAG_NAME, "progress").is_displayed()
    assert row.find_element(By.CSS_SELECTOR, ".state.failed").text

    browser.get(f"{server}/scans/{world['a']}/")
    first = WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#deductions li[data-item]")
    )
    browser.execute_script("arguments[0].focus()", first)  # as Tab would: it is focusable
    assert "active" in first.get_attribute("class")  # its region is lit on the canvas
    canvas = browser.find_element(By.ID, "canvas")
    assert canvas.get_attribute("role") == "img" and "boxes" in canvas.get_attribute("aria-label")
