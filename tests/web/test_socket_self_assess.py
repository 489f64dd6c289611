"""Self-assess-first over a real socket: daphne listening on 127.0.0.1, a websocket client
speaking the protocol over TCP with her session cookie (as her browser does), the events the
(scripted) engine saved. Until she has given her own assessment the socket sends her no plane,
deduction or score; after, a new socket (the page reloads) replays every event."""

from __future__ import annotations

import json

import pytest
import websocket  # websocket-client: the protocol over a real TCP socket

from abvlmq_web.progress.services import preference_set
from tests.web import scripted
from tests.web.conftest import api, session_cookie
from tests.web.live import free_port, start_server

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONCEALED = ("score", "grade", "planes", "item")


@pytest.fixture
def server(settings, log_dir):
    settings.CHANNEL_LAYERS = {"default": settings.REDIS_CHANNEL_LAYER}
    port = free_port()
    process = start_server(log_dir, port)
    yield port
    process.stop()


def _read_until_done(port: int, scan_id: int, cookie: bytes) -> list[dict]:
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws/scans/{scan_id}/",
        cookie=cookie.decode(),
        origin=f"http://127.0.0.1:{port}",
        timeout=20,
    )
    try:
        messages = []
        while not messages or messages[-1]["type"] != "done":
            messages.append(json.loads(ws.recv()))
        return messages
    finally:
        ws.close()


def test_self_assess_first_holds_on_a_real_socket_then_the_events_replay(server, scan, resident):
    preference_set(user=resident, self_assess_first=True)
    cookie = session_cookie(resident)
    hidden = _read_until_done(server, scan.pk, cookie)
    assert [m["type"] for m in hidden] == ["structure", "structure", "done"]
    assert not any(k in m for m in hidden for k in CONCEALED), hidden

    response = api(resident).post(
        f"/api/analyses/{scan.analysis.pk}/self-assessment/",
        {"planes": ["GB"], "score": 7},
        format="json",
    )
    assert response.status_code == 201
    shown = _read_until_done(server, scan.pk, cookie)
    assert [m["type"] for m in shown] == [*scripted.EXPECTED_TYPES, "done"]
    assert next(m for m in shown if m["type"] == "score")["score"] is not None
