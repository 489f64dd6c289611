"""Feedback that teaches: self-assessment before the reveal (and its accuracy), remediation
of each deduction with an Excellent example and one-click practice."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from abvlmq_web.progress.models import PracticeAssignment
from abvlmq_web.progress.selectors.practice import practice_assignments
from abvlmq_web.progress.selectors.self_assessment import self_assessment_accuracy
from abvlmq_web.progress.services import (
    example_publish,
    preference_set,
    self_assessment_submit,
)
from tests.teaching.conftest import api, correct, days, make_analysis


def test_she_assesses_herself_once_and_only_her_own_scans(analysis, resident, other_resident):
    with pytest.raises(PermissionDenied):
        self_assessment_submit(resident=other_resident, analysis=analysis, planes=["GB"], score=5)
    with pytest.raises(ValidationError):
        self_assessment_submit(resident=resident, analysis=analysis, planes=["XX"], score=11)
    self_assessment_submit(resident=resident, analysis=analysis, planes=["GB"], score=7)
    with pytest.raises(ValidationError, match="already"):
        self_assessment_submit(resident=resident, analysis=analysis, skipped=True)


def test_her_self_assessment_accuracy_is_measured_against_the_reviewed_answer(
    resident, instructor, cohort
):
    exact = make_analysis(resident, score=6, at=days(1))
    off = make_analysis(resident, score=7, at=days(2))
    skipped = make_analysis(resident, score=9, at=days(3))
    self_assessment_submit(resident=resident, analysis=exact, planes=["GB"], score=6)
    self_assessment_submit(resident=resident, analysis=off, planes=["PAN"], score=9)
    self_assessment_submit(resident=resident, analysis=skipped, skipped=True)
    acc = self_assessment_accuracy(resident=resident)
    assert (acc.count, acc.plane_rate, acc.grade_rate) == (2, 0.5, 0.5)
    assert (acc.mean_abs_error, acc.bias) == (1.0, 1.0)
    correct(off, instructor, items=["GAIN.high"])  # the instructor says 9: she was right
    acc = self_assessment_accuracy(resident=resident)
    assert (acc.grade_rate, acc.mean_abs_error, acc.bias) == (1.0, 0.0, 0.0)


def test_the_scan_page_hides_the_answer_until_she_gives_hers(client, analysis, resident):
    client.force_login(resident)
    url = f"/scans/{analysis.scan_id}/"
    assert 'data-conceal="0"' in client.get(url).content.decode()  # off by default
    preference_set(user=resident, self_assess_first=True)
    page = client.get(url).content.decode()
    assert 'data-conceal="1"' in page and 'id="self-assess-form"' in page
    response = api(resident).post(
        f"/api/analyses/{analysis.pk}/self-assessment/",
        {"planes": ["GB"], "score": 7},
        format="json",
    )
    assert response.status_code == 201
    page = client.get(url).content.decode()
    assert 'data-conceal="0"' in page and 'id="self-compare"' in page


def test_a_deduction_links_to_its_tip_an_excellent_example_and_practice(
    client, analysis, resident, other_resident, instructor, other_instructor, cohort
):
    url = f"/remediation/GB.gallbladder.incomplete/?scan={analysis.scan_id}"
    client.force_login(resident)
    page = client.get(url).content.decode()
    assert "Rotate along the gallbladder" in page  # the item's teaching tip
    assert 'id="remedy-no-example"' in page  # nothing of hers is Excellent yet

    peer = make_analysis(other_resident, score=10)
    example_publish(user=instructor, scan=peer.scan, plane="GB", cohort=cohort)
    page = client.get(url).content.decode()
    # the two boxes drawn on the example and on its enlarged view, named in a legend of
    # readable text (not SVG text scaled down with the picture) and on the enlarged view
    assert f'data-scan="{peer.scan_id}"' in page and page.count("<rect") == 4
    assert f'href="#large-{peer.scan_id}"' in page and f'id="large-{peer.scan_id}"' in page
    legend = page[page.index('class="example-legend') :]
    assert "Gallbladder</li>" in legend[: legend.index("</ol>")]
    client.force_login(resident)
    library = client.get("/examples/").content.decode()
    assert 'class="library-grid"' in library and f'id="large-{peer.scan_id}"' in library
    assert client.get(f"/examples/{peer.scan_id}/image/").status_code == 200
    client.force_login(other_instructor)
    assert client.get(f"/examples/{peer.scan_id}/image/").status_code == 404

    client.force_login(resident)
    response = client.post(
        "/progress/practice/",
        {"resident": resident.pk, "plane": "GB", "item": "GB.gallbladder.incomplete"},
    )
    assert response.status_code == 302
    practice = PracticeAssignment.objects.get()
    assert (practice.plane, practice.scan_count, practice.min_grade) == ("GB", 3, "Excellent")
    make_analysis(resident, score=9)
    assert practice_assignments(resident=resident)[0].passed == 1


def test_her_own_excellent_scan_is_the_example_when_none_is_published(client, analysis, resident):
    own = make_analysis(resident, score=9)
    client.force_login(resident)
    page = client.get(f"/remediation/ATT.mild/?scan={analysis.scan_id}").content.decode()
    assert f'data-scan="{own.scan_id}"' in page


def test_only_staff_publish_examples_to_their_own_cohorts(
    resident, other_resident, instructor, other_instructor, cohort, other_cohort
):
    scan = make_analysis(resident, score=10).scan
    with pytest.raises(PermissionDenied):
        example_publish(user=resident, scan=scan, plane="GB", cohort=cohort)
    with pytest.raises(PermissionDenied):
        example_publish(user=other_instructor, scan=scan, plane="GB", cohort=other_cohort)
    with pytest.raises(PermissionDenied):
        example_publish(user=instructor, scan=scan, plane="GB", cohort=other_cohort)
