"""The serving engine behind the real web stack (marker ``vllm``: `make test-serving`).

The real vLLM server on the committed demo model, a real Celery worker with a thread pool and
ABVLMQ_ENGINE=vllm, Redis, the API: a burst of uploads from several residents is assessed as
one continuous batch, every analysis's events equal the in-process engine's on the same stored
image; and a server killed mid-burst loses nothing and leaves nothing stuck once it is back.

Without a server, the worker's side of an outage is also checked here with a stand-in engine
that raises what the serving engine raises when it cannot be reached.
"""

from __future__ import annotations

import sys
import time

import pytest
from PIL import Image

from abvlmq_web.scans import analysis as scans_analysis
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.services import scan_upload
from scoring.engine_errors import EngineUnavailable
from tests.scoring.test_vllm_engine import DEMO, VLLM_PY, _free_port
from tests.web import images
from tests.web.conftest import api, wait_until
from tests.web.live import Process, child_env

RESIDENTS = ("rita", "rhys", "rosa", "ravi")


class UnreachableEngine:
    """A stand-in for the serving engine whose server is down: it raises EngineUnavailable."""

    model_id = "unreachable@test"

    def __init__(self) -> None:
        from scoring.rubric import default_rubric

        self.rubric = default_rubric()

    @classmethod
    def load(cls, *_args, **_kwargs):
        return cls()

    def stream(self, image):
        raise EngineUnavailable("the serving engine at http://127.0.0.1:1/v1 failed: refused")


def test_an_unreachable_server_puts_the_analysis_back_in_the_queue_stand_in_engine(
    resident, settings
):
    from io import BytesIO

    settings.ABVLMQ_ENGINE = "tests.web.test_vllm_end_to_end:UnreachableEngine"
    scans_analysis._engines.clear()
    scan = scan_upload(user=resident, file=BytesIO(images.phantom()), queue=False)
    assert analysis_run(analysis_id=scan.analysis.pk) is None
    a = Analysis.objects.get(pk=scan.analysis.pk)
    # back in the queue for the sweeper to send again; the outage cost the scan no attempt
    assert (a.status, a.enqueued_at, a.attempts, a.failure_reason) == ("queued", None, 0, "")


# ------------------------------------------------------------------ the real server


def _server(log_dir, port: int) -> Process:
    argv = [
        str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(DEMO),
        "--served-model-name", "abvlmq", "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "1024", "--dtype", "float32", "--enforce-eager",
    ]  # fmt: skip
    env = child_env(VLLM_CPU_KVCACHE_SPACE="1")
    return Process(
        "vllm", argv, env, ready="Application startup complete", log_dir=log_dir, ready_timeout=900
    )


def _worker(log_dir, port: int) -> Process:
    argv = [
        sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker",
        "-Q", scans_analysis.settings.ABVLMQ_INFERENCE_QUEUE, "--pool=threads",
        "--concurrency=16", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=INFO", "-n", f"vllm-{port}@%h",
    ]  # fmt: skip
    env = child_env(
        ABVLMQ_ENGINE="vllm",
        ABVLMQ_MODEL_DIR=str(DEMO),
        ABVLMQ_VLLM_URL=f"http://127.0.0.1:{port}/v1",
        ABVLMQ_VLLM_RETRIES="1",
        ABVLMQ_QUEUE_SHARE="4",
        OMP_NUM_THREADS="1",
        # make run's own: longer than an analysis may run (child_env's 4 s is for the tests
        # that kill a one-at-a-time worker; here 16 analyses in flight each take many seconds)
        ABVLMQ_BROKER_VISIBILITY_TIMEOUT="360",
    )
    return Process("worker-vllm", argv, env, ready="ready.", log_dir=log_dir)


def _burst(n: int) -> list[int]:
    from abvlmq_web.accounts.models import User
    from abvlmq_web.accounts.services import user_create

    ids = []
    for k in range(n):
        name = RESIDENTS[k % len(RESIDENTS)]
        user = User.objects.filter(username=name).first() or user_create(
            username=name, password="correct horse battery", role="resident"
        )
        png = images.phantom(index=k, seed=9)
        response = api(user).post(
            "/api/scans/", {"file": images.file(f"s{k}.png", png)}, format="multipart"
        )
        assert response.status_code == 201, response.content
        ids.append(Analysis.objects.get(scan_id=response.json()["id"]).pk)
    return ids


def _events(analysis: Analysis) -> list[dict]:
    return [e.payload for e in analysis.events.order_by("seq") if e.type != "done"]


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.e2e
def test_a_burst_through_the_stack_equals_the_in_process_engine(
    transactional_db, redis_layer, log_dir, settings
):
    from scoring.engine import Engine
    from tests.scoring.test_vllm_engine import _same

    settings.ABVLMQ_QUEUE_SHARE = 4  # each resident's uploads reach the server together
    port = _free_port()
    server = _server(log_dir, port)
    worker = _worker(log_dir, port)
    try:
        ids = _burst(12)
        wait_until(
            lambda: Analysis.objects.filter(pk__in=ids, status="done").count() == len(ids),
            timeout=600,
        )
        local = Engine.load(DEMO, device="cpu")
        for analysis in Analysis.objects.filter(pk__in=ids):
            with analysis.scan.image.open("rb") as fh:
                image = Image.open(fh).convert("RGB")
            expected = list(local.stream(image))
            _same(expected, _events(analysis))
        assert "Traceback" not in worker.text()
    finally:
        worker.stop()
        server.stop()


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.e2e
def test_a_server_killed_mid_burst_loses_nothing_and_leaves_nothing_stuck(
    transactional_db, redis_layer, log_dir, settings
):
    settings.ABVLMQ_QUEUE_SHARE = 4
    port = _free_port()
    server = _server(log_dir, port)
    worker = _worker(log_dir, port)
    beat = Process(
        "sweeper",
        [sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker", "-B", "-Q",
         scans_analysis.settings.ABVLMQ_MAINTENANCE_QUEUE, "--pool", "solo",
         "--without-gossip", "--without-mingle", "--loglevel", "INFO",
         "--schedule", str(log_dir / "beat-schedule")],
        child_env(ABVLMQ_SWEEP_INTERVAL="3", ABVLMQ_QUEUE_SHARE="4"),
        ready="ready.",
        log_dir=log_dir,
    )  # fmt: skip
    try:
        ids = _burst(12)
        wait_until(lambda: Analysis.objects.filter(pk__in=ids, status="done").exists(), 300)
        server.kill()  # mid-burst: the API server and its engine process, SIGKILL
        time.sleep(5)
        assert Analysis.objects.filter(pk__in=ids, status="failed").count() == 0
        server = _server(log_dir, port)  # back on the same address
        wait_until(
            lambda: Analysis.objects.filter(pk__in=ids, status="done").count() == len(ids),
            timeout=600,
        )
        for analysis in Analysis.objects.filter(pk__in=ids):
            seqs = [e.seq for e in analysis.events.all()]
            assert seqs == list(range(1, len(seqs) + 1))  # no gap, nothing twice
            # one outcome each, never two: a score, or the model declining the image
            assert analysis.events.filter(type__in=["score", "abstain"]).count() == 1
    finally:
        beat.stop()
        worker.stop()
        server.stop()
