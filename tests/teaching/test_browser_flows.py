"""Each role's main flow in a real browser (Debian's Chromium, headless), against a real ASGI
server (daphne, a subprocess on the test database). The scan's analysis is run in-process by
the scripted engine beforehand, so its events replay over the websocket; no worker is needed.

- the resident disputes her score; her instructor finds it in his queue, corrects it on the
  canvas (moves a box, strikes a deduction, adds one with a reason); she sees the correction,
  follows its remediation link and sets herself practice;
- a resident who self-assesses first sees the AI's answer beside hers, and her trends as SVG;
- a program admin uploads a rubric, reads its diff and activates it, then exports a resident's
  PDF packet: the test opens the PDF with pypdf and finds her counts.

The browser tests' shared daphne and Chromium serve it (tests/web/conftest.py), the browser
reset for each test; the modules that import ``server`` and ``browser`` from here too.
"""

from __future__ import annotations

import base64
import io
from io import BytesIO

import pytest
from pypdf import PdfReader
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from abvlmq_web.administration.models import RubricVersion
from abvlmq_web.competency.models import AuditLog
from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.progress.models import PracticeAssignment
from abvlmq_web.progress.services import preference_set
from abvlmq_web.review.models import Correction
from abvlmq_web.review.services import correction_confirm
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.services import scan_upload
from tests.teaching.conftest import PASSWORD
from tests.teaching.test_administration import HARSHER
from tests.web import images
from tests.web.conftest import Wait
from tests.web.live import ROOT

ARTIFACTS = ROOT / "artifacts"


def shot(browser, name: str) -> None:
    """Keep a screenshot under artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"teaching_{name}.png"))


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def server(shared_daphne, transactional_db, settings):
    """The module's daphne (tests/web/conftest.py), the Redis channel layer here too."""
    settings.CHANNEL_LAYERS = {"default": settings.REDIS_CHANNEL_LAYER}
    return shared_daphne


@pytest.fixture
def browser(fresh_browser):
    """The module's Chromium, as new for each test (tests/web/conftest.py)."""
    return fresh_browser


@pytest.fixture
def assessed(resident, cohort):
    """Rita's phantom, assessed by the scripted engine: GB, 6 Good (gallbladder incomplete,
    mild attenuation), with its events saved."""
    scan = scan_upload(user=resident, file=BytesIO(images.phantom()), queue=False)
    analysis_run(analysis_id=scan.analysis.pk)
    scan.refresh_from_db()
    return scan


def log_in(browser, server, username):
    browser.delete_all_cookies()
    browser.get(f"{server}/accounts/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login-submit").click()
    Wait(browser, 20).until(lambda d: "/accounts/login/" not in d.current_url)


FINISHED = ("done", "confirmed by", "corrected by")


def open_scan(browser, server, scan):
    browser.get(f"{server}/scans/{scan.pk}/")
    Wait(browser, 30).until(
        lambda d: any(w in d.find_element(By.ID, "status").text for w in FINISHED)
    )


def test_an_instructor_corrects_a_deduction_and_the_resident_sees_it(
    server, browser, assessed, resident, instructor
):
    wait = Wait(browser, 30)
    # Rita disagrees with her score.
    log_in(browser, server, "rita")
    open_scan(browser, server, assessed)
    browser.find_element(By.CSS_SELECTOR, "#dispute summary").click()
    browser.find_element(By.ID, "dispute-reason").send_keys("The shadow is only rib")
    browser.find_element(By.ID, "dispute-submit").click()
    wait.until(lambda d: d.find_elements(By.ID, "dispute-open"))

    # Ian finds it in his queue and corrects it on the canvas.
    log_in(browser, server, "ian")
    browser.get(f"{server}/review/")
    row = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#review-queue tbody tr"))
    assert "disputed" in row.text and "The shadow is only rib" in row.text
    row.find_element(By.TAG_NAME, "a").click()
    wait.until(lambda d: "done" in d.find_element(By.ID, "status").text)
    browser.find_element(By.ID, "review-start").click()
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#edit-deductions li[data-item="ATT.mild"]')
    )

    canvas = browser.find_element(By.ID, "canvas")
    w, h = canvas.size["width"], canvas.size["height"]
    # Drag the gallbladder box (300,420)-(640,610) about 60 grid units to the right.
    (
        ActionChains(browser)
        .move_to_element_with_offset(canvas, int((0.47 - 0.5) * w), int((0.515 - 0.5) * h))
        .click_and_hold()
        .move_by_offset(int(0.06 * w), 0)
        .release()
        .perform()
    )
    browser.find_element(
        By.CSS_SELECTOR, '#edit-deductions li[data-item="ATT.mild"] button.remove'
    ).click()
    Select(browser.find_element(By.ID, "edit-add-item")).select_by_value("GB.wall_unclear")
    browser.find_element(By.ID, "edit-add-reason").send_keys("Wall blurred near the neck")
    browser.find_element(By.ID, "edit-add").click()
    assert browser.find_element(By.ID, "edit-score").text == "7"
    shot(browser, "instructor_editor")
    browser.find_element(By.ID, "edit-save").click()
    # the page reloads with the reviewed answer as its headline
    wait.until(lambda d: "corrected by Ian" in d.find_element(By.ID, "status").text)
    assert browser.find_element(By.ID, "score-badge").text.split() == ["7", "Good"]

    correction = Correction.objects.get()
    assert [d["item"] for d in correction.deductions] == [
        "GB.gallbladder.incomplete",
        "GB.wall_unclear",
    ]
    gallbladder = next(s for s in correction.structures if s["id"] == "gallbladder")
    assert 330 <= gallbladder["box"][0] <= 390  # moved right by about 60
    assert correction.analysis.disputes.get().status == "resolved"

    # Rita sees the correction as the answer, the AI's beside it, and follows its remediation.
    log_in(browser, server, "rita")
    open_scan(browser, server, assessed)
    assert browser.find_element(By.ID, "score-badge").text.split() == ["7", "Good"]
    assert browser.find_element(By.ID, "status").text == "corrected by Ian"
    headline = browser.find_element(By.ID, "deductions")
    assert "Wall blurred near the neck" in headline.text
    assert "added by the instructor" in headline.text
    assert not headline.find_elements(By.CSS_SELECTOR, 'li[data-item="ATT.mild"]')
    ai_said = browser.find_element(By.ID, "ai-said")
    assert browser.find_element(By.ID, "ai-badge").text.split() == ["6", "Good"]
    assert "Struck out" in ai_said.text and "Score: 6 Good → 7 Good" in ai_said.text
    shot(browser, "resident_sees_correction")
    headline.find_element(By.CSS_SELECTOR, 'li[data-item="GB.wall_unclear"] a.remedy').click()
    tip = wait.until(lambda d: d.find_element(By.ID, "remedy-tip"))
    assert "higher frequency" in tip.text
    browser.find_element(By.ID, "practice-button").click()
    wait.until(lambda d: d.find_elements(By.ID, "practice"))
    assert PracticeAssignment.objects.get().plane == "GB"


