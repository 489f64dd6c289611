"""An annotation campaign end to end in Chromium against a real server (daphne, a subprocess on
the test database), issue 33's story for items 1-3:

Pat (program admin) imports 60 phantoms as a zip on the new-campaign page; Ian and Olga read
them through the API, disagreeing on a known 10 (4 planes, 3 grades, 3 boxes) and agreeing
within the rule on 4 more that differ (a point apart, the same grade) and 5 whose boxes moved a
little; Ian reads the last one in the browser's box editor, from a blank image; Ada, the
adjudicator, settles two on the side-by-side page (one reader's record as it stands, the
other's edited with the keyboard); the campaign page's kappas equal a hand computation.
Every page passes axe-core (WCAG 2.1 A and AA, no serious or critical violation).
"""

from __future__ import annotations

import zipfile

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from abvlmq_web.accounts.services import user_create
from abvlmq_web.annotation.models import Campaign, CampaignScan, ReaderRecord
from tests.teaching.conftest import PASSWORD, api, items_for, key_boxes
from tests.teaching.test_browser_flows import log_in, server, shot  # noqa: F401
from tests.web import images
from tests.web.a11y import axe_violations, horizontal_overflow
from tests.web.conftest import Wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def browser(fresh_browser):
    """The browser tests' shared Chromium, reset for the test (tests/web/conftest.py)."""
    return fresh_browser


N = 60
PLANE_OFF = {0, 1, 2, 3}  # Olga names RKL where Ian names GB
GRADE_OFF = {11, 16, 21}  # Ian 8 (Excellent), Olga 6 (Good)
BOX_OFF = {40, 41, 42}  # Olga's right kidney box elsewhere (IoU 0)
CLOSE_SCORE = {50: 9, 55: 9, 52: 7, 57: 7}  # a point apart, the same grade: agreement
JITTER = {30, 31, 32, 33, 34}  # Olga's right liver lobe box 20 units right: IoU 0.95
BROWSER = N - 1  # the one Ian reads on the page


def body(planes, score, boxes=None) -> dict:
    items = items_for(score)
    return {
        "planes": planes,
        "structures": boxes if boxes is not None else key_boxes(planes, items),
        "deductions": [{"item": i, "reason": ""} for i in items],
    }


def plan(k: int) -> tuple[dict, dict]:
    """Ian's and Olga's answers for the k-th scan."""
    planes = ["GB"] if k < 30 else ["RKL"]
    score = [10, 8, 6, 4, 2][k % 5]
    ian = body(planes, score)
    olga = body(planes, score)
    if k in PLANE_OFF:
        olga = body(["RKL"], score)
    if k in GRADE_OFF:
        olga = body(planes, 6)
    if k in BOX_OFF:
        boxes = key_boxes(planes, items_for(score))
        boxes[1] = {"id": "right_kidney", "box": [600, 650, 900, 950]}
        olga = body(planes, score, boxes)
    if k in CLOSE_SCORE:
        olga = body(planes, CLOSE_SCORE[k])
    if k in JITTER:
        boxes = key_boxes(planes, items_for(score))
        x1, y1, x2, y2 = boxes[0]["box"]
        boxes[0] = {"id": "right_lobe", "box": [x1 + 20, y1, x2 + 20, y2]}
        olga = body(planes, score, boxes)
    return ian, olga


SQUARE = [400, 400, 600, 600]  # where the editor's "Add box" puts a box
BROWSER_ANSWER = {
    "planes": ["GB"],
    "structures": [{"id": "gallbladder", "box": SQUARE}, {"id": "right_lobe", "box": SQUARE}],
    "deductions": [],
}


@pytest.fixture
def team(program_admin, instructor, other_instructor):
    ada = user_create(username="ada", password=PASSWORD, role="instructor", first_name="Ada")
    return {"pat": program_admin, "ian": instructor, "olga": other_instructor, "ada": ada}


def no_axe_violations(browser, page: str) -> None:
    found = axe_violations(browser)
    assert not found, f"{page}: {found}"


def kappa(pairs) -> float:
    """Cohen's kappa written out: (p_o - p_e) / (1 - p_e) from the counts."""
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    cats = {c for p in pairs for c in p}
    pe = sum(sum(a == c for a, _ in pairs) * sum(b == c for _, b in pairs) for c in cats) / (n * n)
    return (po - pe) / (1 - pe)


