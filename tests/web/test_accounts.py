"""Signing in and staying signed in: a wrong password gets no token, session-authenticated
writes need the CSRF token, a deactivated user is locked out everywhere, and moving a resident
between cohorts (or into two) moves who sees her scans."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from abvlmq_web.accounts.selectors import cohort_residents
from abvlmq_web.accounts.services import cohort_add_members, cohort_create
from abvlmq_web.review.models import ReviewPolicy
from tests.web import images
from tests.web.conftest import PASSWORD, api, token_for

# --------------------------------------------------------------------------- the token


@pytest.mark.parametrize(
    ("username", "password"),
    [("rita", "wrong horse battery"), ("rita", ""), ("nobody", PASSWORD), ("RITA", PASSWORD)],
)
def test_a_wrong_password_or_user_gets_no_token(resident, username, password):
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password})
    assert response.status_code == 400
    assert "token" not in response.json()
    assert not Token.objects.exists()  # nothing was issued on the way


def test_the_right_password_gets_her_token_and_it_works(resident):
    response = APIClient().post("/api/auth/token/", {"username": "rita", "password": PASSWORD})
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/me/").json()["username"] == "rita"


# --------------------------------------------------------------------------- CSRF


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_page_post_without_the_csrf_token_is_refused(program_admin):
    client = _csrf_client(program_admin)
    response = client.post("/review/sampling/", {"sampling_rate": "40"})
    assert response.status_code == 403
    assert not ReviewPolicy.objects.filter(sampling_rate=0.4).exists()
    client.get("/review/")  # the page sets the csrftoken cookie its form uses
    token = client.cookies["csrftoken"].value
    form = {"sampling_rate": "40", "csrfmiddlewaretoken": token}
    response = client.post("/review/sampling/", form)
    assert response.status_code == 302
    assert ReviewPolicy.objects.get(pk=1).sampling_rate == pytest.approx(0.4)


@pytest.mark.slow
def test_a_session_authenticated_api_post_needs_the_csrf_token(resident):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(resident)
    upload = {"file": images.file("p.png", images.phantom())}
    response = client.post("/api/scans/", upload, format="multipart")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert client.get("/api/scans/").json()["count"] == 0
    client.get("/upload/")
    client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    upload = {"file": images.file("p.png", images.phantom())}
    assert client.post("/api/scans/", upload, format="multipart").status_code == 201


def test_a_token_authenticated_api_post_needs_no_csrf_token(resident):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(resident)}")
    upload = {"file": images.file("p.png", images.phantom())}
    assert client.post("/api/scans/", upload, format="multipart").status_code == 201


# --------------------------------------------------------------------------- deactivated


@pytest.mark.slow
def test_a_deactivated_user_is_locked_out_of_the_api_and_the_pages(resident, scan):
    key = token_for(resident)
    pages = Client()
    pages.force_login(resident)
    assert pages.get(f"/scans/{scan.pk}/").status_code == 200
    resident.is_active = False
    resident.save(update_fields=["is_active"])

    tokened = APIClient()
    tokened.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert tokened.get("/api/me/").status_code == 401
    assert tokened.get(f"/api/scans/{scan.pk}/").status_code == 401
    response = APIClient().post("/api/auth/token/", {"username": "rita", "password": PASSWORD})
    assert response.status_code == 400
    page = pages.get(f"/scans/{scan.pk}/")  # her old session no longer counts
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert not Client().login(username="rita", password=PASSWORD)


def test_a_deactivated_residents_scans_stay_visible_to_her_instructor(resident, instructor, scan):
    resident.is_active = False
    resident.save(update_fields=["is_active"])
    assert api(instructor).get(f"/api/scans/{scan.pk}/").status_code == 200


# --------------------------------------------------------------------------- cohorts


def _sees(user, scan) -> bool:
    status = api(user).get(f"/api/scans/{scan.pk}/").status_code
    assert status in (200, 404)
    listed = scan.pk in [s["id"] for s in api(user).get("/api/scans/").json()["results"]]
    assert listed == (status == 200)
    return status == 200


@pytest.mark.slow
def test_a_resident_moved_to_another_cohort_is_seen_by_its_instructor_only(
    people, cohort, other_cohort, scan
):
    rita, ian, olga = people["resident"], people["instructor"], people["other_instructor"]
    assert (_sees(ian, scan), _sees(olga, scan)) == (True, False)
    cohort.residents.remove(rita)
    cohort_add_members(cohort=other_cohort, residents=[rita])
    assert (_sees(ian, scan), _sees(olga, scan)) == (False, True)
    assert [c["name"] for c in api(rita).get("/api/me/").json()["cohorts"]] == ["Cohort B"]


@pytest.mark.slow
def test_a_resident_in_two_cohorts_is_seen_by_both_instructors_once(
    people, cohort, other_cohort, scan
):
    rita, ian, olga = people["resident"], people["instructor"], people["other_instructor"]
    cohort_add_members(cohort=other_cohort, residents=[rita])
    assert _sees(ian, scan) and _sees(olga, scan)
    assert not _sees(people["other_resident"], scan)
    # a third cohort with both instructors must not list her scans twice
    cohort_create(name="Cohort C", instructors=[ian, olga], residents=[rita])
    assert list(cohort_residents(user=ian)).count(rita) == 1  # the cohort page's list
    for user in (ian, olga, people["program_admin"]):
        ids = [s["id"] for s in api(user).get("/api/scans/").json()["results"]]
        assert ids.count(scan.pk) == 1
    assert sorted(c["name"] for c in api(rita).get("/api/me/").json()["cohorts"]) == [
        "Cohort A", "Cohort B", "Cohort C",
    ]  # fmt: skip
