"""Review outcomes named by what happened (issue 32, item 1): a correction that moves, adds or
deletes a box is a correction, with a one-line summary in words; "confirmed" only when nothing
changed; rubric items in their wording where a person reads them."""

from __future__ import annotations

import pytest

from abvlmq_web.notifications.models import Notification
from abvlmq_web.review.models import Correction
from abvlmq_web.review.selectors import reviewed_answer
from tests.teaching.conftest import correct

pytestmark = pytest.mark.django_db


def _moved(analysis, dx=80):
    return [
        {"id": s["id"], "box": [s["box"][0] + dx, s["box"][1], s["box"][2] + dx, s["box"][3]]}
        if n == 0 else {"id": s["id"], "box": s["box"]}
        for n, s in enumerate(analysis.result["structures"])
    ]  # fmt: skip


def test_moving_a_box_is_a_correction_and_says_so_in_words(analysis, instructor):
    c = correct(analysis, instructor, structures=_moved(analysis))
    assert not c.confirmed
    shown = reviewed_answer(analysis=analysis)
    assert shown["confirmed"] is False
    assert shown["summary"] == "moved 1 box"
    note = Notification.objects.filter(user=analysis.scan.owner).latest("id")
    assert note.text.endswith("(moved 1 box).") and "corrected" in note.text
    assert "confirmed" not in note.text


def test_nothing_changed_is_a_confirmation(analysis, instructor):
    c = correct(analysis, instructor)
    assert c.confirmed
    assert reviewed_answer(analysis=analysis)["summary"] == "kept the AI's answer"


def test_the_summary_names_added_and_struck_items_in_the_rubrics_words(analysis, instructor):
    correct(analysis, instructor, items=["GB.gallbladder.incomplete", "GAIN.low"])
    summary = reviewed_answer(analysis=analysis)["summary"]
    assert "added “" in summary and "struck out “" in summary
    assert "GAIN.low" not in summary and "ATT.mild" not in summary


def test_a_saved_confirmation_that_moved_a_box_reads_as_a_correction(analysis, instructor):
    """A correction stored as confirmed before boxes counted is shown for what it was."""
    c = correct(analysis, instructor, structures=_moved(analysis))
    Correction.objects.filter(pk=c.pk).update(confirmed=True)
    assert reviewed_answer(analysis=analysis)["confirmed"] is False


def test_the_scan_page_says_corrected_with_the_summary_and_no_item_codes(
    client, analysis, instructor
):
    correct(analysis, instructor, structures=_moved(analysis), items=["GB.gallbladder.incomplete"])
    client.force_login(analysis.scan.owner)
    html = client.get(f"/scans/{analysis.scan_id}/").content.decode()
    assert "corrected the AI's answer: moved 1 box, struck out" in html
    assert "confirmed the AI" not in html
    panel = html[html.index('id="changes"') :]
    panel = panel[: panel.index("</ul>")]
    assert "ATT.mild" not in panel and "In short: moved 1 box" in panel


# --------------------------------------------------------------- declined scans (item 3)


@pytest.fixture
def declined(resident, cohort):
    from abvlmq_web.scans.models import Analysis
    from scoring.answer import Assessment
    from tests.teaching.conftest import make_analysis

    a = make_analysis(resident, score=10)
    result = Assessment(abstained=True, needs_review=True, ood_score=9.0)
    Analysis.objects.filter(pk=a.pk).update(
        abstained=True, planes=[], score=None, grade="", needs_review=True,
        result=result.to_dict(),
    )  # fmt: skip
    a.refresh_from_db()
    return a


def test_a_declined_scan_says_what_next_and_offers_no_dispute_and_no_sr(client, declined):
    client.force_login(declined.scan.owner)
    page = client.get(f"/scans/{declined.scan_id}/").content.decode()
    panel = client.get(f"/scans/{declined.scan_id}/panel/").content.decode()
    assert 'id="dicom-export"' not in page
    assert 'id="declined-next"' in panel and "nothing to dispute" in panel
    assert 'id="dispute-form"' not in panel and "Disagree with this assessment" not in panel


def test_an_instructor_assesses_a_declined_scan_from_scratch(client, declined, instructor):
    client.force_login(instructor)
    panel = client.get(f"/scans/{declined.scan_id}/panel/").content.decode()
    assert "Assess this scan" in panel and 'id="review-confirm"' not in panel
    c = correct(declined, instructor, planes=["GB"], items=["ATT.mild"])
    assert not c.confirmed and c.planes == ["GB"] and c.score == 8
    shown = reviewed_answer(analysis=declined)
    assert shown["confirmed"] is False and "from scratch" in shown["summary"]
    note = Notification.objects.filter(user=declined.scan.owner).latest("id")
    assert "assessed scan" in note.text
    client.force_login(declined.scan.owner)
    page = client.get(f"/scans/{declined.scan_id}/").content.decode()
    assert "assessed by Ian" in page and 'id="dicom-export"' in page


def test_an_account_in_no_cohort_is_not_listed_as_a_resident_to_follow(
    resident, cohort, program_admin, django_user_model
):
    """The example library's owner (a resident account in no cohort, never signing in) is not
    in the admin's resident filter (issue 32, item 8)."""
    from abvlmq_web.accounts.selectors import cohort_residents

    library = django_user_model.objects.create_user("example-library", role="resident")
    followed = set(cohort_residents(user=program_admin))
    assert resident in followed and library not in followed
