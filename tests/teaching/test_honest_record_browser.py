"""Issue 32 in a real browser (Debian's Chromium, headless, against daphne), items 1-3 and 5-7,
each at 1280 and at 390 px wide, as the person who reads it: what the item promises is on the
screen and true, nothing scrolls sideways, axe-core finds no serious or critical WCAG 2.1 A/AA
violation, and on a phone the controls are touch targets (24 x 24 CSS px, primary actions 44).

1. a correction is called a correction, with its summary in the rubric's words (the scan page,
   the notification); "confirmed" only when nothing changed;
2. competency counts verified evidence: AI-only grades await verification, a set that lets
   them count says so on its row;
3. a declined scan says why and what next, offers no dispute and no SR; an instructor assesses
   it from scratch in the editor, choosing the plane, and that is the scan's record;
5. the editor's example follows the plane chosen (the library's grid and enlarged view are in
   the accessibility walk at both widths);
6. the single sign-on and LTI set-up pages: a provider and a registration entered through
   their forms, the URLs to paste shown in full, a wrong field saving nothing;
7. the correction editor on a phone, and the cohort heatmap: planes with scans first, the
   resident column pinned while the planes scroll.

The run's shared daphne and Chromium serve it (tests/web/conftest.py; each test makes its own
people and scans); the analyses are stored directly (tests/teaching/conftest.py), so no worker runs.
"""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialApp
from lti_tool.models import LtiRegistration
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.progress.services import example_publish
from abvlmq_web.review.selectors import reviewed_answer
from abvlmq_web.review.services import correction_create
from abvlmq_web.scans.models import Analysis, AnalysisEvent
from scoring.answer import Assessment
from scoring.events import ABSTAIN_REASON
from scoring.rubric import default_rubric
from tests.teaching.conftest import correct, days, make_analysis
from tests.teaching.test_browser_flows import log_in
from tests.teaching.test_small_screens import SMALL_TARGETS
from tests.web.a11y import axe_violations, horizontal_overflow

# Chromium and daphne
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]

WIDTHS = ((1280, 860), (390, 844))
RUBRIC = default_rubric()
CONTROLS = "main button, main select, main input:not([type=hidden]), main textarea"


@pytest.fixture
def server(shared_daphne):
    """The run's daphne on the test database (each test's rows are its own)."""
    return shared_daphne


@pytest.fixture
def chrome(fresh_browser):
    return fresh_browser


def visit(browser, url: str, ready=None) -> None:
    browser.get(url)
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    if ready:
        wait.until(ready)


def fits_and_passes_axe(browser, width: int, what: str) -> None:
    """No sideways scrolling, no serious or critical axe-core violation; on a phone, every
    control in the page's main part can be touched."""
    assert horizontal_overflow(browser) == "", f"{what} at {width} px"
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), f"{what} scrolls sideways at {width} px"
    found = axe_violations(browser)
    assert found == [], f"{what} at {width} px: {found}"
    if width < 500:
        assert browser.execute_script(SMALL_TARGETS, CONTROLS) == [], f"{what} at {width} px"


def text(browser, css: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, css).text


def shown(browser, css: str) -> bool:
    found = browser.find_elements(By.CSS_SELECTOR, css)
    return bool(found) and found[0].is_displayed()


def scan_drawn(d) -> bool:
    """The scan page's image on its canvas and its teaching panel in place."""
    drawn = d.execute_script("return document.getElementById('canvas').width")
    return bool(drawn and d.find_elements(By.ID, "teaching"))


# --------------------------------------------------------------------------- item 1


