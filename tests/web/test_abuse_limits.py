"""Abuse limits: lockout after failed logins (django-axes) on every login, API throttles, and
the per-user quota of unfinished analyses."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from abvlmq_web.scans.models import Analysis
from tests.web import images
from tests.web.conftest import PASSWORD, api, upload

WRONG = "not the password at all"
LIMIT = 5  # the default of ABVLMQ_LOGIN_FAILURE_LIMIT
RATES = {"anon": None, "user": None, "uploads": None, "login": None}


@pytest.fixture(autouse=True)
def fresh_counts(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    cache.clear()  # throttle counts
    yield
    cache.clear()


def _page_login(client: Client, password: str):
    return client.post("/accounts/login/", {"username": "rita", "password": password})


def test_the_login_page_locks_a_username_after_repeated_failures(resident, settings):
    client = Client()
    codes = [_page_login(client, WRONG).status_code for _ in range(LIMIT)]
    assert codes == [200] * (LIMIT - 1) + [429]  # the form, then locked
    response = _page_login(client, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_resets_the_count(resident, settings):
    client = Client()
    for _ in range(LIMIT - 1):
        _page_login(client, WRONG)
    assert _page_login(client, PASSWORD).status_code == 302
    Client().post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        _page_login(Client(), WRONG)
    assert _page_login(Client(), PASSWORD).status_code == 302


def test_the_token_endpoint_locks_a_username_after_repeated_failures(resident, settings):
    client = api()
    codes = [
        client.post("/api/auth/token/", {"username": "rita", "password": WRONG}).status_code
        for _ in range(LIMIT)
    ]
    assert codes == [400] * (LIMIT - 1) + [429]
    response = client.post("/api/auth/token/", {"username": "rita", "password": PASSWORD})
    assert response.status_code == 429
    assert "token" not in response.json()


def test_the_admin_login_locks_a_username_after_repeated_failures(program_admin, settings):
    client = Client()
    form = {"username": "pat", "next": "/admin/"}
    for _ in range(LIMIT):
        client.post("/admin/login/", {**form, "password": WRONG})
    response = client.post("/admin/login/", {**form, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_token_endpoint_is_throttled_per_address(db, settings):
    settings.ABVLMQ_THROTTLE_RATES = {**RATES, "login": "3/min"}
    client = api()
    codes = [
        client.post("/api/auth/token/", {"username": f"x{i}", "password": WRONG}).status_code
        for i in range(4)
    ]
    assert codes == [400, 400, 400, 429]


@pytest.mark.slow
def test_uploads_are_throttled_per_user_and_reading_is_not(resident, other_resident, settings):
    settings.ABVLMQ_THROTTLE_RATES = {**RATES, "uploads": "2/min"}
    client = api(resident)

    def post(client):
        return client.post(
            "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
        )

    assert [post(client).status_code for _ in range(3)] == [201, 201, 429]
    assert client.get("/api/scans/").status_code == 200
    assert post(api(other_resident)).status_code == 201, "the limit is hers, not the cohort's"


@pytest.mark.slow
def test_a_user_with_too_many_unfinished_analyses_is_refused_until_some_finish(resident, settings):
    settings.ABVLMQ_MAX_PENDING_PER_USER = 3
    for seed in range(3):
        upload(resident, images.phantom(seed=seed))
    client = api(resident)
    response = client.post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    assert response.status_code == 429 and response["Retry-After"] == "30"
    assert response.json()["code"] == "quota" and "3 scans waiting" in response.json()["detail"]
    assert Analysis.objects.filter(scan__owner=resident).count() == 3, "nothing was stored"

    Analysis.objects.filter(scan__owner=resident).update(status="done")
    response = client.post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    assert response.status_code == 201


@pytest.mark.slow
def test_a_days_scanning_is_accepted_in_one_go_and_waits_behind_the_fair_share(resident, settings):
    """100 files from one user through the API with the shipped limits: every one is accepted
    and waits, queued in the database (the fair share then hands them to the broker two at a
    time: tests/web/test_durable_queue.py)."""
    from abvlmq_web import settings as shipped

    settings.ABVLMQ_THROTTLE_RATES = {**RATES, "uploads": shipped.ABVLMQ_THROTTLE_RATES["uploads"]}
    settings.ABVLMQ_MAX_PENDING_PER_USER = shipped.ABVLMQ_MAX_PENDING_PER_USER
    client = api(resident)
    png = images.phantom(seed=3)
    codes = [
        client.post(
            "/api/scans/", {"file": images.file(f"s{i}.png", png)}, format="multipart"
        ).status_code
        for i in range(100)
    ]
    assert codes == [201] * 100
    mine = Analysis.objects.filter(scan__owner=resident)
    assert mine.count() == 100 and mine.filter(status="queued").count() == 100