def test_a_resident_self_assesses_first_then_sees_the_ai_and_her_trends(
    server, browser, assessed, resident
):
    wait = Wait(browser, 30)
    preference_set(user=resident, self_assess_first=True)
    log_in(browser, server, "rita")
    browser.get(f"{server}/scans/{assessed.pk}/")
    form = wait.until(lambda d: d.find_element(By.ID, "self-assess-form"))
    assert not browser.find_element(By.ID, "score-badge").is_displayed()  # hidden until hers
    Select(browser.find_element(By.ID, "self-plane")).select_by_value("GB")
    browser.find_element(By.ID, "self-score").send_keys("8")
    form.find_element(By.ID, "self-submit").click()
    compare = wait.until(lambda d: d.find_element(By.ID, "self-compare"))
    assert "8" in browser.find_element(By.ID, "self-compare-score").text
    wait.until(lambda d: d.find_element(By.ID, "score-badge").get_attribute("data-score"))
    assert browser.find_element(By.ID, "score-badge").text.split() == ["6", "Good"]
    assert "GB" in compare.text

    browser.get(f"{server}/progress/")
    chart = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#trend-charts svg.trend"))
    assert chart.size["width"] > 200 and chart.size["height"] > 100  # rendered, not empty
    assert browser.find_elements(By.CSS_SELECTOR, "svg.trend circle")
    assert "plane right 100%" in browser.find_element(By.ID, "self-accuracy").text
    shot(browser, "resident_progress")


def test_an_admin_activates_a_rubric_and_exports_a_pdf_packet(
    server, browser, assessed, resident, instructor, program_admin, cohort
):
    wait = Wait(browser, 30)
    requirement_set_save(
        user=program_admin, name="Core", cohorts=[cohort],
        requirements=[{"plane": "GB", "min_count": 1, "min_grade": "Good", "verified_count": 1}],
    )  # fmt: skip
    correction_confirm(reviewer=instructor, analysis=assessed.analysis)
    log_in(browser, server, "pat")

    browser.get(f"{server}/administration/rubrics/")
    browser.execute_script("document.getElementById('rubric-text').value = arguments[0]", HARSHER)
    browser.find_element(By.CSS_SELECTOR, "#rubric-form button[type=submit]").click()
    summary = wait.until(lambda d: d.find_element(By.ID, "diff-summary"))
    assert "item ATT.mild: -2 -> -3" in summary.text
    browser.find_element(By.ID, "activate").click()
    confirm = wait.until(lambda d: d.find_element(By.ID, "confirm"))
    assert "Change: item ATT.mild: -2 -> -3" in confirm.text
    assert not RubricVersion.objects.get().is_active  # not before the second step
    browser.find_element(By.ID, "confirm-yes").click()
    wait.until(lambda d: d.find_elements(By.ID, "is-active"))
    assert RubricVersion.objects.get().is_active

    browser.get(f"{server}/competency/")
    browser.find_element(By.LINK_TEXT, "Cohort A").click()
    row = wait.until(
        lambda d: d.find_element(By.CSS_SELECTOR, '#competency-table tr[data-resident="rita"]')
    )
    assert "met" in row.text
    shot(browser, "admin_competency")
    link = row.find_element(By.CSS_SELECTOR, "a.packet-link").get_attribute("href")
    encoded = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
          .then((r) => r.arrayBuffer())
          .then((buf) => {
            let s = "";
            new Uint8Array(buf).forEach((b) => { s += String.fromCharCode(b); });
            done(btoa(s));
          });""",
        link,
    )
    pdf = PdfReader(io.BytesIO(base64.b64decode(encoded)))
    text = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert "Competency packet: Rita" in text
    assert "Qualifying scans: 1 of 1 at Good or better; verified: 1 of 1" in text
    assert "signed off" not in text.split("Status:")[1][:12]  # met, not yet signed off
    browser.get(f"{server}/competency/audit/")
    assert "export.pdf" in wait.until(lambda d: d.find_element(By.ID, "audit")).text
    assert AuditLog.objects.filter(action="export.pdf", subject=resident).count() == 1