def test_1_a_correction_is_called_a_correction_with_its_summary_in_the_rubrics_words(
    server, chrome, resident, instructor, cohort
):
    moved = make_analysis(resident, items=["GB.gallbladder.incomplete", "ATT.mild"], at=days(1))
    boxes = [{"id": s["id"], "box": list(s["box"])} for s in moved.result["structures"]]
    x0, y0, x1, y1 = boxes[0]["box"]
    boxes[0]["box"] = [x0 + 80, y0, x1 + 80, y1]  # the first box moved 80 to the right
    kept_item = {"item": "GB.gallbladder.incomplete", "reason": "The fundus is cut off"}
    correction_create(
        reviewer=instructor, analysis=moved, planes=["GB"], structures=boxes,
        deductions=[kept_item], note="",
    )  # fmt: skip
    kept = make_analysis(resident, items=["ATT.mild"], at=days(2))
    correct(kept, instructor)
    summary = reviewed_answer(analysis=moved)["summary"]
    struck = RUBRIC.items["ATT.mild"].condition
    assert summary == f"moved 1 box, struck out “{struck}”"  # what the page must then show

    log_in(chrome, server, "rita")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, f"{server}/scans/{moved.scan_id}/", scan_drawn)
        assert text(chrome, "#status") == "corrected by Ian"
        line = text(chrome, "#review-line")
        assert f"corrected the AI's answer: {summary}" in line and "confirmed" not in line
        assert text(chrome, "#change-summary") == f"In short: {summary}."
        assert "Box moved: Gallbladder" in text(chrome, "#changes")
        said = text(chrome, "#ai-said") + text(chrome, "#deductions")
        assert struck in said
        for code in ("ATT.mild", "GB.gallbladder.incomplete"):  # the rubric's words, no codes
            assert code not in said
        fits_and_passes_axe(chrome, width, "a corrected scan")

        visit(chrome, f"{server}/scans/{kept.scan_id}/", scan_drawn)
        assert text(chrome, "#status") == "confirmed by Ian"
        assert "confirmed the AI's answer" in text(chrome, "#review-line")
        assert "kept the AI's plane, every box and every deduction" in text(chrome, "#changes")
        fits_and_passes_axe(chrome, width, "a confirmed scan")

        visit(chrome, f"{server}/notifications/")
        notes = [li.text for li in chrome.find_elements(By.CSS_SELECTOR, "#notifications li")]
        [about_moved] = [n for n in notes if f"#{moved.scan_id}:" in n]
        [about_kept] = [n for n in notes if f"#{kept.scan_id}:" in n]
        assert (
            f"Ian corrected scan #{moved.scan_id}" in about_moved and f"({summary})" in about_moved
        )
        assert f"Ian confirmed scan #{kept.scan_id}" in about_kept
        fits_and_passes_axe(chrome, width, "the notifications")


# --------------------------------------------------------------------------- item 2


def test_2_competency_counts_verified_evidence_and_says_where_ai_only_scans_count(
    server, chrome, resident, instructor, program_admin, cohort
):
    rule = {"plane": "RKL", "min_count": 2, "min_grade": "Good", "verified_count": 0}
    requirement_set_save(user=program_admin, name="Strict", cohorts=[cohort], requirements=[rule])
    practice = {"plane": "GB", "min_count": 1, "min_grade": "Good", "verified_count": 0}
    requirement_set_save(
        user=program_admin, name="Practice", cohorts=[cohort], requirements=[practice],
        allow_ai_evidence=True,
    )  # fmt: skip
    for n, score in enumerate((7, 9)):  # the AI's grades of two scans it named RKL
        make_analysis(resident, planes=("RKL",), structures=[], score=score, at=days(n))
    make_analysis(resident, score=8, at=days(3))  # GB, the AI's own grade

    pages = [
        ("rita", f"/competency/residents/{resident.pk}/"),
        ("ian", f"/competency/cohorts/{cohort.pk}/"),
    ]
    for who, path in pages:
        log_in(chrome, server, who)
        for width, height in WIDTHS:
            chrome.set_window_size(width, height)
            visit(chrome, server + path)
            rita = "" if who == "rita" else '[data-resident="rita"]'  # the cohort's: her rows
            rkl = chrome.find_element(By.CSS_SELECTOR, f'tr[data-plane="RKL"]{rita}')
            assert "in progress" in rkl.text and "met" not in rkl.text.replace("Met on", "")
            assert "0 / 2" in rkl.text and "2 awaiting verification" in rkl.text
            assert "AI-only scans count" not in rkl.text
            assert not rkl.find_elements(By.CSS_SELECTOR, "button")  # no sign-off to ask for
            gb = chrome.find_element(By.CSS_SELECTOR, f'tr[data-plane="GB"]{rita}')
            assert "met" in gb.text and "AI-only scans count" in gb.text
            assert gb.find_element(By.CSS_SELECTOR, ".ai-evidence").is_displayed()
            fits_and_passes_axe(chrome, width, path)


