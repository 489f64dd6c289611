"""The teaching loop in a real browser (Debian's Chromium, headless) against a real ASGI server
and a real Celery worker running the scripted engine (a stand-in for the model, for speed; its
events go through the real parser, task, channel layer and websocket):

upload -> live result (the panel appears without a reload) -> the instructor corrects it with
the keyboard beside the image (a plane change takes out what no longer applies) -> the resident
sees the reviewed answer as the headline, at 1280 px and at 390 px -> she is notified -> she
asks her instructor for a sign-off -> he is notified and attests after a confirmation.

Screenshots of each step are written to docs/screenshots/loop_*.png.
"""

from __future__ import annotations

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from abvlmq_web.competency.models import SignOff
from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.review.models import Correction
from abvlmq_web.scans.models import Scan
from tests.teaching.test_browser_flows import log_in
from tests.web import images
from tests.web.a11y import horizontal_overflow
from tests.web.conftest import Wait
from tests.web.live import ROOT

DOCS = ROOT / "docs" / "screenshots"

# Chromium
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def browser(fresh_browser):
    """The browser tests' shared Chromium, reset for the test (tests/web/conftest.py)."""
    return fresh_browser


def shot(browser, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(DOCS / f"loop_{name}.png"))


def no_horizontal_scroll(browser) -> bool:
    return horizontal_overflow(browser) == ""


@pytest.fixture
def live(settings, worker_factory, shared_daphne):
    """The browser tests' shared daphne (tests/web/conftest.py) and a worker of this test's."""
    # a short pause before each line of the scripted answer, so the result arrives live
    worker_factory(ABVLMQ_SCRIPTED_DELAY="0.15")
    return shared_daphne


