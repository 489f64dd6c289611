"""API tokens expire and die at logout; every password set goes through Django's validators."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.authtoken.models import Token

from abvlmq_web.accounts.services import user_create
from tests.web.conftest import PASSWORD, api, token_for, ws_session


def _token_client(token: str):
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.mark.parametrize("password", ["1", "83749261", "password123", "rita-rita"])
def test_user_create_refuses_a_weak_password(db, password):
    with pytest.raises(ValidationError):
        user_create(username="rita", password=password, first_name="Rita")


def test_user_create_takes_a_strong_password(db):
    user = user_create(username="rita", password=PASSWORD)
    assert user.check_password(PASSWORD)


def test_a_token_older_than_its_lifetime_is_refused_and_a_new_one_is_issued(resident, settings):
    settings.ABVLMQ_TOKEN_TTL_HOURS = 24
    old = token_for(resident)
    assert _token_client(old).get("/api/me/").status_code == 200
    Token.objects.filter(key=old).update(created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    response = _token_client(old).get("/api/me/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]

    fresh = api().post("/api/auth/token/", {"username": "rita", "password": PASSWORD})
    assert fresh.status_code == 200 and fresh.json()["token"] != old
    assert _token_client(fresh.json()["token"]).get("/api/me/").status_code == 200


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
@pytest.mark.slow
def test_an_expired_token_opens_no_websocket(people, scan):
    token = token_for(people["resident"])
    Token.objects.filter(key=token).update(created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    connected, code, _ = ws_session(f"/ws/scans/{scan.pk}/", token=token)
    assert (connected, code) == (False, 4401)


def test_logging_out_of_the_site_revokes_the_api_token(resident):
    token = token_for(resident)
    client = Client()
    client.force_login(resident)
    assert client.post("/accounts/logout/").status_code == 302
    assert _token_client(token).get("/api/me/").status_code == 401


def test_an_api_client_can_revoke_its_own_token(resident):
    token = token_for(resident)
    client = _token_client(token)
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/me/").status_code == 401
