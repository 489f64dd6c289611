"""Training runs from the application (issue 33, items 5 and 6), on a real Celery worker of the
``training`` queue with the real trainer and the demo model: a program admin starts a run on a
dataset version with the demo recipe and a budget well under a CPU minute; its page follows
the step and the loss (its websocket carries them as the worker writes them); the worker is
killed mid-run and the run resumes from its saved state; it ends with ``trainer evaluate`` of
the new model beside the model in force on the version's test split and the new model in the
registry with that report, which the registry page shows (better or worse, in words) beside
the Activate button; the admin activates it there and the next upload is assessed by it on a
real inference worker, its scan naming it. Refused with nothing changed or queued: a resident
or an instructor starting a run (or opening its socket), and a recipe the trainer's check
refuses.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from django.utils import timezone

from abvlmq_web.administration.models import ModelVersion
from abvlmq_web.core.rubrics import worker_runtime
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from abvlmq_web.datasets.services import version_freeze
from abvlmq_web.datasets.training import training_sweep
from abvlmq_web.scans.models import Analysis
from scoring.engine import model_identity
from tests.teaching.conftest import api
from tests.teaching.test_dataset_versions import add_finals, make_campaign
from tests.web import images
from tests.web.conftest import ORIGIN, session_cookie
from tests.web.live import start_worker


@pytest.fixture
def training_queue():
    """This run's training queue in the real Redis: what waits in it; emptied after."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    name = settings.ABVLMQ_TRAINING_QUEUE
    client.delete(name)
    yield lambda: client.llen(name)
    client.delete(name)
    client.close()


@pytest.fixture
def processes():
    """The workers a test starts, stopped after it (those still running)."""
    started = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def version(program_admin, instructor, resident, other_resident):
    campaign = make_campaign(program_admin, instructor, resident, other_resident)
    add_finals(campaign, resident, 30)
    return version_freeze(user=program_admin, name="v1", campaign_ids=[campaign.pk])


def _start(user, version, **data):
    return api(user).post(f"/api/dataset-versions/{version.pk}/runs/", data, format="json")


