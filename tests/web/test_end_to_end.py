"""End to end with the real parts: Redis, a Celery worker process, the ASGI application.

A resident uploads a phantom through the API and watches structure, plane, deduction and
score events arrive over the websocket in that order, live; the same events are stored.
"""

from __future__ import annotations

import time

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from abvlmq_web.scans.models import Analysis
from tests.web import images, scripted
from tests.web.conftest import ORIGIN, api, session_cookie, token_for, wait_until


def test_a_phantom_uploaded_through_the_api_streams_its_assessment_live(
    worker_factory, resident, cohort
):
    worker = worker_factory(ABVLMQ_SCRIPTED_DELAY="0.15")
    client = api()
    token = client.post(
        "/api/auth/token/", {"username": "rita", "password": "correct horse battery"}
    ).json()["token"]
    assert token == token_for(resident)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.post(
        "/api/scans/", {"file": images.file("phantom.png", images.phantom())}, format="multipart"
    )
    assert response.status_code == 201
    scan_id = response.json()["id"]
    cookie = session_cookie(resident)

    async def watch():
        from abvlmq_web.asgi import application

        ws = WebsocketCommunicator(
            application,
            f"/ws/scans/{scan_id}/",
            headers=[ORIGIN, (b"cookie", cookie)],
        )
        connected, _ = await ws.connect(timeout=10)
        assert connected
        received = []
        while not received or received[-1][1]["type"] != "done":
            received.append((time.monotonic(), await ws.receive_json_from(timeout=20)))
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received

    received = async_to_sync(watch)()
    messages = [m for _, m in received]
    assert [m["type"] for m in messages] == [*scripted.EXPECTED_TYPES, "done"]
    assert [m["seq"] for m in messages] == list(range(1, 8))
    assert received[-1][0] - received[0][0] > 0.3, "the events streamed, not all at the end"
    score = messages[5]
    assert (score["score"], score["grade"]) == (scripted.EXPECTED_SCORE, scripted.EXPECTED_GRADE)

    detail = client.get(f"/api/scans/{scan_id}/").json()
    assert detail["analysis"]["status"] == "done"
    assert detail["analysis"]["score"] == scripted.EXPECTED_SCORE
    assert detail["analysis"]["grade"] == scripted.EXPECTED_GRADE
    assert detail["analysis"]["model_id"] == "scripted@demo"
    assert detail["analysis"]["events"] == messages
    assert "run_analysis" in worker.text()


def _analysis_with_events(analysis_id: int, n: int):
    return lambda: Analysis.objects.get(pk=analysis_id).events.count() >= n


def _assert_completed_once(analysis_id: int) -> None:
    analysis = wait_until(
        lambda: Analysis.objects.filter(pk=analysis_id, status="done").first(), timeout=40
    )
    assert analysis.attempts == 2
    events = list(analysis.events.order_by("seq").values_list("seq", "type"))
    assert events == list(enumerate([*scripted.EXPECTED_TYPES, "done"], start=1))


def test_a_worker_killed_mid_analysis_is_replaced_and_the_analysis_completes_once(
    worker_factory, resident
):
    first = worker_factory(ABVLMQ_SCRIPTED_DELAY="0.4")
    scan = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    analysis_id = scan.json()["id"] and Analysis.objects.get(scan_id=scan.json()["id"]).pk
    wait_until(_analysis_with_events(analysis_id, 2), timeout=20)
    first.kill()  # SIGKILL, worker and pool together: no chance to ack, reject or clean up
    assert Analysis.objects.get(pk=analysis_id).status == "running"

    worker_factory(ABVLMQ_SCRIPTED_DELAY="0.05")  # the message comes back to a new worker
    _assert_completed_once(analysis_id)


def test_a_pool_process_killed_mid_analysis_is_retried_by_its_worker(worker_factory, resident):
    worker = worker_factory(ABVLMQ_SCRIPTED_DELAY="0.4")
    scan = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    analysis_id = Analysis.objects.get(scan_id=scan.json()["id"]).pk
    wait_until(_analysis_with_events(analysis_id, 2), timeout=20)
    import os
    import signal

    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)  # reject_on_worker_lost: requeued at once
    _assert_completed_once(analysis_id)
    assert "WorkerLostError" in worker.text() or "SIGKILL" in worker.text()
