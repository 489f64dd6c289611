"""End to end with the real parts: Redis, a Celery worker process, the ASGI application.

A resident uploads a phantom through the API and watches structure, plane, deduction and
score events arrive over the websocket in that order, live; the same events are stored.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from abvlmq_web.scans.models import Analysis
from tests.web import images, scripted
from tests.web.conftest import (
    ORIGIN,
    api,
    assert_nothing_before_a_sentinel,
    session_cookie,
    token_for,
    wait_until,
)
from tests.web.live import Process, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # real processes (Celery worker, Redis)

_stopping: list[Process] = []  # told to stop by a test's teardown, not yet waited for


def _reap() -> None:
    """Wait for the workers told to stop (killed where a warm shutdown hangs)."""
    while _stopping:
        _stopping.pop().reap()


@pytest.fixture(scope="module", autouse=True)
def _reap_at_the_end():
    yield
    _reap()


@pytest.fixture
def worker_factory(transactional_db, redis_layer, log_dir):
    """tests/web/conftest.py's, except for the stop: a Celery worker's warm shutdown takes a
    second or two, so a test's workers are told to stop (SIGTERM) at its teardown and waited
    for once the next test's first worker is ready: that shutdown and that start overlap, and
    the old workers are gone before the new test sends anything."""
    started: list[Process] = []

    def start(**env: str) -> Process:
        started.append(start_worker(log_dir, **env))
        _reap()
        return started[-1]

    yield start
    for process in started:
        process.terminate()
        _stopping.append(process)


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
        await assert_nothing_before_a_sentinel(ws, scan_id, len(received) + 1, worker)
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

    (child,) = worker.children()
    os.kill(child, signal.SIGKILL)  # reject_on_worker_lost: requeued at once
    _assert_completed_once(analysis_id)
    assert "WorkerLostError" in worker.text() or "SIGKILL" in worker.text()


def test_an_analysis_past_its_time_limit_ends_failed_in_a_real_worker(worker_factory, resident):
    """The time limit holds in a real prefork worker (Celery's own soft limit was seen never to
    fire there): with a 1 s limit and a model that takes about 4 s, the analysis ends failed
    with the reason, is not retried, and the worker is free for the next one."""
    worker = worker_factory(ABVLMQ_TASK_TIME_LIMIT="1", ABVLMQ_SCRIPTED_DELAY="0.5")
    scan = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    analysis_id = Analysis.objects.get(scan_id=scan.json()["id"]).pk
    analysis = wait_until(
        lambda: Analysis.objects.filter(pk=analysis_id, status="failed").first(), timeout=30
    )
    assert analysis.failure_reason == "The model took longer than 1 s."
    assert analysis.attempts == 1
    wait_until(lambda: "AnalysisTimedOut" in worker.text(), timeout=20)  # its log, once written
    assert analysis.events.filter(type="score").count() == 0
    # the worker is free: the next upload is taken up (and, with the same slow model, ends
    # failed on time as well)
    second = api(resident).post(
        "/api/scans/", {"file": images.file("q.png", images.phantom(index=2))}, format="multipart"
    )
    wait_until(
        lambda: Analysis.objects.filter(scan_id=second.json()["id"], status="failed").exists(),
        timeout=30,
    )


def test_a_page_reconnected_mid_stream_gets_every_event_once_in_order(worker_factory, resident):
    """The page drops its socket while the worker is still streaming and opens a new one: the
    new socket replays what was saved and carries on live, with no gap and no repeat."""
    worker = worker_factory(ABVLMQ_SCRIPTED_DELAY="0.4")
    scan = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    scan_id = scan.json()["id"]
    cookie = session_cookie(resident)

    async def watch():
        from abvlmq_web.asgi import application

        path, headers = f"/ws/scans/{scan_id}/", [ORIGIN, (b"cookie", cookie)]
        first = WebsocketCommunicator(application, path, headers=headers)
        assert (await first.connect(timeout=10))[0]
        before = [await first.receive_json_from(timeout=20) for _ in range(2)]
        await first.disconnect()
        second = WebsocketCommunicator(application, path, headers=headers)
        assert (await second.connect(timeout=10))[0]
        status = await database_sync_to_async(
            lambda: Analysis.objects.values_list("status", flat=True).get(scan_id=scan_id)
        )()
        after = []
        while not after or after[-1]["type"] != "done":
            after.append(await second.receive_json_from(timeout=20))
        await assert_nothing_before_a_sentinel(second, scan_id, len(after) + 1, worker)
        await second.disconnect()
        return before, after, status

    before, after, status_at_reconnect = async_to_sync(watch)()
    analysis = Analysis.objects.get(scan_id=scan_id)
    assert analysis.status == "done" and analysis.attempts == 1
    assert [m["seq"] for m in before] == [1, 2]
    assert [m["seq"] for m in after] == list(range(1, 8))
    assert [m["type"] for m in after] == [*scripted.EXPECTED_TYPES, "done"]
    assert after[:2] == before
    assert status_at_reconnect == "running"  # it really was mid-stream
