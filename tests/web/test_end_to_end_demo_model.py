"""End to end with every real part, the model included: Redis, a Celery worker process running
scoring.engine on the committed demo model, and the ASGI application.

A resident uploads a phantom through the API; over the websocket come the structures, then the
plane, then the deductions, then the score (the order of the answer grammar), then ``done``;
the same events are stored and served by the API, with the model and rubric that scored them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from scoring.engine import model_identity
from tests.web import images
from tests.web.conftest import ORIGIN, api, assert_nothing_before_a_sentinel, session_cookie

pytestmark = [pytest.mark.ml, pytest.mark.slow, pytest.mark.e2e]
DEMO = Path(__file__).resolve().parents[2] / "models" / "demo"
GRAMMAR = re.compile(r"^(structure )*plane (deduction )*score done$")


def test_the_demo_model_streams_a_phantoms_assessment_in_grammar_order(
    settings, worker_factory, resident
):
    assert (DEMO / "config.json").exists(), "the demo model is committed under models/demo"
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    settings.ABVLMQ_MODEL_DIR = DEMO
    worker = worker_factory(ABVLMQ_MODEL_DIR=str(DEMO))
    client = api(resident)
    # A phantom with defects, so the answer has deductions to stream.
    response = client.post(
        "/api/scans/", {"file": images.file("scan.png", images.phantom(index=3, seed=7))},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201
    scan_id = response.json()["id"]
    cookie = session_cookie(resident)

    async def watch():
        from abvlmq_web.asgi import application

        ws = WebsocketCommunicator(
            application, f"/ws/scans/{scan_id}/", headers=[ORIGIN, (b"cookie", cookie)]
        )
        connected, _ = await ws.connect(timeout=10)
        assert connected
        received = []
        while not received or received[-1]["type"] != "done":
            received.append(await ws.receive_json_from(timeout=120))
        await assert_nothing_before_a_sentinel(ws, scan_id, len(received) + 1, worker)
        await ws.disconnect()
        return received

    messages = async_to_sync(watch)()
    types = [m["type"] for m in messages if m["type"] != "error"]
    assert GRAMMAR.match(" ".join(types)), types
    assert {"structure", "plane", "deduction", "score"} <= set(types)
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    for m in messages:
        if m["type"] in ("structure", "plane", "deduction"):
            assert 0 <= m["confidence"] <= 1
    score = next(m for m in messages if m["type"] == "score")

    detail = client.get(f"/api/scans/{scan_id}/").json()["analysis"]
    assert detail["status"] == "done"
    assert (detail["score"], detail["grade"]) == (score["score"], score["grade"])
    assert detail["model_id"] == model_identity(DEMO)
    assert detail["rubric_version"] == score["rubric_version"]
    assert detail["events"] == messages
    assert "run_analysis" in worker.text()
