"""The agreement figures on a hand-built set of corrections.

A1 Rita GB, AI [GB.gallbladder.incomplete, ATT.mild] 6 Good; Ian confirms.            (Jan)
A2 Rita GB, AI [ATT.mild] 8 Excellent; Ian strikes ATT.mild, adds GB.wall_unclear: 9.  (Feb)
A3 Rhys PAN, AI [ATT.moderate] 6 Good; Pat relabels GB, adds GB.wall_unclear: 5.       (Feb)
A4 Rita GB, AI [ATT.mild] 8; Ian first strikes everything, then Pat confirms: only the
   correction in force (Pat's) counts.                                                 (Feb)
"""

from __future__ import annotations

import datetime as dt

import pytest

from abvlmq_web.review.models import Correction
from abvlmq_web.review.selectors import agreement
from tests.teaching.conftest import api, correct, make_analysis

JAN = dt.datetime(2030, 1, 15, tzinfo=dt.UTC)
FEB = dt.datetime(2030, 2, 15, tzinfo=dt.UTC)


@pytest.fixture
def reviewed(resident, other_resident, instructor, program_admin, cohort):
    a1 = make_analysis(resident, items=["GB.gallbladder.incomplete", "ATT.mild"])
    a2 = make_analysis(resident, items=["ATT.mild"])
    a3 = make_analysis(other_resident, planes=("PAN",), items=["ATT.moderate"])
    a4 = make_analysis(resident, items=["ATT.mild"])
    c1 = correct(a1, instructor)
    c2 = correct(a2, instructor, items=["GB.wall_unclear"])
    c3 = correct(a3, program_admin, planes=["GB"], items=["ATT.moderate", "GB.wall_unclear"])
    c4a = correct(a4, instructor, items=[])
    c4b = correct(a4, program_admin)
    Correction.objects.filter(pk=c1.pk).update(created_at=JAN)
    Correction.objects.filter(pk__in=[c2.pk, c3.pk]).update(created_at=FEB)
    Correction.objects.filter(pk=c4a.pk).update(created_at=FEB)
    Correction.objects.filter(pk=c4b.pk).update(created_at=FEB + dt.timedelta(hours=1))
    return a1, a2, a3, a4


def test_overall_figures(reviewed, instructor):
    a = agreement(user=instructor).overall
    assert a.reviewed == 4
    assert a.confirm_rate == 0.5  # A1 and A4
    assert a.plane_rate == 0.75  # A3 relabelled
    assert a.grade_rate == 0.75  # A3: Good -> Moderate
    assert a.mean_abs_score_diff == 0.5  # (0 + 1 + 1 + 0) / 4


def test_per_plane_item_reviewer_and_month(reviewed, instructor):
    a = agreement(user=instructor)
    assert {k: (t.reviewed, t.confirmed) for k, t in a.by_plane.items()} == {
        "GB": (3, 2),
        "PAN": (1, 0),
    }
    assert {k: (t.kept, t.removed, t.added) for k, t in a.by_item.items()} == {
        "ATT.mild": (2, 1, 0),
        "ATT.moderate": (1, 0, 0),
        "GB.gallbladder.incomplete": (1, 0, 0),
        "GB.wall_unclear": (0, 0, 2),
    }
    assert a.by_item["ATT.mild"].agreement == pytest.approx(2 / 3)
    assert a.by_item["GB.wall_unclear"].agreement == 0.0
    assert {k: (t.reviewed, t.confirmed) for k, t in a.by_reviewer.items()} == {
        "Ian": (2, 1),
        "pat": (2, 1),
    }
    assert {k: (t.reviewed, t.confirm_rate) for k, t in a.by_month.items()} == {
        "2030-01": (1, 1.0),
        "2030-02": (3, pytest.approx(1 / 3)),
    }


def test_the_dashboard_is_for_the_cohort_only(reviewed, people, cohort, client):
    ian = api(people["instructor"]).get("/api/review/agreement/").json()
    assert ian["overall"]["reviewed"] == 4 and ian["by_item"]["GB.wall_unclear"]["added"] == 2
    olga = api(people["other_instructor"])
    assert olga.get("/api/review/agreement/").json()["overall"]["reviewed"] == 0
    assert olga.get(f"/api/review/agreement/?cohort={cohort.pk}").status_code == 404
    for actor in ("resident", "other_resident"):
        assert api(people[actor]).get("/api/review/agreement/").status_code == 404
        client.force_login(people[actor])
        assert client.get("/review/agreement/").status_code == 404
    client.force_login(people["instructor"])
    page = client.get(f"/review/agreement/?cohort={cohort.pk}").content.decode()
    assert 'data-item="GB.wall_unclear"' in page and "<svg" in page