@pytest.mark.parametrize("who", ["resident", "instructor"])
def test_a_resident_or_instructor_cannot_start_a_run(who, people, version, training_queue):
    response = _start(people[who], version, recipe="demo", budget_min=0.2)
    assert response.status_code == 404
    client = Client()
    client.force_login(people[who])
    page = client.post(f"/datasets/{version.pk}/runs/", {"recipe": "demo", "budget_min": "0.2"})
    assert page.status_code == 404
    assert not TrainingRun.objects.exists()
    assert training_queue() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"overrides": "lora.rank=big"}, "lora.rank: must be an integer, got 'big'"),
        ({"overrides": "batch_size=0"}, "batch_size: and grad_accum > 0"),
        ({"overrides": "learning_rate=1"}, "unknown key(s) learning_rate"),
        ({"budget_min": None}, "Give the budget in CPU minutes"),
        ({"recipe": "paper_lora_2b", "base_path": "/nowhere/Qwen2-VL-2B"}, "is not a folder"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_an_invalid_recipe_is_refused_with_its_message_before_it_is_queued(
    data, message, program_admin, version, training_queue
):
    response = _start(program_admin, version, **({"recipe": "demo", "budget_min": 0.2} | data))
    assert response.status_code == 400
    assert message in str(response.json())
    assert not TrainingRun.objects.exists()
    assert training_queue() == 0
    # the page shows the same message, and queues nothing either
    client = Client()
    client.force_login(program_admin)
    form = {"recipe": "demo", "budget_min": "0.2", **{k: v or "" for k, v in data.items()}}
    page = client.post(f"/datasets/{version.pk}/runs/", form)
    assert page.status_code == 200 and message in html.unescape(page.content.decode())
    assert not TrainingRun.objects.exists() and training_queue() == 0


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
def test_the_runs_socket_is_for_program_admins_only(people, version):
    from abvlmq_web.asgi import application

    run = TrainingRun.objects.create(
        version=version, recipe="demo", config={}, base_model="models/demo", out_dir="/none",
        created_by=people["program_admin"],
    )  # fmt: skip

    async def open_(path, cookie=None) -> tuple[int | None, dict | None]:
        headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
        ws = WebsocketCommunicator(application, path, headers=headers)
        await ws.connect(timeout=5)
        out = await ws.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out.get("code"), None
        await ws.disconnect()
        return None, json.loads(out["text"])

    path = f"/ws/training-runs/{run.pk}/"
    for who in ("resident", "instructor"):
        assert async_to_sync(open_)(path, session_cookie(people[who])) == (4404, None)
    assert async_to_sync(open_)(path) == (4401, None)
    pat = session_cookie(people["program_admin"])
    assert async_to_sync(open_)(f"/ws/training-runs/{run.pk + 1}/", pat) == (4404, None)
    code, payload = async_to_sync(open_)(path, pat)
    assert code is None and (payload["type"], payload["id"], payload["state"]) == (
        "run", run.pk, "queued",
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str, run_id: int):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if predicate(run):
            return run
        time.sleep(0.1)
    raise AssertionError(f"{what}: {TrainingRun.objects.filter(pk=run_id).values().first()}")


@pytest.mark.e2e
@pytest.mark.slow
def test_a_run_trains_survives_a_worker_kill_is_evaluated_registered_and_assesses_uploads(
    transactional_db, redis_layer, log_dir, settings, program_admin, resident, version,
    training_queue, processes,
):  # fmt: skip
    # The real engine everywhere (the registration's probe in the training worker, then the
    # inference worker), not the web tests' scripted one.
    settings.ABVLMQ_ENGINE = "scoring.engine:Engine"
    # 30 phantoms: 21 train. A CPU budget of 0.12 min (about 25 steps of the demo recipe; the
    # worker is killed at step 8, a third of the way); epochs raised so the budget ends it.
    response = _start(
        program_admin, version, recipe="demo", budget_min=0.12,
        overrides="epochs=1000\nsave_every=5\ntorch_threads=1",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    assert training_queue() == 1  # on its own queue, nothing on the inference queue
    worker = start_worker(log_dir, queue=settings.ABVLMQ_TRAINING_QUEUE)
    processes.append(worker)
    try:
        _wait(lambda r: r.state == "running", 120, "the run was not taken", run_id)
        # The worker that takes the run over after the kill starts while this one trains: this
        # one has the run's message, the queue is empty, the spare waits.
        spare = start_worker(log_dir, queue=settings.ABVLMQ_TRAINING_QUEUE)
        processes.append(spare)
        run = _wait(lambda r: r.step >= 8, 240, "no steps", run_id)
        assert run.state == "running" and run.loss_history and run.seconds_left is not None
        page = api(program_admin).get(f"/api/training-runs/{run_id}/").json()
        assert page["step"] >= 8 and len(page["loss_history"]) == page["step"]
        assert Path(run.out_dir, "run", "state", "progress.json").is_file()  # saved at step 5
    finally:
        worker.kill()  # the machine under it is gone (the trainer with it)
    killed_at = TrainingRun.objects.get(pk=run_id).step
    assert training_sweep() == []  # its heartbeat is fresh yet
    later = timezone.now() + dt.timedelta(seconds=settings.ABVLMQ_TRAINING_STALE_AFTER + 1)
    assert training_sweep(now=later) == [run_id]  # sent again: the spare takes it
    # The inference worker starts beside the training (the trainer runs on one thread): it
    # loads the model in force now, and the new one at its first task after the activation
    # below (workers compare the active model with theirs at each task).
    inference = start_worker(log_dir)
    processes.append(inference)
    try:
        run = _wait(lambda r: r.finished, 420, "the run did not end", run_id)
    finally:
        spare.stop()
    assert run.state == "done", (run.failure_reason, run.log_tail)
    assert run.attempts == 2
    log = Path(run.out_dir, "worker.log").read_text()
    assert "resumed from" in log  # the trainer went on from its saved state
    steps = [s for s, _ in run.loss_history]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] > killed_at
    # item 6: both models measured on the same test scans, the new one registered with it
    comparison = run.evaluation["comparison"]
    n_test = version.counts["splits"]["test"]
    assert comparison["new"]["n_images"] == comparison["active"]["n_images"] == n_test
    assert comparison["verdict"] in ("better", "worse", "same")
    model = ModelVersion.objects.get(pk=run.registered_model_id)
    assert not model.is_active  # activation stays the admin's click
    assert model.base_path == run.model_dir and Path(model.base_path, "ood_stats.npz").is_file()
    # the tower stayed frozen: the base's live head (issue 34) reads the new model's tower too
    base_head = Path(run.base_model, "live_head.npz").read_bytes()
    assert Path(model.base_path, "live_head.npz").read_bytes() == base_head
    assert model.evaluation_report["compared_with"]["verdict"] == comparison["verdict"]
    assert model.evaluation_report["training_run"]["dataset"] == "v1"
    assert Path(run.out_dir, "eval", "report.md").is_file()
    client = Client()
    client.force_login(program_admin)
    registry = client.get("/administration/models/").content.decode()
    assert model.name in registry
    said = {"worse": "measures worse", "better": "measures better", "same": "measures the same"}
    assert said[comparison["verdict"]] in registry
    run_page = client.get(f"/datasets/runs/{run_id}/").content.decode()
    assert "side-by-side" in run_page and model.name in run_page

    # Activation is the admin's click on the registry (its confirmation, then the change);
    # the next upload is assessed by the new model on a real worker, and names it.
    activate = f"/administration/models/{model.pk}/activate/"
    assert f'href="{activate}"' in registry
    assert f"Activate {model.name}" in client.get(activate).content.decode()
    assert client.post(activate, {"confirm": "yes"}).status_code == 302
    model.refresh_from_db()
    assert model.is_active and worker_runtime().model_version_id == model.pk
    trained = model_identity(model.base_path)
    assert model.probe["model_id"] == trained != model_identity(settings.ABVLMQ_MODEL_DIR)
    upload = api(resident).post(
        "/api/scans/", {"file": images.file("next.png", images.phantom(index=3, seed=33))},
        format="multipart",
    )  # fmt: skip
    assert upload.status_code == 201, upload.content
    scan_id = upload.json()["id"]
    deadline = time.monotonic() + 120
    while Analysis.objects.get(scan_id=scan_id).status not in ("done", "failed"):
        assert time.monotonic() < deadline, inference.text()[-3000:]
        time.sleep(0.1)
    inference.stop()
    analysis = api(resident).get(f"/api/scans/{scan_id}/").json()["analysis"]
    assert analysis["status"] == "done", analysis["failure_reason"]
    assert (analysis["model_id"], analysis["model_name"]) == (trained, model.name)
    assert f"loading engine scoring.engine:Engine from {model.base_path}" in inference.text()
    resident_client = Client()
    resident_client.force_login(resident)
    scan_page = html.unescape(resident_client.get(f"/scans/{scan_id}/").content.decode())
    assert f'<span id="model-id">{model.name} ({trained})</span>' in scan_page


@pytest.mark.e2e
@pytest.mark.slow
def test_a_run_is_followed_live_on_its_socket_and_cancelled_while_it_trains(
    transactional_db, redis_layer, log_dir, program_admin, version, training_queue
):
    """The run's websocket carries what the worker writes as it goes (step, loss, the curve,
    time left), the cancelling and the end; the cancel stops the trainer."""
    response = _start(program_admin, version, recipe="demo", budget_min=5, overrides="epochs=1000")
    run_id = response.json()["id"]
    cancel_it = sync_to_async(
        lambda: api(program_admin).post(f"/api/training-runs/{run_id}/cancel/").status_code
    )

    cookie = session_cookie(program_admin)

    async def follow() -> list[dict]:
        from abvlmq_web.asgi import application

        ws = WebsocketCommunicator(
            application, f"/ws/training-runs/{run_id}/", headers=[ORIGIN, (b"cookie", cookie)]
        )
        connected, _ = await ws.connect(timeout=10)
        assert connected
        seen = [await ws.receive_json_from(timeout=10)]  # the run as it stands: queued
        workers.append(await start(log_dir, queue=settings.ABVLMQ_TRAINING_QUEUE))
        while seen[-1]["step"] < 3:
            seen.append(await ws.receive_json_from(timeout=240))
        assert await cancel_it() == 200
        while not seen[-1]["finished"]:
            seen.append(await ws.receive_json_from(timeout=60))
        await ws.disconnect()
        return seen

    start, workers = sync_to_async(start_worker), []
    try:
        seen = async_to_sync(follow)()
    finally:
        for worker in workers:
            worker.stop()
    assert seen[0]["type"] == "run" and seen[0]["state"] == "queued" and seen[0]["step"] == 0
    training = [m for m in seen if m["state"] == "running" and m["step"]]
    assert [m["step"] for m in training] == sorted(m["step"] for m in training)
    last = training[-1]
    assert len(last["loss_history"]) == last["step"] >= 3 and last["loss"] is not None
    assert last["seconds_left"] is not None and 0 < last["progress"] < 1
    states = [m["state"] for m in seen]
    assert "cancelling" in states and states[-1] == "cancelled"
    run = TrainingRun.objects.get(pk=run_id)
    assert run.state == "cancelled" and run.registered_model is None
    # a training worker loads no inference model beside its trainer (a GPU's memory is the
    # trainer's) and does not beat as an inference worker
    (worker,) = workers
    assert "run_training" in worker.text() and "loading engine" not in worker.text()
    assert not ModelVersion.objects.exists()
    assert DatasetVersion.objects.count() == 1
