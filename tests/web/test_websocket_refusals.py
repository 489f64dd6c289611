"""The websocket refuses what it must, and gives a refused socket no event: a page of another
site (foreign Origin), a made-up, revoked or deactivated user's token, an expired session."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.web.conftest import ORIGIN, session_cookie, token_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]  # channels closes the test's connection


def _open(path: str, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """Connect and return every data message the socket got before it was closed or went
    quiet: a refused socket (closed before or just after accepting) gets none."""
    from abvlmq_web.asgi import application

    async def run():
        ws = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await ws.connect(timeout=5)
        got = []
        while connected and not await ws.receive_nothing(timeout=0.5):
            message = await ws.receive_output()
            if message["type"] != "websocket.send":
                break  # closed
            got.append(json.loads(message["text"]))
        if connected:
            await ws.disconnect()
        return got

    return async_to_sync(run)()


@pytest.mark.parametrize(
    "origin", [b"http://evil.example", b"http://localhost.evil.example", b"null"]
)
def test_a_page_of_another_site_is_refused_even_with_her_session(scan, resident, origin):
    path = f"/ws/scans/{scan.pk}/"
    cookie = (b"cookie", session_cookie(resident))
    assert _open(path, [ORIGIN, cookie])  # the same socket from our own origin is accepted
    assert _open(path, [(b"origin", origin), cookie]) == []


def test_a_made_up_token_gets_nothing(scan, resident):
    path = f"/ws/scans/{scan.pk}/?token="
    assert _open(path + token_for(resident), [ORIGIN])
    assert _open(path + "0" * 40, [ORIGIN]) == []
    assert _open(path + token_for(resident)[:-1] + "x", [ORIGIN]) == []


def test_a_made_up_token_wins_over_a_valid_session(scan, resident):
    """A token, when given, decides who the user is: a bad one is nobody."""
    headers = [ORIGIN, (b"cookie", session_cookie(resident))]
    assert _open(f"/ws/scans/{scan.pk}/?token={'0' * 40}", headers) == []


def test_a_revoked_token_gets_nothing(scan, resident):
    key = token_for(resident)
    Token.objects.filter(key=key).delete()  # rotated or revoked
    assert _open(f"/ws/scans/{scan.pk}/?token={key}", [ORIGIN]) == []


def test_a_deactivated_users_token_and_session_get_nothing(scan, resident):
    key, cookie = token_for(resident), session_cookie(resident)
    resident.is_active = False
    resident.save(update_fields=["is_active"])
    assert _open(f"/ws/scans/{scan.pk}/?token={key}", [ORIGIN]) == []
    assert _open(f"/ws/scans/{scan.pk}/", [ORIGIN, (b"cookie", cookie)]) == []
    # the token itself no longer names anyone (the cohort rules would refuse her too)
    from abvlmq_web.accounts.middleware import _user_for_token

    assert not async_to_sync(_user_for_token)(key).is_authenticated


def test_an_expired_session_gets_nothing(scan, resident):
    cookie = session_cookie(resident)
    Session.objects.update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    assert _open(f"/ws/scans/{scan.pk}/", [ORIGIN, (b"cookie", cookie)]) == []