# --------------------------------------------------------------------------- item 3


def _declined(resident):
    a = make_analysis(resident, score=10)
    result = Assessment(abstained=True, needs_review=True, ood_score=9.0)
    Analysis.objects.filter(pk=a.pk).update(
        abstained=True, planes=[], score=None, grade="", needs_review=True,
        result=result.to_dict(),
    )  # fmt: skip
    event = {"type": "abstain", "reason": ABSTAIN_REASON, "ood_score": 9.0, "threshold": 4.0}
    AnalysisEvent.objects.create(analysis=a, seq=1, type="abstain", payload=event)
    done = {"type": "done", "status": "done", "needs_review": True}
    AnalysisEvent.objects.create(analysis=a, seq=2, type="done", payload=done)
    return a


def test_3_a_declined_scan_says_why_and_what_next_and_an_instructor_assesses_it(
    server, chrome, resident, instructor, cohort
):
    declined = _declined(resident)
    url = f"{server}/scans/{declined.scan_id}/"
    reason_shown = lambda d: d.find_element(By.ID, "abstain-reason").is_displayed()  # noqa: E731

    log_in(chrome, server, "rita")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, url, reason_shown)
        reason = text(chrome, "#abstain-reason")
        assert "unlike the scans this model was trained on" in reason and "No grade" in reason
        assert "your instructor can assess it" in reason
        assert text(chrome, "#status") == "not assessed · sent to an instructor"
        assert "What next" in text(chrome, "#declined-next")
        assert "nothing to dispute" in text(chrome, "#declined-next")
        assert not chrome.find_elements(By.ID, "dispute")  # no dispute of a score never given
        assert "Disagree" not in chrome.find_element(By.TAG_NAME, "main").text
        assert not chrome.find_elements(By.ID, "dicom-export")  # no SR of nothing
        fits_and_passes_axe(chrome, width, "a declined scan")

    log_in(chrome, server, "ian")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, url, reason_shown)
        assert not chrome.find_elements(By.ID, "review-confirm")  # nothing to confirm
        start = chrome.find_element(By.ID, "review-start")
        assert start.text == "Assess this scan"
        chrome.execute_script("arguments[0].scrollIntoView()", start)
        start.click()
        WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "editor").is_displayed())
        plane = Select(chrome.find_element(By.ID, "edit-plane"))
        assert chrome.find_element(By.ID, "edit-plane").is_displayed()
        assert plane.first_selected_option.get_attribute("value") == ""  # to be chosen
        assert "GB" in [o.get_attribute("value") for o in plane.options]
        fits_and_passes_axe(chrome, width, "the editor on a declined scan")
    # on the phone: the plane chosen, the score follows, saved as the scan's record
    plane.select_by_value("GB")
    WebDriverWait(chrome, 10).until(lambda d: text(d, "#edit-score") not in ("", "–"))
    chrome.find_element(By.ID, "edit-save").click()
    WebDriverWait(chrome, 20).until(lambda d: text(d, "#status") == "assessed by Ian")

    log_in(chrome, server, "rita")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, url, scan_drawn)
        assert text(chrome, "#status") == "assessed by Ian"
        assert "(GB)" in text(chrome, "#plane")
        assert shown(chrome, "#dicom-export")  # a record now, for the archive too
        fits_and_passes_axe(chrome, width, "a declined scan an instructor assessed")


# --------------------------------------------------------------------------- item 5


