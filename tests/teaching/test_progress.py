"""Progress: the resident's plane table and trends, learning curves with an estimate of scans
until consistently Excellent, skill decay, the cohort heatmap and who is falling behind."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from abvlmq_web.progress.selectors.cohort import cohort_progress
from abvlmq_web.progress.selectors.planes import learning_estimate, resident_planes
from tests.teaching.conftest import correct, days, make_analysis


def test_the_plane_table_has_scans_best_median_and_last_grade(resident, instructor, cohort):
    for n, score in enumerate([6, 9, 7]):
        make_analysis(resident, score=score, at=days(n))
    make_analysis(resident, planes=("SPL",), structures=[], score=3, at=days(5))
    gb, spl = resident_planes(resident=resident)
    assert (gb.plane, gb.count, gb.best, gb.median, gb.last_grade) == ("GB", 3, 9, 7, "Good")
    assert gb.level == pytest.approx(22 / 3) and gb.level_grade == "Good"
    assert (spl.count, spl.last_grade) == (1, "Poor")


def test_a_correction_counts_over_the_ai(resident, instructor, cohort):
    a = make_analysis(resident, score=9)
    correct(a, instructor, items=["ATT.moderate"])
    (gb,) = resident_planes(resident=resident)
    assert (gb.best, gb.last_grade) == (6.0, "Good")


def test_the_learning_curve_estimate_follows_a_log_linear_fit(db):
    scores = [4 + 2 * math.log(n) for n in range(1, 6)]  # exactly a = 4, b = 2
    est = learning_estimate(scores)
    assert est.a == pytest.approx(4) and est.b == pytest.approx(2)
    # The fit reaches 8 at n = e^2 = 7.4, so scan 8; three in a row there by scan 10: 5 more.
    assert est.scans_to_excellent == 5 and not est.reached


@pytest.mark.parametrize(
    ("scores", "expected", "note"),
    [
        ([9, 8, 8.5], 0, "consistently Excellent"),
        ([7, 6], None, "needs at least 3 scans"),
        ([7, 6, 5, 5], None, "not improving yet"),
        ([2, 2.01, 2.02], None, "improving; a projection needs 5 scans"),
        ([2, 2.01, 2.02, 2.03, 2.04], None, "more than 500 scans at this rate"),
    ],
)
def test_the_learning_curve_estimate_at_its_edges(db, scores, expected, note):
    est = learning_estimate(scores)
    assert (est.scans_to_excellent, est.note) == (expected, note)


def test_the_cohort_heatmap_and_who_falls_behind(resident, other_resident, cohort, assignment):
    for n in range(2):  # Rita has passed the gallbladder assignment
        make_analysis(resident, score=8, at=days(n), assignment=assignment)
    for n, score in enumerate([9, 9, 9, 9, 9, 6, 6, 6]):  # Rhys: good, then decaying
        make_analysis(other_resident, planes=("SPL",), structures=[], score=score, at=days(n))
    data = cohort_progress(cohort=cohort, today=dt.date(2030, 1, 28))  # due 2030-01-31
    rows = {row.resident.username: row for row in data.rows}
    assert rows["rita"].planes["GB"].level_grade == "Excellent" and rows["rita"].behind == []
    assert rows["rhys"].planes["SPL"].level == 6.0
    assert rows["rhys"].behind == [
        "Gallbladder week: 0/2, due 2030-01-31",
        "skill decay on SPL: recent scores fell from 9.0 to 6.0",
    ]
    # the columns with scans lead (most scanned first: SPL 8, GB 2), then the rubric's order
    assert [code for code, _ in data.planes][:4] == ["SPL", "GB", "LLA", "LLI"]


def test_pages_draw_the_trends_as_svg(client, resident, instructor, cohort):
    for n, score in enumerate([5, 7, 8]):
        make_analysis(resident, score=score, at=days(n))
    client.force_login(resident)
    page = client.get("/progress/").content.decode()
    assert 'data-plane="GB"' in page and '<svg class="chart trend"' in page
    assert page.count("<circle") == 3
    client.force_login(instructor)
    page = client.get(f"/progress/cohorts/{cohort.pk}/").content.decode()
    assert 'id="heatmap"' in page and "level-good" in page and '<svg class="chart curve"' in page
