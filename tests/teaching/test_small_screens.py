"""Phones and a wide desktop, in a real browser (Chromium, headless) against daphne: at 390 px
the demo notice is one short line that can be hidden, the menu folds behind a button, list
tables read as cards with every column in view, and labels on the image and the charts stay
readable; at 1280 px the admin's menu is one line and the brand does not wrap. At both, the
scan page says in words how sure the AI is of the plane, and a declined scan shows as declined.
The scans were assessed by the scripted engine beforehand (no worker needed). The browser
tests' shared daphne and Chromium serve it (tests/web/conftest.py), the browser reset for each
test."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.teaching.test_browser_flows import (  # noqa: F401  (fixtures)
    assessed,
    browser,
    log_in,
    open_scan,
    server,
)
from tests.web.a11y import horizontal_overflow
from tests.web.conftest import Wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


def _height(driver, css: str) -> float:
    return driver.execute_script(
        "return document.querySelector(arguments[0]).getBoundingClientRect().height", css
    )


def test_a_phone_gets_a_short_notice_a_folded_menu_cards_and_readable_labels(
    server,  # noqa: F811
    browser,  # noqa: F811
    assessed,  # noqa: F811
    settings,
):
    browser.set_window_size(390, 844)
    log_in(browser, server, "rita")
    browser.get(f"{server}/")
    banner = browser.find_elements(By.ID, "demo-banner")
    if banner:  # the demo model is in use: one short line, and it can be hidden
        assert _height(browser, "#demo-banner") < 48
        browser.find_element(By.ID, "banner-hide").click()
        assert not banner[0].is_displayed()
        browser.get(f"{server}/")  # hidden for the rest of the session
        assert not browser.find_element(By.ID, "demo-banner").is_displayed()
    assert not browser.find_element(By.ID, "nav").is_displayed()
    assert _height(browser, "header.top") < 64  # brand and menu button only
    browser.find_element(By.ID, "menu-toggle").click()
    assert browser.find_element(By.ID, "nav").is_displayed()
    # the scan list as cards: status and score are on screen, nothing scrolls sideways
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-scan="{assessed.pk}"]')
    score = row.find_element(By.CSS_SELECTOR, "td.score-cell")
    assert score.get_attribute("data-label") and "6 · Good" in score.text
    right = browser.execute_script("return arguments[0].getBoundingClientRect().right", score)
    assert right <= 390
    assert horizontal_overflow(browser) == ""
    # the image's box labels at about 13 px on screen
    open_scan(browser, server, assessed)
    canvas = browser.find_element(By.ID, "canvas")
    Wait(browser, 20).until(lambda d: canvas.get_attribute("data-label-px"))
    assert float(canvas.get_attribute("data-label-px")) >= 12
    # the progress charts' labels at 9 px or more
    browser.get(f"{server}/progress/")
    sizes = browser.execute_script(
        "return [...document.querySelectorAll('svg.chart text')]"
        ".map((t) => t.getBoundingClientRect().height)"
    )
    assert sizes and min(sizes) >= 9, sizes
    assert horizontal_overflow(browser) == ""


def test_the_admins_menu_is_one_line_at_1280_px(server, browser, program_admin):  # noqa: F811
    browser.set_window_size(1280, 860)
    log_in(browser, server, "pat")
    browser.get(f"{server}/")
    assert browser.find_element(By.ID, "nav").is_displayed()
    assert not browser.find_element(By.ID, "menu-toggle").is_displayed()
    line = browser.execute_script(
        "const s = getComputedStyle(document.querySelector('.top a'));"
        "return parseFloat(s.lineHeight) || 22"
    )
    assert _height(browser, "#nav") < 2 * line
    assert _height(browser, "a.brand") < 2 * line


@pytest.mark.parametrize("width", [1280, 390])
def test_the_scan_page_says_how_sure_the_ai_is_and_a_declined_scan_reads_declined(
    server,  # noqa: F811
    browser,  # noqa: F811
    assessed,  # noqa: F811
    resident,
    width,
):
    from io import BytesIO

    from abvlmq_web.scans.models import Analysis, AnalysisEvent
    from abvlmq_web.scans.services import scan_upload
    from tests.web import images

    browser.set_window_size(width, 844)
    log_in(browser, server, "rita")
    open_scan(browser, server, assessed)
    sure = browser.find_element(By.ID, "plane-confidence")
    Wait(browser, 20).until(lambda d: sure.is_displayed())
    assert sure.text == "The AI is fairly sure of this plane (82 %)."

    declined = scan_upload(user=resident, file=BytesIO(images.phantom(index=2)), queue=False)
    reason = "The model cannot assess this image: it is unlike the scans it was trained on."
    Analysis.objects.filter(pk=declined.analysis.pk).update(
        status=Analysis.Status.DONE, abstained=True, needs_review=True
    )
    AnalysisEvent.objects.create(
        analysis=declined.analysis,
        seq=1,
        type="abstain",
        payload={"type": "abstain", "reason": reason},
    )
    AnalysisEvent.objects.create(
        analysis=declined.analysis,
        seq=2,
        type="done",
        payload={"type": "done", "status": "done", "needs_review": True},
    )
    browser.get(f"{server}/scans/{declined.pk}/")
    status = browser.find_element(By.ID, "status")
    Wait(browser, 20).until(lambda d: "not assessed" in d.find_element(By.ID, "plane").text)
    assert "status-abstained" in status.get_attribute("class")  # not the success colour
    assert "status-done" not in status.get_attribute("class")
    for empty in ("deductions-head", "deductions-hint", "no-deductions"):
        assert not browser.find_element(By.ID, empty).is_displayed(), empty
    assert reason in browser.find_element(By.ID, "abstain-reason").text
    assert not browser.find_element(By.ID, "plane-confidence").is_displayed()


SMALL_TARGETS = """
const out = [];
for (const el of document.querySelectorAll(arguments[0])) {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
  const need = el.matches("button.primary, .button") ? 44 : 24;
  if (r.height < need - 0.5 || r.width < 24 - 0.5) {
    out.push(`${el.outerHTML.slice(0, 80)}: ${r.width}x${r.height}`);
  }
}
return out;
"""


def test_the_correction_editor_fits_a_phone_and_its_controls_can_be_touched(
    server,  # noqa: F811
    browser,  # noqa: F811
    assessed,  # noqa: F811
    instructor,
):
    """Issue 32: at 390 px the editor needs no sideways scrolling, every control is at least
    24 x 24 CSS px (WCAG 2.2's target size) and the primary actions 44 px tall."""
    browser.set_window_size(390, 844)
    log_in(browser, server, "ian")
    open_scan(browser, server, assessed)
    start = Wait(browser, 20).until(lambda d: d.find_element(By.ID, "review-start"))
    browser.execute_script("arguments[0].scrollIntoView()", start)
    start.click()
    Wait(browser, 20).until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    assert horizontal_overflow(browser) == ""
    small = browser.execute_script(SMALL_TARGETS, "#editor button, #editor select, #editor input")
    assert small == []
    browser.find_element(By.CSS_SELECTOR, ".menu-toggle").click()
    assert browser.execute_script(SMALL_TARGETS, ".top nav a") == []