def test_5_the_editors_example_follows_the_plane_chosen(
    server, chrome, resident, instructor, cohort
):
    """Beside a scan of GB, "What Excellent looks like: GB"; once the editor's plane is SPL,
    the GB example gives way to a link to the library's SPL examples (it kept showing GB)."""
    excellent = make_analysis(resident, score=10, at=days(1))  # an Excellent GB scan
    example_publish(user=instructor, scan=excellent.scan, plane="GB", cohort=cohort)
    scan = make_analysis(resident, items=["GB.gallbladder.incomplete"], at=days(2))
    log_in(chrome, server, "ian")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, f"{server}/scans/{scan.scan_id}/", scan_drawn)
        assert shown(chrome, "#plane-example") and not shown(chrome, "#plane-example-other")
        assert "What Excellent looks like: GB" in text(chrome, "#plane-example")
        start = chrome.find_element(By.ID, "review-start")
        chrome.execute_script("arguments[0].scrollIntoView()", start)
        start.click()
        WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "editor").is_displayed())
        Select(chrome.find_element(By.ID, "edit-plane")).select_by_value("SPL")
        WebDriverWait(chrome, 10).until(lambda d: shown(d, "#plane-example-other"))
        assert not shown(chrome, "#plane-example")
        link = chrome.find_element(By.ID, "plane-example-link").get_attribute("href")
        assert link.endswith("/examples/#plane-SPL"), link
        Select(chrome.find_element(By.ID, "edit-plane")).select_by_value("GB")
        WebDriverWait(chrome, 10).until(lambda d: shown(d, "#plane-example"))
        assert not shown(chrome, "#plane-example-other")
        fits_and_passes_axe(chrome, width, "the editor beside the plane's example")


# --------------------------------------------------------------------------- item 6


def _fill(browser, values: dict[str, str]) -> None:
    for key, value in values.items():
        field = browser.find_element(By.ID, f"f-{key}")
        field.clear()
        field.send_keys(value)


SSO = {
    "name": "St Elsewhere Hospital", "provider_id": "hospital",
    "issuer": "https://login.example.org/tenant/v2.0", "client_id": "abvlmq",
    "secret": "s3cret", "groups_claim": "groups",
}  # fmt: skip
LTI = {
    "name": "Canvas", "issuer": "https://canvas.example.edu", "client_id": "10000000000001",
    "auth_url": "https://canvas.example.edu/api/lti/authorize_redirect",
    "token_url": "https://canvas.example.edu/login/oauth2/token",
    "keyset_url": "https://canvas.example.edu/api/lti/security/jwks",
    "deployment_ids": "1:abc, 2:def",
}  # fmt: skip


