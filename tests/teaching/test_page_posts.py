"""The forms behind the teaching pages, posted as a browser does: the program's review sampling
rate (admins only), publishing a scan as a teaching example, a resident's self-assessment
preference. Each does what it says for those allowed and nothing for anyone else."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from abvlmq_web.competency.models import AuditLog
from abvlmq_web.progress.models import LearnerPreference, TeachingExample
from abvlmq_web.review.models import ReviewPolicy
from tests.teaching.conftest import make_analysis


def _rate() -> float | None:
    policy = ReviewPolicy.objects.filter(pk=1).first()
    return policy.sampling_rate if policy else None


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --------------------------------------------------------------------------- /review/sampling/


def test_an_admin_sets_the_sampling_rate_as_a_percentage(client, program_admin):
    client.force_login(program_admin)
    response = client.post("/review/sampling/", {"sampling_rate": "25"})
    assert (response.status_code, response["Location"]) == (302, "/review/")
    assert _rate() == pytest.approx(0.25)
    assert _messages(response) == ["Sampling rate set to 25%."]
    entry = AuditLog.objects.get(action="review.sampling_rate")
    assert entry.actor == program_admin and entry.details == {"rate": 0.25}
    assert "(0.25 of all, 25%)" in client.get("/review/").content.decode()


@pytest.mark.parametrize("value", ["", "lots", "101", "-1", "nan"])
def test_a_rate_outside_0_to_100_is_refused_and_the_old_one_kept(client, program_admin, value):
    client.force_login(program_admin)
    client.post("/review/sampling/", {"sampling_rate": "30"})
    response = client.post("/review/sampling/", {"sampling_rate": value})
    assert response.status_code == 302
    assert _rate() == pytest.approx(0.30)
    assert _messages(response)[-1] == "Give a percentage from 0 to 100."


@pytest.mark.parametrize("actor", ["instructor", "resident"])
def test_no_one_but_an_admin_sets_the_rate(client, people, actor):
    client.force_login(people[actor])
    response = client.post("/review/sampling/", {"sampling_rate": "100"})
    assert response.status_code == 404
    assert _rate() is None and not AuditLog.objects.exists()


def test_the_rate_is_set_by_post_only(client, program_admin):
    client.force_login(program_admin)
    assert client.get("/review/sampling/?sampling_rate=50").status_code == 405
    assert _rate() is None


# ----------------------------------------------------------------------- /examples/<id>/publish/


@pytest.fixture
def ritas_scan(resident, cohort):
    return make_analysis(resident, score=9, planes=("GB",)).scan


def test_her_instructor_publishes_a_scan_for_her_cohort(client, instructor, cohort, ritas_scan):
    client.force_login(instructor)
    response = client.post(f"/examples/{ritas_scan.pk}/publish/", {"cohort": cohort.pk})
    assert response["Location"] == f"/scans/{ritas_scan.pk}/"
    assert _messages(response) == ["Published as an example of GB."]
    example = TeachingExample.objects.get()
    assert (example.scan, example.plane, example.cohort) == (ritas_scan, "GB", cohort)
    assert example.published_by == instructor
    client.post(f"/examples/{ritas_scan.pk}/publish/", {"cohort": cohort.pk})
    assert TeachingExample.objects.count() == 1  # publishing twice is one example


def test_an_instructor_must_name_a_cohort_an_admin_need_not(
    client, instructor, program_admin, ritas_scan
):
    client.force_login(instructor)
    response = client.post(f"/examples/{ritas_scan.pk}/publish/")
    assert "Choose one of your cohorts" in _messages(response)[0]
    assert not TeachingExample.objects.exists()
    client.force_login(program_admin)
    client.post(f"/examples/{ritas_scan.pk}/publish/")
    assert TeachingExample.objects.get().cohort is None  # every cohort


def test_outsiders_cannot_publish_her_scan(client, people, other_cohort, cohort, ritas_scan):
    url = f"/examples/{ritas_scan.pk}/publish/"
    client.force_login(people["other_instructor"])  # cannot see the scan at all
    assert client.post(url, {"cohort": other_cohort.pk}).status_code == 404
    client.force_login(people["instructor"])  # sees the scan, but not cohort B
    assert client.post(url, {"cohort": other_cohort.pk}).status_code == 404
    client.force_login(people["resident"])  # her own scan, but residents do not publish
    response = client.post(url, {"cohort": cohort.pk})
    assert _messages(response) == ["Only instructors publish examples."]
    assert not TeachingExample.objects.exists()
    client.logout()
    assert client.post(url, {"cohort": cohort.pk}).status_code == 302  # to the login page
    assert not TeachingExample.objects.exists()


# --------------------------------------------------------------------------- /progress/preference/


def test_a_resident_turns_self_assessment_first_on_and_off(client, resident):
    client.force_login(resident)
    response = client.post("/progress/preference/", {"self_assess_first": "on"})
    assert (response.status_code, response["Location"]) == (302, "/progress/")
    assert LearnerPreference.objects.get(user=resident).self_assess_first is True
    client.post("/progress/preference/", {})  # an unticked box sends nothing
    assert LearnerPreference.objects.get(user=resident).self_assess_first is False
    assert LearnerPreference.objects.count() == 1


def test_the_preference_is_ones_own_and_needs_a_login(client, resident, other_resident):
    client.force_login(other_resident)
    client.post("/progress/preference/", {"self_assess_first": "on", "user": resident.pk})
    assert list(LearnerPreference.objects.values_list("user", "self_assess_first")) == [
        (other_resident.pk, True)
    ]
    client.logout()
    response = client.post("/progress/preference/", {"self_assess_first": "on"})
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/progress/preference/").status_code == 302
    client.force_login(resident)
    assert client.get("/progress/preference/").status_code == 405
    assert not LearnerPreference.objects.filter(user=resident).exists()
