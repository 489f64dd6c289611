"""The analysis task: events saved in order and numbered, provenance recorded, retries that
duplicate nothing, and a clear failure when every try fails."""

from __future__ import annotations

import threading
from io import BytesIO

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings

from abvlmq_web.scans import analysis as scans_analysis
from abvlmq_web.scans.analysis import analysis_run
from abvlmq_web.scans.models import Analysis, AnalysisEvent
from abvlmq_web.scans.services import scan_upload
from abvlmq_web.scans.tasks import run_analysis
from tests.web import images, scripted
from tests.web.conftest import upload

DONE = ["done"]


def event_types(analysis) -> list[str]:
    return list(analysis.events.order_by("seq").values_list("type", flat=True))


@pytest.mark.slow
def test_it_saves_every_event_in_order_then_done_and_the_result(scan):
    analysis = Analysis.objects.get(scan=scan)
    assert analysis.status == "done"
    assert event_types(analysis) == scripted.EXPECTED_TYPES + DONE
    assert list(analysis.events.values_list("seq", flat=True)) == list(range(1, 8))
    assert (analysis.score, analysis.grade) == (scripted.EXPECTED_SCORE, scripted.EXPECTED_GRADE)
    assert analysis.planes == ["GB"]
    assert analysis.result["score"] == scripted.EXPECTED_SCORE


@pytest.mark.slow
def test_it_records_the_model_and_the_rubric_version(scan):
    analysis = Analysis.objects.get(scan=scan)
    assert analysis.model_id == "scripted@demo"
    score_event = analysis.events.get(type="score").payload
    assert analysis.rubric_version == score_event["rubric_version"]
    assert analysis.rubric_version.startswith("r-")


@pytest.mark.slow
def test_a_redelivered_task_changes_nothing(scan):
    analysis = Analysis.objects.get(scan=scan)
    before = list(analysis.events.values_list("seq", "type", "payload"))
    assert analysis_run(analysis_id=analysis.pk) is None
    assert list(analysis.events.values_list("seq", "type", "payload")) == before


@pytest.mark.slow
def test_a_retry_after_a_crash_keeps_one_copy_of_each_event(resident):
    scan = upload(resident, images.phantom())
    analysis = scan.analysis
    # The first attempt saved three events and died.
    analysis.status, analysis.attempts = "running", 1
    analysis.save()
    first = run_first_events(analysis, 3)
    analysis_run(analysis_id=analysis.pk)
    analysis.refresh_from_db()
    assert analysis.status == "done" and analysis.attempts == 2
    assert event_types(analysis) == scripted.EXPECTED_TYPES + DONE
    assert [e.payload for e in analysis.events.order_by("seq")[:3]] == first


def run_first_events(analysis, n: int) -> list[dict]:
    from PIL import Image

    events = list(scripted.ScriptedEngine("x").stream(Image.new("RGB", (8, 8))))[:n]
    for seq, event in enumerate(events, start=1):
        AnalysisEvent.objects.create(analysis=analysis, seq=seq, type=event["type"], payload=event)
    return events


@pytest.mark.slow
def test_the_model_is_loaded_once_per_process(resident):
    scripted.ScriptedEngine.loads = 0
    for _ in range(3):
        scan = upload(resident, images.phantom())
        analysis_run(analysis_id=scan.analysis.pk)
    assert scripted.ScriptedEngine.loads == 1


def test_when_every_try_fails_the_analysis_ends_failed_with_the_reason(resident, monkeypatch):
    monkeypatch.setenv("ABVLMQ_SCRIPTED_FAIL", "1")
    scan = upload(resident, images.phantom())
    run_analysis.apply(args=[scan.analysis.pk])
    analysis = Analysis.objects.get(pk=scan.analysis.pk)
    assert analysis.status == "failed"
    assert "scripted model failure" in analysis.failure_reason
    assert analysis.attempts == django_settings.ABVLMQ_TASK_MAX_ATTEMPTS
    assert event_types(analysis) == ["error", "done"]
    assert analysis.events.get(type="done").payload["status"] == "failed"


def test_an_analysis_past_its_time_limit_ends_failed(resident):
    scan = upload(resident, images.phantom())
    run_analysis.on_failure(SoftTimeLimitExceeded(), "task-id", (scan.analysis.pk,), {}, None)
    analysis = Analysis.objects.get(pk=scan.analysis.pk)
    assert analysis.status == "failed" and "took longer than" in analysis.failure_reason


def test_a_scan_that_keeps_killing_workers_ends_failed_instead_of_looping(resident):
    scan = upload(resident, images.phantom())
    Analysis.objects.filter(pk=scan.analysis.pk).update(
        status="running", attempts=django_settings.ABVLMQ_TASK_MAX_ATTEMPTS
    )
    assert analysis_run(analysis_id=scan.analysis.pk) is None
    analysis = Analysis.objects.get(pk=scan.analysis.pk)
    assert analysis.status == "failed" and "tried 3 times" in analysis.failure_reason


@pytest.mark.django_db(transaction=True)
def test_an_upload_queues_its_analysis_only_after_commit(resident, monkeypatch):
    queued = []
    monkeypatch.setattr(run_analysis, "delay", lambda *a: queued.append(a))
    scan = upload(resident, images.phantom())
    assert queued == [(scan.analysis.pk,)]


@pytest.mark.slow
def test_a_message_handed_out_again_while_its_analysis_runs_here_is_ignored(
    transactional_db, resident, settings
):
    """A thread-pool worker (the serving engine's) may receive an analysis's message a second
    time while the first copy still runs (the broker's visibility timeout passed): the second
    copy is acknowledged and does nothing, and the first finishes with one attempt counted."""
    settings.ABVLMQ_ENGINE = "tests.web.test_analysis_task:GatedEngine"
    scans_analysis._engines.clear()
    scan = scan_upload(user=resident, file=BytesIO(images.phantom()), queue=False)
    analysis_id = scan.analysis.pk
    first = threading.Thread(target=analysis_run, kwargs={"analysis_id": analysis_id})
    first.start()
    assert GatedEngine.started.wait(30)  # the first copy is inside the model
    assert analysis_run(analysis_id=analysis_id) is None  # the duplicate, meanwhile
    GatedEngine.release.set()
    first.join(30)
    analysis = Analysis.objects.get(pk=analysis_id)
    assert (analysis.status, analysis.attempts) == ("done", 1)
    assert event_types(analysis) == scripted.EXPECTED_TYPES + DONE


class GatedEngine(scripted.ScriptedEngine):
    """The scripted engine, holding its stream until the test lets it go."""

    started = threading.Event()
    release = threading.Event()

    def stream(self, image):
        GatedEngine.started.set()
        assert GatedEngine.release.wait(30)
        return super().stream(image)
