"""Every page of each role in Chromium: no serious or critical axe-core violation (WCAG 2.1
A and AA), and at 390 px wide no horizontal scroll. Issue 33's pages too: annotation campaigns
(the reader's record, the adjudicator's side by side), dataset versions and a training run.
The browser tests' shared daphne and Chromium serve it (tests/web/conftest.py), the browser
reset for each test."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from abvlmq_web.annotation.services import campaign_create, record_submit
from abvlmq_web.competency.services import requirement_set_save
from abvlmq_web.datasets.models import TrainingRun
from abvlmq_web.datasets.services import version_freeze
from abvlmq_web.review.services import dispute_open
from tests.teaching.conftest import correct, days, items_for, key_boxes, make_analysis
from tests.teaching.test_browser_flows import browser, log_in, server  # noqa: F401
from tests.web.a11y import axe_violations, horizontal_overflow
from tests.web.conftest import Wait
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


@pytest.fixture
def annotated(world, instructor, other_instructor, program_admin, resident):
    """Issue 33's pages: a campaign read by Ian and Olga, Pat its adjudicator, with one scan
    agreed, one waiting for Pat and one Ian has still to read; a version frozen from it and a
    training run on it, part-way."""
    gb = ["GB"]
    analyses = [make_analysis(resident, score=8, at=days(3)) for _ in range(3)]
    campaign = campaign_create(
        user=program_admin, name="Phantoms", readers=[instructor, other_instructor],
        adjudicator=program_admin, start_from="model", scans=[a.scan for a in analyses],
    )  # fmt: skip
    agreed, disputed, unread = (campaign.items.get(scan=a.scan) for a in analyses)
    for item, scores in ((agreed, (8, 8)), (disputed, (8, 4))):
        for reader, score in zip((instructor, other_instructor), scores, strict=True):
            items = items_for(score)
            record_submit(
                reader=reader, item=item, planes=gb, structures=key_boxes(gb, items),
                deductions=[{"item": i, "reason": ""} for i in items],
            )  # fmt: skip
    version = version_freeze(user=program_admin, name="v1", campaign_ids=[campaign.pk])
    run = TrainingRun.objects.create(
        version=version, recipe="demo", config={"time_budget_min": 1.0}, budget_min=1.0,
        base_model="models/demo", out_dir="/tmp/none", created_by=program_admin,
        state="running", step=6, progress=0.4, seconds_left=36.0, attempts=1,
        loss_history=[[k, 2.0 / k] for k in range(1, 7)], log_tail="step 6 loss 0.33",
    )  # fmt: skip
    return world | {
        "campaign": campaign.pk, "disputed": disputed.pk, "unread": unread.pk,
        "version": version.pk, "run": run.pk,
    }  # fmt: skip


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
        "/scans/{a}/", "/scans/{b}/", "/notifications/", "/annotation/", "/annotation/{campaign}/",
        "/annotation/scans/{unread}/read/",
    ],
    "pat": [
        "/administration/models/", "/administration/rubrics/", "/competency/requirements/",
        "/competency/requirements/new/", "/competency/audit/", "/lti/", "/sso/", "/examples/",
        "/annotation/", "/annotation/new/", "/annotation/{campaign}/",
        "/annotation/scans/{disputed}/adjudicate/", "/datasets/", "/datasets/{version}/",
        "/datasets/runs/{run}/",
    ],
}  # fmt: skip


@pytest.mark.parametrize("who", list(PAGES), ids=lambda w: w or "anonymous")
def test_every_page_passes_axe_and_fits_a_phone(server, browser, annotated, who):  # noqa: F811
    world = annotated
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
            Wait(browser, 20).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            if browser.find_elements(By.ID, "not-found"):  # a 404 passes axe, and tests nothing
                problems[f"{path} not found"] = "the page is not this user's to open"
                continue
            if "/scans/" in path and path != "/scans/":  # the image drawn on the canvas
                # (a scan's page, a reader's and the adjudicator's)
                Wait(browser, 20).until(
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
    row = Wait(browser, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "#uploads li.refused"))
    assert not row.find_element(By.TAG_NAME, "progress").is_displayed()
    assert row.find_element(By.CSS_SELECTOR, ".state.failed").text

    browser.get(f"{server}/scans/{world['a']}/")
    first = Wait(browser, 20).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#deductions li[data-item]")
    )
    browser.execute_script("arguments[0].focus()", first)  # as Tab would: it is focusable
    assert "active" in first.get_attribute("class")  # its region is lit on the canvas
    canvas = browser.find_element(By.ID, "canvas")
    assert canvas.get_attribute("role") == "img" and "boxes" in canvas.get_attribute("aria-label")