def test_an_admin_imports_phantoms_readers_disagree_and_the_adjudicator_settles_in_the_browser(
    server,  # noqa: F811
    browser,
    team,
    tmp_path,
):
    wait = Wait(browser, 60)
    archive = tmp_path / "phantoms.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for n in range(N):
            z.writestr(f"phantoms/{n:02d}.png", images.phantom(index=n, seed=3301))

    # Pat makes the campaign from the zip, readers to start from a blank image.
    log_in(browser, server, "pat")
    browser.get(f"{server}/annotation/new/")
    no_axe_violations(browser, "new campaign")
    browser.find_element(By.ID, "id_name").send_keys("Phantoms, first 60")
    Select(browser.find_element(By.ID, "id_reader_1")).select_by_value(str(team["ian"].pk))
    Select(browser.find_element(By.ID, "id_reader_2")).select_by_value(str(team["olga"].pk))
    Select(browser.find_element(By.ID, "id_adjudicator")).select_by_value(str(team["ada"].pk))
    browser.find_element(By.CSS_SELECTOR, "#id_start_from input[value=blank]").click()
    browser.find_element(By.CSS_SELECTOR, "#id_source input[value=import]").click()
    browser.find_element(By.ID, "id_files").send_keys(str(archive))
    browser.find_element(By.ID, "campaign-save").click()
    Wait(browser, 180).until(lambda d: d.find_elements(By.ID, "counts"))
    assert browser.find_element(By.ID, "counts").text.startswith(f"{N} being read")
    campaign = Campaign.objects.get()
    assert (campaign.start_from, campaign.source, campaign.items.count()) == ("blank", "import", N)
    items = list(campaign.items.order_by("id"))

    # The readers read through the API, each on her own; Olga reads the browser's one too.
    ian, olga = api(team["ian"]), api(team["olga"])
    for k, item in enumerate(items):
        a, b = plan(k) if k != BROWSER else (None, BROWSER_ANSWER)
        for client, answer in ((ian, a), (olga, b)):
            if answer is not None:
                response = client.post(
                    f"/api/annotation/items/{item.pk}/record/", answer, format="json"
                )
                assert response.status_code == 201, (k, response.content)

    # Ian reads the last scan in the editor, from a blank image.
    log_in(browser, server, "ian")
    browser.get(f"{server}/annotation/{campaign.pk}/")
    links = browser.find_elements(By.CSS_SELECTOR, "#queue .read-link")
    assert len(links) == 1
    links[0].click()
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    assert "blank image" in browser.find_element(By.ID, "read-start").text
    assert not browser.find_element(By.ID, "edit-ai").is_displayed()
    Select(browser.find_element(By.ID, "edit-plane")).select_by_value("GB")
    # the rubric's rule at work: both key structures deducted until they have a box
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#edit-deductions li")) == 2)
    for sid in ("gallbladder", "right_lobe"):
        Select(browser.find_element(By.ID, "edit-add-structure")).select_by_value(sid)
        browser.find_element(By.ID, "edit-add-box").click()
    wait.until(lambda d: d.find_element(By.ID, "edit-score").text == "10")
    assert browser.find_element(By.ID, "canvas").get_attribute("data-boxes") == "2"
    no_axe_violations(browser, "a reader's record")
    shot(browser, "annotation_read")
    browser.find_element(By.ID, "edit-save").click()
    wait.until(lambda d: d.current_url.rstrip("/").endswith(f"/annotation/{campaign.pk}"))
    mine = ReaderRecord.objects.get(reader=team["ian"], campaign_scan=items[BROWSER])
    assert mine.started_from == "blank" and mine.answer["structures"] == [
        {"id": "gallbladder", "box": SQUARE},
        {"id": "right_lobe", "box": SQUARE},
    ]
    assert CampaignScan.objects.get(pk=items[BROWSER].pk).state == "agreed"

    disputed = {k for k in range(N) if k in PLANE_OFF | GRADE_OFF | BOX_OFF}
    states = dict(CampaignScan.objects.values_list("pk", "state"))
    assert {k for k, item in enumerate(items) if states[item.pk] == "disputed"} == disputed

    # Ada settles two on the side-by-side page.
    log_in(browser, server, "ada")
    browser.get(f"{server}/annotation/{campaign.pk}/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#disputed tbody tr")
    assert len(rows) == len(disputed) == 10
    assert "The planes differ (GB and RKL)" in rows[0].text
    rows[0].find_element(By.CSS_SELECTOR, ".adjudicate-link").click()
    wait.until(lambda d: d.find_element(By.ID, "record-canvas-2").get_attribute("data-boxes"))
    assert browser.find_element(By.ID, "record-canvas-1").get_attribute("data-boxes") == "2"
    assert "Ian" in browser.find_element(By.ID, "side-1").text
    assert "Right kidney" in browser.find_element(By.ID, "side-2").text
    no_axe_violations(browser, "adjudication")
    browser.find_element(By.ID, "use-2").click()  # Olga's record, as it stands
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    assert Select(browser.find_element(By.ID, "edit-plane")).first_selected_option.text.startswith(
        "RKL"
    )
    shot(browser, "annotation_adjudicate")
    browser.find_element(By.ID, "edit-save").click()
    wait.until(lambda d: d.current_url.rstrip("/").endswith(f"/annotation/{campaign.pk}"))
    first = CampaignScan.objects.get(pk=items[0].pk)
    olga_record = ReaderRecord.objects.get(reader=team["olga"], campaign_scan=first)
    assert (first.state, first.adjudicated_by, first.final_answer["planes"]) == (
        "adjudicated", team["ada"], ["RKL"],
    )  # fmt: skip
    assert first.comparison["chose_record"] == olga_record.pk

    # the second: Ian's record, its gallbladder box moved 30 units right with the keyboard
    browser.find_elements(By.CSS_SELECTOR, "#disputed .adjudicate-link")[0].click()
    wait.until(lambda d: d.find_element(By.ID, "use-1").is_displayed())
    browser.find_element(By.ID, "use-1").click()
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    browser.find_element(
        By.CSS_SELECTOR, '#edit-structures li[data-structure="gallbladder"] button.select'
    ).click()
    canvas = browser.find_element(By.ID, "canvas")
    for _ in range(3):
        canvas.send_keys(Keys.ARROW_RIGHT)
    browser.find_element(By.ID, "edit-save").click()
    wait.until(lambda d: d.current_url.rstrip("/").endswith(f"/annotation/{campaign.pk}"))
    second = CampaignScan.objects.get(pk=items[1].pk)
    assert second.state == "adjudicated" and second.comparison["chose_record"] is None
    gallbladder = next(s for s in second.final_answer["structures"] if s["id"] == "gallbladder")
    assert gallbladder["box"] == [330, 420, 670, 610]
    assert second.final_answer["planes"] == ["GB"] and second.final_answer["score"] == 8

    # The campaign page: the kappas are the hand computation's.
    answers = [plan(k) if k != BROWSER else (BROWSER_ANSWER, BROWSER_ANSWER) for k in range(N)]
    planes = [("+".join(a["planes"]), "+".join(b["planes"])) for a, b in answers]
    # planes by hand: Ian GB 31 (k < 30 and the browser's), RKL 29; Olga GB 27, RKL 33;
    # both GB 27, GB/RKL 4, both RKL 29
    assert planes.count(("GB", "GB")) == 27 and planes.count(("GB", "RKL")) == 4
    po, pe = 56 / 60, (31 * 27 + 29 * 33) / 3600
    plane_kappa = (po - pe) / (1 - pe)
    assert plane_kappa == pytest.approx(kappa(planes))
    grade = {10: "E", 9: "E", 8: "E", 7: "G", 6: "G", 4: "M", 2: "P"}

    def score(a):
        return 10 - sum({"GAIN.high": 1, "ATT.mild": 2, "ATT.moderate": 4, "ATT.severe": 6,
                         "DEPTH.wrong": 1, "FOCUS.misplaced": 1}[d["item"]]
                        for d in a["deductions"])  # fmt: skip

    grades = [(grade[score(a)], grade[score(b)]) for a, b in answers]
    # grades by hand: Ian E 25 G 12 M 12 P 11; Olga E 22 G 15 M 12 P 11; 57 the same
    po, pe = 57 / 60, (25 * 22 + 12 * 15 + 12 * 12 + 11 * 11) / 3600
    grade_kappa = (po - pe) / (1 - pe)
    assert grade_kappa == pytest.approx(kappa(grades))
    scores = [(score(a), score(b)) for a, b in answers]
    values = sorted({v for p in scores for v in p})
    n = len(scores)
    row = {v: sum(a == v for a, _ in scores) / n for v in values}
    col = {v: sum(b == v for _, b in scores) / n for v in values}
    observed = sum((a - b) ** 2 for a, b in scores) / n
    expected = sum((i - j) ** 2 * row[i] * col[j] for i in values for j in values)
    score_kappa = 1 - observed / expected

    log_in(browser, server, "pat")
    browser.get(f"{server}/annotation/{campaign.pk}/")
    no_axe_violations(browser, "the campaign")
    shot(browser, "annotation_campaign")
    cells = {
        c: browser.find_element(By.CSS_SELECTOR, f"#campaign-figures .{c}")
        for c in ("plane-kappa", "grade-kappa", "score-kappa", "adjudication-share")
    }
    for name, want in (
        ("plane-kappa", plane_kappa),
        ("grade-kappa", grade_kappa),
        ("score-kappa", score_kappa),
    ):
        assert cells[name].text == f"{want:.2f}", name
        assert float(cells[name].get_attribute("data-value")) == pytest.approx(want), name
    assert cells["adjudication-share"].text == "10 of 60 (17 %)"
    assert browser.find_element(By.ID, "counts").text == (
        "0 being read · 50 agreed · 8 waiting for the adjudicator · 2 adjudicated"
    )
    browser.get(f"{server}/annotation/")
    overall = browser.find_element(By.CSS_SELECTOR, "#overall-figures .plane-kappa")
    assert overall.text == f"{plane_kappa:.2f}"
    no_axe_violations(browser, "the campaigns")
    assert browser.find_element(By.ID, "nav-annotation").is_displayed()

    # a phone: no page scrolls sideways
    browser.set_window_size(390, 844)
    for path in (f"/annotation/{campaign.pk}/", "/annotation/", "/annotation/new/"):
        browser.get(f"{server}{path}")
        assert horizontal_overflow(browser) == "", path
    log_in(browser, server, "ada")
    browser.get(f"{server}/annotation/scans/{items[2].pk}/adjudicate/")
    wait.until(lambda d: d.find_element(By.ID, "record-canvas-1").get_attribute("data-boxes"))
    browser.find_element(By.ID, "use-1").click()
    wait.until(lambda d: d.find_element(By.ID, "editor").is_displayed())
    assert horizontal_overflow(browser) == "", "adjudication"
