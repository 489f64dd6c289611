"""Once an instructor confirms or corrects a scan, that answer leads: the scan page's headline,
its boxes and its pill, every list of scans, assignment progress and the API. The AI's answer
stays on the page as "The AI said", with what changed."""

from __future__ import annotations

import html
import json
import re

import pytest

from abvlmq_web.progress.selectors.assignments import assignment_progress
from abvlmq_web.review.services import correction_confirm
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import queue_position
from tests.teaching.conftest import api, correct, key_boxes, make_analysis
from tests.web import images
from tests.web.conftest import upload


def _review_of(page: str) -> dict | None:
    m = re.search(r'data-review="([^"]*)"', page)
    return json.loads(html.unescape(m.group(1))) if m else None


def _row(page: str, scan_id: int) -> str:
    m = re.search(rf'<tr data-scan="{scan_id}">(.*?)</tr>', page, re.S)
    assert m, f"no row for scan {scan_id}"
    return m.group(1)


def _relabel(analysis, instructor):
    """Ian says the AI's gallbladder scan (6, Good) is a left portal vein view, also 6."""
    return correct(
        analysis, instructor, planes=["LPV"], structures=_lpv_structures(), items=["ATT.moderate"]
    )


def _lpv_structures():
    from scoring.rubric import default_rubric

    first, second = default_rubric().planes["LPV"].structures  # both: the rubric's rule
    return [{"id": first, "box": [200, 200, 500, 400]}, {"id": second, "box": [300, 250, 420, 330]}]


def test_the_corrected_answer_is_the_headline_of_the_residents_scan_page(
    client, analysis, resident, instructor
):
    c = _relabel(analysis, instructor)
    client.force_login(resident)
    page = client.get(f"/scans/{analysis.scan_id}/").content.decode()
    review = _review_of(page)
    assert review is not None
    assert review["plane"]["planes"] == ["LPV"]
    assert (
        (review["score"]["score"], review["score"]["grade"]) == (c.score, c.grade) == (6.0, "Good")
    )
    assert [s["structure"] for s in review["structures"]] == [s["id"] for s in c.structures]
    assert [s["box"] for s in review["structures"]] == [s["box"] for s in c.structures]
    assert [d["item"] for d in review["deductions"]] == ["ATT.moderate"]
    assert review["deductions"][0]["added"] is True
    # the pill names who reviewed it, and the AI's answer stays on the page with what changed
    assert re.search(r'id="status" class="status status-reviewed">corrected by Ian', page)
    ai_said = page[page.index('id="ai-said"') :]
    assert 'id="ai-plane">GB<' in ai_said
    assert "Plane: GB → <strong>LPV</strong>" in ai_said
    # the gallbladder item no longer applies to LPV; ATT.mild the instructor struck out herself
    assert "No longer applies to LPV: <s>" in ai_said
    assert "Struck out by the instructor: <s>" in ai_said and "Added: " in ai_said
    assert 'id="toggle-ai-boxes"' in page


def test_a_confirmed_answer_says_so_and_nothing_changed(client, analysis, resident, instructor):
    correction_confirm(reviewer=instructor, analysis=analysis)
    client.force_login(resident)
    page = client.get(f"/scans/{analysis.scan_id}/").content.decode()
    assert _review_of(page)["score"]["score"] == analysis.score
    assert ">confirmed by Ian<" in page
    assert "kept the AI's plane, every box and every deduction" in page
    assert 'id="change-plane"' not in page and 'id="change-score"' not in page


def test_before_any_review_the_ai_leads_and_says_it_needs_review(client, resident, cohort):
    a = make_analysis(resident, score=5, needs_review=True)
    client.force_login(resident)
    page = client.get(f"/scans/{a.scan_id}/").content.decode()
    assert _review_of(page) is None
    assert 'id="ai-said"' not in page
    assert ">done · needs instructor review<" in page


