"""The review queue: what the model flagged, what the resident disputed, and a deterministic
sample at the program's rate; reviewed work leaves it; outsiders see none of it."""

from __future__ import annotations

import pytest

from abvlmq_web.review.models import ReviewPolicy
from abvlmq_web.review.selectors import is_sampled, review_queue, sample_point
from abvlmq_web.review.services import dispute_open, sampling_rate_set
from tests.teaching.conftest import api, correct, make_analysis


@pytest.fixture
def no_sampling(db):
    ReviewPolicy.objects.create(pk=1, sampling_rate=0.0)


def queue_ids(user, **kw):
    return {item.analysis.pk: item.reasons for item in review_queue(user=user, **kw)}


def test_flagged_and_disputed_analyses_wait_for_review(
    resident, other_resident, instructor, cohort, no_sampling
):
    flagged = make_analysis(resident, score=8, needs_review=True)
    quiet = make_analysis(resident, score=8)
    disputed = make_analysis(other_resident, score=5)
    dispute_open(resident=other_resident, analysis=disputed, reason="too harsh")
    queue = review_queue(user=instructor)
    assert [i.analysis.pk for i in queue] == [disputed.pk, flagged.pk]  # disputes first
    assert queue[0].reasons == ("disputed",) and queue[1].reasons == ("flagged by the model",)
    assert quiet.pk not in queue_ids(instructor)


def test_a_review_takes_it_out_and_a_later_dispute_brings_it_back(
    resident, instructor, cohort, no_sampling
):
    flagged = make_analysis(resident, score=8, needs_review=True)
    correct(flagged, instructor)
    assert flagged.pk not in queue_ids(instructor)
    dispute_open(resident=resident, analysis=flagged, reason="still wrong")
    assert queue_ids(instructor)[flagged.pk] == ("disputed", "flagged by the model")


def test_sampling_is_deterministic_and_close_to_the_rate():
    assert sample_point(12345) == sample_point(12345)
    points = [sample_point(i) for i in range(1, 2001)]
    share = sum(p < 0.2 for p in points) / len(points)
    assert 0.17 < share < 0.23
    # Raising the rate only adds analyses to the sample, it never swaps them.
    assert all(is_sampled(i, 0.3) for i in range(1, 2001) if is_sampled(i, 0.2))
    assert not any(is_sampled(i, 0.0) for i in range(1, 200))
    assert all(is_sampled(i, 1.0) for i in range(1, 200))


def test_the_program_rate_sends_unflagged_work_to_review(
    resident, instructor, program_admin, cohort
):
    analyses = [make_analysis(resident, score=9) for _ in range(6)]
    sampling_rate_set(user=program_admin, rate=1.0)
    assert set(queue_ids(instructor)) == {a.pk for a in analyses}
    assert all(r == ("sampled",) for r in queue_ids(instructor).values())
    sampling_rate_set(user=program_admin, rate=0.0)
    assert queue_ids(instructor) == {}


def test_nobody_outside_the_cohort_reads_its_queue(
    resident, people, cohort, other_cohort, no_sampling
):
    flagged = make_analysis(resident, score=8, needs_review=True)
    assert queue_ids(people["other_instructor"]) == {}
    assert flagged.pk in queue_ids(people["program_admin"])
    for actor in ("resident", "other_resident"):
        assert api(people[actor]).get("/api/review/queue/").status_code == 404
    olga = api(people["other_instructor"])
    assert olga.get("/api/review/queue/").json() == []
    assert olga.get(f"/api/review/queue/?cohort={cohort.pk}").status_code == 404
    ian = api(people["instructor"])
    assert [i["analysis"] for i in ian.get("/api/review/queue/").json()] == [flagged.pk]
    assert ian.get(f"/api/review/queue/?cohort={other_cohort.pk}").status_code == 404


def test_the_queue_page_lists_it_for_her_instructor_only(client, resident, people, no_sampling):
    flagged = make_analysis(resident, score=8, needs_review=True)
    client.force_login(people["instructor"])
    page = client.get("/review/")
    assert page.status_code == 200 and f'data-analysis="{flagged.pk}"' in page.content.decode()
    client.force_login(people["other_instructor"])
    assert f'data-analysis="{flagged.pk}"' not in client.get("/review/").content.decode()
    client.force_login(people["resident"])
    assert client.get("/review/").status_code == 404
