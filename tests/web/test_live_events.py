"""The websocket sends the saved events, then the live ones, each exactly once: a page opened
late or reconnected shows everything once, in order."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from PIL import Image

from abvlmq_web.scans.events import scan_group
from abvlmq_web.scans.models import AnalysisEvent
from tests.web import images, scripted
from tests.web.conftest import ORIGIN, assert_nothing_before_a_sentinel, session_cookie, upload

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]  # channels closes the test's connection


def answer_events() -> list[dict]:
    return list(scripted.ScriptedEngine("x").stream(Image.new("RGB", (8, 8))))


def save(analysis, seq: int, event: dict) -> None:
    AnalysisEvent.objects.create(analysis=analysis, seq=seq, type=event["type"], payload=event)


def test_a_late_page_gets_the_saved_events_then_only_new_live_ones(resident):
    scan = upload(resident, images.phantom())
    events = answer_events()
    for seq in (1, 2, 3):
        save(scan.analysis, seq, events[seq - 1])
    layer = get_channel_layer()

    async def run():
        from abvlmq_web.asgi import application

        ws = WebsocketCommunicator(
            application,
            f"/ws/scans/{scan.pk}/",
            headers=[ORIGIN, (b"cookie", cookie)],
        )
        connected, _ = await ws.connect()
        assert connected
        seen = [await ws.receive_json_from() for _ in range(3)]
        await database_sync_to_async(save)(scan.analysis, 5, events[4])  # saved, push lost
        # The worker (re)sends 2 and 3, then 4; 5 was saved but its push was lost; then 6.
        for seq in (2, 3, 4, 6):
            await layer.group_send(
                scan_group(scan.pk), {"type": "scan.event", "seq": seq, "event": events[seq - 1]}
            )
        seen += [await ws.receive_json_from() for _ in range(3)]
        await assert_nothing_before_a_sentinel(ws, scan.pk, 7)  # no duplicate of 2-6 after
        await ws.disconnect()
        return seen

    cookie = session_cookie(resident)
    seen = async_to_sync(run)()
    assert [m["seq"] for m in seen] == [1, 2, 3, 4, 5, 6]
    assert [m["type"] for m in seen] == [e["type"] for e in events[:6]]
    assert seen[0]["box"] == events[0]["box"]


def test_a_reconnected_page_replays_everything_once(scan, resident):
    from tests.web.conftest import ws_session

    _, _, first = ws_session(f"/ws/scans/{scan.pk}/", user=resident, read=7)
    _, _, again = ws_session(f"/ws/scans/{scan.pk}/", user=resident, read=7)
    assert first == again
    assert [m["type"] for m in first] == [*scripted.EXPECTED_TYPES, "done"]
    assert [m["seq"] for m in first] == list(range(1, 8))


@pytest.mark.slow
def test_a_page_waiting_longer_than_redis_blocking_pop_still_gets_its_events(redis_layer, resident):
    """channels_redis blocks 5 s per pop; a first event that takes longer (a cold model) must
    still arrive over the real Redis layer."""
    import threading
    import time

    from abvlmq_web.scans.events import push_event

    scan = upload(resident, images.phantom())
    cookie = session_cookie(resident)
    event = answer_events()[0]

    async def run():
        from abvlmq_web.asgi import application

        ws = WebsocketCommunicator(
            application, f"/ws/scans/{scan.pk}/", headers=[ORIGIN, (b"cookie", cookie)]
        )
        assert (await ws.connect())[0]
        threading.Timer(
            6.5, push_event, kwargs={"scan_id": scan.pk, "seq": 1, "event": event}
        ).start()
        t0 = time.monotonic()
        message = await ws.receive_json_from(timeout=15)
        await ws.disconnect()
        return message, time.monotonic() - t0

    message, waited = async_to_sync(run)()
    assert message["seq"] == 1 and waited > 6


def test_self_assess_first_holds_on_the_socket_then_the_events_replay(scan, resident):
    """With self-assess-first on and no score of her own yet, the socket sends her no plane,
    deduction or score (the boxes and the end still come); once she has given hers, a new
    socket (the page reloads) replays everything."""
    from abvlmq_web.progress.services import preference_set
    from tests.web.conftest import api, ws_session

    preference_set(user=resident, self_assess_first=True)
    _, _, hidden = ws_session(f"/ws/scans/{scan.pk}/", user=resident, read=3)
    assert [m["type"] for m in hidden] == ["structure", "structure", "done"]
    assert not any(k in m for m in hidden for k in ("score", "grade", "planes", "item"))
    response = api(resident).post(
        f"/api/analyses/{scan.analysis.pk}/self-assessment/",
        {"planes": ["GB"], "score": 7},
        format="json",
    )
    assert response.status_code == 201
    _, _, shown = ws_session(f"/ws/scans/{scan.pk}/", user=resident, read=7)
    assert [m["type"] for m in shown] == [*scripted.EXPECTED_TYPES, "done"]