def test_my_work_and_the_cohort_list_show_the_reviewed_plane_and_grade(
    client, analysis, resident, instructor
):
    _relabel(analysis, instructor)
    untouched = make_analysis(resident, score=9)
    client.force_login(resident)
    mine = client.get("/").content.decode()
    row = _row(mine, analysis.scan_id)
    assert ">LPV<" in row and "6 · Good" in row and "corrected" in row
    assert ">GB<" in _row(mine, untouched.scan_id) and "9 · Excellent" in _row(
        mine, untouched.scan_id
    )
    client.force_login(instructor)
    row = _row(client.get("/cohort/").content.decode(), analysis.scan_id)
    assert ">LPV<" in row and "corrected" in row


def test_assignment_progress_counts_the_reviewed_grade_not_the_ais(
    resident, instructor, assignment
):
    poor = make_analysis(resident, score=3, assignment=assignment)  # AI: Poor
    great = make_analysis(resident, score=9, assignment=assignment)  # AI: Excellent
    assert assignment_progress(assignment=assignment, resident=resident).passed == 1
    correct(poor, instructor, items=["GAIN.high"])  # reviewed: 9, Excellent
    spl = key_boxes(["SPL"], [])
    correct(great, instructor, planes=["SPL"], structures=spl, items=[])  # not a GB view
    assert assignment_progress(assignment=assignment, resident=resident).passed == 1
    correct(great, instructor, items=[])  # back to GB, 10
    assert assignment_progress(assignment=assignment, resident=resident).passed == 2


def test_the_api_gives_the_reviewed_answer_beside_the_ais(analysis, resident, instructor):
    assert (
        api(resident).get(f"/api/scans/{analysis.scan_id}/").json()["analysis"]["reviewed"] is None
    )
    _relabel(analysis, instructor)
    body = api(resident).get(f"/api/scans/{analysis.scan_id}/").json()["analysis"]
    assert body["reviewed"]["planes"] == ["LPV"]
    assert body["reviewed"]["reviewer"] == "Ian" and body["reviewed"]["confirmed"] is False
    assert body["planes"] == ["GB"]  # the AI's answer is kept as it was


@pytest.mark.slow
def test_a_queued_scan_knows_its_place_in_the_queue(resident, cohort):
    scans = [upload(resident, images.phantom()) for _ in range(3)]
    analyses = [s.analysis for s in scans]
    assert [queue_position(analysis=a) for a in analyses] == [0, 1, 2]
    Analysis.objects.filter(pk=analyses[0].pk).update(status=Analysis.Status.RUNNING)
    analyses[0].refresh_from_db()
    assert queue_position(analysis=analyses[0]) is None
    assert [queue_position(analysis=a) for a in analyses[1:]] == [1, 2]  # the running one is ahead
    body = api(resident).get(f"/api/scans/{scans[2].pk}/").json()
    assert body["analysis"]["queue_position"] == 2


@pytest.mark.slow
def test_the_page_of_a_queued_scan_shows_its_queue_position(client, resident, cohort):
    first, second = upload(resident, images.phantom()), upload(resident, images.phantom())
    client.force_login(resident)
    assert "1 scan ahead of yours" in client.get(f"/scans/{second.pk}/").content.decode()
    assert "yours is next" in client.get(f"/scans/{first.pk}/").content.decode()


def test_the_panel_fragment_is_the_panel_a_reload_shows(client, analysis, resident, other_resident):
    client.force_login(resident)
    page = client.get(f"/scans/{analysis.scan_id}/").content.decode()
    fragment = client.get(f"/scans/{analysis.scan_id}/panel/").content.decode()
    panel = page[page.index('<section id="teaching"') : page.index("</section>") + 10]
    strip = lambda s: re.sub(r'value="[^"]*"', "", re.sub(r"\s+", " ", s)).strip()  # noqa: E731
    assert strip(fragment) == strip(panel)
    assert 'id="dispute-form"' in fragment
    client.force_login(other_resident)
    assert client.get(f"/scans/{analysis.scan_id}/panel/").status_code == 404


def test_an_outsider_gets_the_styled_not_found_page(client, analysis, other_resident):
    client.force_login(other_resident)
    response = client.get(f"/scans/{analysis.scan_id}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert 'id="not-found"' in page and 'href="/static/css/app.css"' in page