def test_upload_live_result_review_and_the_resident_sees_the_reviewed_answer(
    live, browser, resident, instructor, program_admin, cohort, assignment, tmp_path
):
    rule = {"plane": "LPV", "min_count": 1, "min_grade": "Moderate", "verified_count": 1}
    requirement_set_save(user=program_admin, name="Core", cohorts=[cohort], requirements=[rule])
    # a lookup that races a navigation can fail with a WebDriverException ("node does not
    # belong to the document"): the wait retries it like a stale element, until its timeout
    wait = Wait(browser, 60, ignored_exceptions=(WebDriverException,))
    phantom = tmp_path / "phantom.png"
    phantom.write_bytes(images.phantom())

    # 1. Rita uploads and watches the result arrive.
    log_in(browser, live, "rita")
    browser.get(f"{live}/upload/?assignment={assignment.pk}")
    browser.find_element(By.ID, "files").send_keys(str(phantom))
    # one file alone: its scan page opens by itself once it is stored
    wait.until(lambda d: "/scans/" in d.current_url)
    wait.until(lambda d: d.find_elements(By.ID, "teaching"))
    browser.execute_script("window.__sameDocument = true")
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
    scan = Scan.objects.get()
    # the panel a reload shows arrives with the finish, in the same document
    dispute = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#dispute summary"))
    assert browser.execute_script("return window.__sameDocument === true")
    assert browser.find_element(By.ID, "score-badge").text.split() == ["6", "Good"]
    assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "2"
    assert dispute[0].is_displayed()
    shot(browser, "1_resident_live_result")

    # 2. Ian corrects it: a plane change, then a box placed with the keyboard.
    log_in(browser, live, "ian")
    browser.get(f"{live}/scans/{scan.pk}/")
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
    browser.find_element(By.ID, "review-start").click()
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    assert not browser.find_element(By.ID, "review-start").is_displayed()
    # beside the image: the editor sits in the result column, level with the canvas
    editor, canvas = browser.find_element(By.ID, "editor"), browser.find_element(By.ID, "canvas")
    assert editor.location["x"] > canvas.location["x"] + canvas.size["width"] - 5
    assert abs(editor.location["y"] - canvas.location["y"]) < 300
    Select(browser.find_element(By.ID, "edit-plane")).select_by_value("LPV")
    pruned = browser.find_element(By.ID, "edit-pruned").text
    assert "Gallbladder" in pruned and "Right liver lobe" in pruned
    items = [
        li.get_attribute("data-item")
        for li in browser.find_elements(By.CSS_SELECTOR, "#edit-deductions li")
    ]
    # the gallbladder item went, the global one stays, and LPV's key structures, unboxed, are
    # deducted as not displayed by the rubric's rule (the score never reads a perfect plane)
    assert items == ["LPV.left_lobe.missing", "LPV.lpv_umbilical.missing", "ATT.mild"]
    accounted = browser.find_element(By.ID, "edit-accounted").text
    assert "Left liver lobe" in accounted and "has no box" in accounted
    assert browser.find_element(By.ID, "edit-score").text == "2"
    assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "0"
    # the AI's own answer stays in sight beside the editor
    assert "6 Good" in browser.find_element(By.ID, "edit-ai-summary").text
    Select(browser.find_element(By.ID, "edit-add-structure")).select_by_value("left_lobe")
    browser.find_element(By.ID, "edit-add-box").click()  # [400, 400, 600, 600], selected
    canvas = browser.find_element(By.ID, "canvas")
    assert browser.switch_to.active_element == canvas
    canvas.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    canvas.send_keys(Keys.SHIFT + Keys.ARROW_DOWN)
    assert "left_lobe" in browser.find_element(By.ID, "edit-structures").get_attribute("innerHTML")
    # boxed now: its "not displayed" goes by itself; the umbilical portion is still unboxed
    assert browser.find_element(By.ID, "edit-score").text == "5"
    shot(browser, "2_instructor_editor")
    browser.find_element(By.ID, "edit-save").click()
    wait.until(lambda d: d.find_element(By.ID, "status").text == "corrected by Ian")
    c = Correction.objects.get()
    assert c.planes == ["LPV"]
    assert [d["item"] for d in c.deductions] == ["LPV.lpv_umbilical.missing", "ATT.mild"]
    assert c.structures == [{"id": "left_lobe", "box": [430, 400, 630, 610]}]

    # 3. Rita sees the reviewed answer as the answer, the AI's beside it.
    log_in(browser, live, "rita")
    for width, height in ((1280, 860), (390, 844)):
        browser.set_window_size(width, height)
        browser.get(f"{live}/scans/{scan.pk}/")
        wait.until(lambda d: d.find_element(By.ID, "status").text == "corrected by Ian")
        wait.until(lambda d: d.find_element(By.ID, "score-badge").get_attribute("data-score"))
        assert browser.find_element(By.ID, "score-badge").text.split() == ["5", "Moderate"]
        assert "Left portal vein" in browser.find_element(By.ID, "plane").text
        assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "1"
        ai_said = browser.find_element(By.ID, "ai-said").text
        assert "Plane: GB → LPV" in ai_said and "Score: 6 Good → 5 Moderate" in ai_said
        # what changed, honestly: dropped with the plane, not struck out; the box added
        assert "No longer applies to LPV" in ai_said and "Struck out" not in ai_said
        assert "Box added: Left liver lobe" in ai_said
        wait.until(  # the AI's events replayed
            lambda d: d.find_element(By.ID, "toggle-ai-boxes").get_attribute("data-ai-boxes") == "2"
        )
        browser.find_element(By.ID, "toggle-ai-boxes").click()  # the AI's boxes, on demand
        assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "2"
        browser.find_element(By.ID, "toggle-ai-boxes").click()
        shot(browser, f"3_resident_reviewed_{width}px")
        assert no_horizontal_scroll(browser), f"horizontal scroll at {width} px"
        browser.get(f"{live}/")
        row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'tr[data-scan="{scan.pk}"]'))
        assert "LPV" in row.text and "5 · Moderate" in row.text
        assert no_horizontal_scroll(browser), f"horizontal scroll on My work at {width} px"
    browser.set_window_size(1280, 860)

    # 4. The notification: in the nav, then on its page, linking to the scan.
    browser.get(f"{live}/")
    assert browser.find_element(By.ID, "unread-count").text == "2"  # the assignment, the review
    browser.find_element(By.ID, "nav-notifications").click()
    note = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#notifications li"))
    assert f"Ian corrected scan #{scan.pk}: LPV, 5 Moderate (changed the plane" in note.text
    shot(browser, "4_resident_notification")

    # 5. Attestation: Rita asks Ian by name; Ian is told, attests after a confirmation.
    browser.get(f"{live}/competency/residents/{resident.pk}/")
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-plane="LPV"]'))
    assert "met" in row.text
    Select(row.find_element(By.TAG_NAME, "select")).select_by_visible_text("Ian")
    row.find_element(By.CSS_SELECTOR, "button.request-signoff").click()
    # page_source, not an element: the page is being replaced (POST, then redirect)
    wait.until(lambda d: "Asked Ian to sign off LPV." in d.page_source)
    assert "asked Ian" in browser.find_element(By.CSS_SELECTOR, 'tr[data-plane="LPV"]').text
    shot(browser, "5_resident_requests_signoff")
    log_in(browser, live, "ian")
    browser.find_element(By.ID, "nav-notifications").click()
    wait.until(lambda d: "Rita asks you to sign off LPV (Core)" in d.page_source)
    browser.find_element(By.PARTIAL_LINK_TEXT, "Rita asks you").click()
    attest = wait.until(lambda d: d.find_element(By.ID, "attest"))
    assert "Core" in attest.text and f"#{scan.pk}" in attest.text
    shot(browser, "6_instructor_attests")
    assert not SignOff.objects.exists()
    browser.find_element(By.ID, "confirm-yes").click()
    wait.until(lambda d: "LPV signed off." in d.page_source)  # the redirect's message
    assert SignOff.objects.get().attested["requirement_set"]["name"] == "Core"
    log_in(browser, live, "rita")
    browser.get(f"{live}/competency/residents/{resident.pk}/")
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-plane="LPV"]'))
    assert "signed off" in row.text and "Ian" in row.text
    shot(browser, "7_resident_signed_off")