def test_6_a_program_admin_sets_up_sign_on_and_the_lms_on_their_pages(
    server, chrome, program_admin, cohort
):
    log_in(chrome, server, "pat")
    # entered on the phone: first a wrong issuer (nothing saved, the field says why), then right
    chrome.set_window_size(390, 844)
    visit(chrome, f"{server}/sso/")
    _fill(chrome, {**SSO, "issuer": "ftp://login.example.org"})
    chrome.find_element(By.CSS_SELECTOR, "#sso-form button.primary").click()
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.ID, "setup-errors"))
    assert chrome.find_element(By.ID, "f-issuer").get_attribute("aria-invalid") == "true"
    assert not SocialApp.objects.exists()
    fits_and_passes_axe(chrome, 390, "/sso/ with a wrong field")
    _fill(chrome, SSO)
    chrome.find_element(By.CSS_SELECTOR, "#sso-form button.primary").click()
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.provider"))
    Select(chrome.find_element(By.ID, "r-hospital")).select_by_value("resident")
    Select(chrome.find_element(By.ID, "c-hospital")).select_by_visible_text(cohort.name)
    chrome.find_element(By.ID, "v-hospital").send_keys("us-residents")
    chrome.find_element(By.CSS_SELECTOR, ".rule-form button").click()
    WebDriverWait(chrome, 20).until(lambda d: "us-residents" in text(d, "ul.rules"))

    visit(chrome, f"{server}/lti/")
    _fill(chrome, {**LTI, "keyset_url": "not a url"})
    chrome.find_element(By.CSS_SELECTOR, "#lti-form button.primary").click()
    WebDriverWait(chrome, 20).until(lambda d: d.find_elements(By.ID, "setup-errors"))
    assert chrome.find_element(By.ID, "f-keyset_url").get_attribute("aria-invalid") == "true"
    assert not LtiRegistration.objects.exists()
    fits_and_passes_axe(chrome, 390, "/lti/ with a wrong field")
    _fill(chrome, LTI)
    chrome.find_element(By.CSS_SELECTOR, "#lti-form button.primary").click()
    WebDriverWait(chrome, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "section.registration")
    )
    registration = LtiRegistration.objects.get()

    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, f"{server}/sso/")
        card = chrome.find_element(By.CSS_SELECTOR, 'section.provider[data-provider="hospital"]')
        uri = card.find_element(By.CSS_SELECTOR, ".redirect-uri")
        assert uri.is_displayed() and uri.text == f"{server}/sso/hospital/login/callback/"
        assert SSO["issuer"] in card.text and "client ID abvlmq" in card.text
        assert "s3cret" not in chrome.page_source  # the secret is never shown again
        assert card.find_element(By.CSS_SELECTOR, "button.try-sign-in").is_displayed()
        assert f"us-residents → Resident, {cohort.name}" in text(chrome, "ul.rules")
        for key in SSO:  # the form's named fields, each labelled
            assert chrome.find_element(By.CSS_SELECTOR, f'label[for="f-{key}"]').text
        fits_and_passes_axe(chrome, width, "/sso/")

        visit(chrome, f"{server}/lti/")
        urls = {
            "url-login": "/lti/login/", "url-launch": "/lti/launch/",
            "url-deep-link": "/lti/launch/", "url-jwks": "/lti/jwks/",
        }  # fmt: skip
        for element, path in urls.items():
            code = chrome.find_element(By.ID, element)
            assert code.is_displayed() and code.text == server + path
        reg = chrome.find_element(By.CSS_SELECTOR, "section.registration")
        assert f"/lti/login/{registration.uuid}/" in reg.text
        rows = [r.text for r in reg.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert len(rows) == 2 and all("active" in r and "never" in r for r in rows)
        fits_and_passes_axe(chrome, width, "/lti/")


# --------------------------------------------------------------------------- item 7


def test_7_the_editor_fits_a_phone_and_the_heatmap_leads_with_data_and_pins_residents(
    server, chrome, resident, other_resident, instructor, cohort
):
    scan = make_analysis(resident, items=["GB.gallbladder.incomplete", "ATT.mild"], at=days(1))
    for n in range(2):
        make_analysis(resident, planes=("SPL",), score=7, at=days(2 + n))
    make_analysis(other_resident, planes=("SPL",), score=6, at=days(4))
    log_in(chrome, server, "ian")
    for width, height in WIDTHS:
        chrome.set_window_size(width, height)
        visit(chrome, f"{server}/scans/{scan.scan_id}/", scan_drawn)
        start = chrome.find_element(By.ID, "review-start")
        chrome.execute_script("arguments[0].scrollIntoView()", start)
        start.click()
        WebDriverWait(chrome, 20).until(lambda d: d.find_element(By.ID, "editor").is_displayed())
        assert (
            Select(chrome.find_element(By.ID, "edit-plane")).first_selected_option.get_attribute(
                "value"
            )
            == "GB"
        )
        fits_and_passes_axe(chrome, width, "the correction editor")
        if width < 500:
            assert (
                chrome.execute_script(
                    SMALL_TARGETS, "#editor button, #editor select, #editor input"
                )
                == []
            )
            chrome.find_element(By.ID, "menu-toggle").click()
            assert chrome.execute_script(SMALL_TARGETS, ".top nav a") == []

        visit(chrome, f"{server}/progress/cohorts/{cohort.pk}/")
        heads = [th.text for th in chrome.find_elements(By.CSS_SELECTOR, "#heatmap thead th")]
        assert heads[:3] == ["Resident", "SPL", "GB"], heads  # most scanned first
        rest = heads[3:]
        assert rest and "SPL" not in rest and "GB" not in rest  # then the planes with none
        fits_and_passes_axe(chrome, width, "the cohort heatmap")
        pinned = chrome.execute_script(
            """const table = document.getElementById("heatmap");
            const box = [table, table.closest(".heatmap-wrap")]
              .find((el) => el && el.scrollWidth > el.clientWidth + 1);
            if (!box) return null;  // nothing to scroll at this width
            const cell = table.querySelector("tbody th");
            const before = cell.getBoundingClientRect().left;
            box.scrollLeft = 400;
            const after = cell.getBoundingClientRect().left;
            const first = table.querySelector("tbody td").getBoundingClientRect().left;
            return {scrolled: box.scrollLeft, before, after, first};"""
        )
        if width < 500:
            assert pinned and pinned["scrolled"] > 0, pinned  # the planes scroll on a phone
        if pinned:  # the resident column stays where it was; the planes pass under it
            assert abs(pinned["after"] - pinned["before"]) < 1, pinned
