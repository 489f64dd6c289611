"""The life of an analysis, in one module: queue -> run -> save -> events.

Queue (the durable queue: the database is the outbox, the broker only carries a copy). An
analysis is ``queued`` in the database from the upload's commit on, whether or not the broker
took its message. Three pieces keep every accepted upload moving:

- ``analyses_dispatch`` hands queued analyses that have no message out yet to the broker, at
  most ``ABVLMQ_QUEUE_SHARE`` of one user in flight at a time, users taken by their oldest
  waiting scan: one resident's burst of fifty waits behind her own share, not in front of the
  cohort. A broker that does not answer leaves them unsent (the upload still answers 201).
- ``heartbeat`` marks a running analysis alive every ``ABVLMQ_HEARTBEAT_INTERVAL`` seconds from
  a thread of the worker that runs it.
- ``analyses_sweep`` (Celery beat, every ``ABVLMQ_SWEEP_INTERVAL`` s) puts back in the outbox
  what is stuck: ``running`` with no heartbeat for ``ABVLMQ_HEARTBEAT_STALE_AFTER`` s (its
  worker died), ``queued`` with a message sent longer than ``ABVLMQ_RESEND_QUEUED_AFTER`` s ago
  (the broker may have lost it), then dispatches.

Run. The engine class is a setting (``ABVLMQ_ENGINE``, "module:Class", default
``scoring.engine:Engine``) with ``load(model_dir, adapter_dir=None)``, ``stream(image)`` (an
iterable of scoring.events whose ``.assessment`` is set once exhausted) and ``model_id``; it is
loaded once per worker process. ``analysis_run`` is what the Celery task (scans/tasks.py) calls.
A clip's analysis assesses its sampled frames a batch at a time (cine.services), telling the
scan's pages how many are assessed after each batch (``push_progress``), and records the
chosen frame's events.

Save and events. start -> record each event -> finish or fail. Every step is idempotent so that
a retried or redelivered task neither duplicates events nor undoes a finished analysis, and a
message sent twice is harmless. Saving comes first, pushing (scans/events.py) second, so a page
that connects late reads from the database what it missed.

This module imports neither scans/tasks.py (the task is taken from Celery's registry by name)
nor scans/services.py (the upload, which imports this module to queue what it stored).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone
from PIL import Image

from abvlmq_web.cine.services import assessment_events, clip_frames_assess
from abvlmq_web.core.rubrics import rubric_for_version, worker_runtime
from abvlmq_web.scans.events import push_event, push_progress
from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan
from scoring.answer import Assessment
from scoring.engine_errors import EngineUnavailable
from scoring.events import DoneEvent, Event, error_event

log = logging.getLogger(__name__)

RUN_ANALYSIS_TASK = "abvlmq_web.scans.tasks.run_analysis"


# --------------------------------------------------------------------------- queue

QUEUED, RUNNING = Analysis.Status.QUEUED, Analysis.Status.RUNNING


def in_flight(*, owner_id: int) -> int:
    """How many of the user's analyses the broker or a worker holds now."""
    return Analysis.objects.filter(
        Q(status=RUNNING) | Q(status=QUEUED, enqueued_at__isnull=False), scan__owner_id=owner_id
    ).count()


def pending(*, owner_id: int) -> int:
    """How many of the user's analyses are not finished (the upload quota counts these)."""
    return Analysis.objects.filter(scan__owner_id=owner_id, status__in=[QUEUED, RUNNING]).count()


def _run_analysis_task():
    """The Celery task that runs an analysis, from the app's registry: scans/tasks.py imports
    this module, so this module does not import it back (ScansConfig.ready registers it)."""
    return current_app.tasks[RUN_ANALYSIS_TASK]


def _send(analysis_id: int) -> bool:
    """Claim the analysis (so two dispatchers never both send it), then send its message.
    False when the broker refused: the claim is undone and the sweeper tries again."""
    claimed = Analysis.objects.filter(
        pk=analysis_id, status=QUEUED, enqueued_at__isnull=True
    ).update(enqueued_at=timezone.now())
    if not claimed:
        return True
    try:
        _run_analysis_task().delay(analysis_id)
    except Exception as exc:  # kombu OperationalError, redis ConnectionError, ...
        log.warning(
            "broker refused analysis %s (%s); it stays queued for the sweeper", analysis_id, exc
        )
        Analysis.objects.filter(pk=analysis_id).update(enqueued_at=None)
        return False
    return True


def analyses_dispatch(*, owner_id: int | None = None) -> int:
    """Send unsent queued analyses within each user's share; returns how many were sent."""
    share = settings.ABVLMQ_QUEUE_SHARE
    unsent = Analysis.objects.filter(status=QUEUED, enqueued_at__isnull=True)
    if owner_id is not None:
        unsent = unsent.filter(scan__owner_id=owner_id)
    owners = (
        unsent.values("scan__owner_id")
        .annotate(first=Min("created_at"))
        .order_by("first")
        .values_list("scan__owner_id", flat=True)
    )
    sent = 0
    for owner in list(owners):
        free = share - in_flight(owner_id=owner)
        if free <= 0:
            continue
        ids = list(
            unsent.filter(scan__owner_id=owner)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        for analysis_id in ids:
            if not _send(analysis_id):
                return sent  # the broker is down: no point trying the rest now
            sent += 1
    return sent


@dataclass(frozen=True)
class SweepReport:
    revived: int  # running, but its worker stopped beating
    resent: int  # queued, its message sent long ago and maybe lost
    sent: int  # messages handed to the broker by this sweep


def analyses_sweep(*, now: datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ABVLMQ_HEARTBEAT_STALE_AFTER)
    revived = Analysis.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale),
        status=RUNNING,
    ).update(status=QUEUED, enqueued_at=None)
    resent = Analysis.objects.filter(
        status=QUEUED,
        enqueued_at__lt=now - timedelta(seconds=settings.ABVLMQ_RESEND_QUEUED_AFTER),
    ).update(enqueued_at=None)
    if revived or resent:
        log.warning(
            "sweep: %s running analyses lost their worker, %s queued resent", revived, resent
        )
    return SweepReport(revived=revived, resent=resent, sent=analyses_dispatch())


def analysis_beat(*, analysis_id: int) -> None:
    Analysis.objects.filter(pk=analysis_id, status=RUNNING).update(heartbeat_at=timezone.now())


@contextmanager
def heartbeat(*, analysis_id: int) -> Iterator[None]:
    """Beat for the analysis from a thread while the body runs (the model may go quiet for long
    stretches, a thread does not)."""
    interval = settings.ABVLMQ_HEARTBEAT_INTERVAL
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    analysis_beat(analysis_id=analysis_id)
                except Exception as exc:  # a database hiccup: the next beat tries again
                    log.warning("heartbeat of analysis %s failed: %s", analysis_id, exc)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{analysis_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


# --------------------------------------------------------------------------- run


_lock = threading.Lock()
_engines: dict[tuple[str, str, str | None, str], Any] = {}


def engine_key() -> tuple[str, str, str | None, str]:
    """Engine class, model, adapter and rubric version: the model and rubric an admin activated
    (administration app, asked at every task, so workers switch without a restart), else the
    settings' model and the shipped rubric."""
    runtime = worker_runtime()
    return settings.ABVLMQ_ENGINE, runtime.model_dir, runtime.adapter_dir, runtime.rubric.version


def get_engine() -> Any:
    """The engine for the current settings; loaded on first use, then kept for the process."""
    key = engine_key()
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            dotted, model_dir, adapter_dir, rubric_version = key
            module, _, name = dotted.partition(":")
            engine_class = getattr(importlib.import_module(module), name)
            log.info("loading engine %s from %s (adapter %s)", dotted, model_dir, adapter_dir)
            options = dict(settings.ABVLMQ_ENGINE_OPTIONS)
            rubric = rubric_for_version(rubric_version)
            engine = engine_class.load(model_dir, adapter_dir=adapter_dir, rubric=rubric, **options)
            _engines.clear()  # one engine a process: a newly activated version replaces the last
            _engines[key] = engine
        return engine


class AnalysisTimedOut(SoftTimeLimitExceeded):
    """The model ran past ``ABVLMQ_TASK_TIME_LIMIT``: the analysis fails, and is not retried."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`AnalysisTimedOut` in this thread once ``seconds`` have passed.

    Celery declares the task's soft time limit, but its prefork pool was seen never to fire it
    (celery/celery#6873): a hanging model then held the worker until the hard limit. So the
    analysis keeps its own clock: in a process's main thread (a prefork child, a solo worker)
    an interval timer's SIGALRM interrupts whatever the thread waits on (the engine's token
    queue included) and raises; elsewhere :func:`_record_events` checks the time between
    events. The engine's stream, closed by the exception, stops the model at its next token.
    """
    import signal
    import time

    deadline = time.monotonic() + seconds
    armed = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not armed:
        _deadline.value = deadline if seconds > 0 else None
        try:
            yield
        finally:
            _deadline.value = None
        return

    def expire(_signum, _frame):
        raise AnalysisTimedOut(f"The model took longer than {seconds:g} s.")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    pending, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    if 0 < pending < seconds:  # someone's alarm (a test runner's timeout) comes first: keep it
        signal.setitimer(signal.ITIMER_REAL, pending, interval)
        signal.signal(signal.SIGALRM, previous)
        previous = None
    _deadline.value = deadline
    try:
        yield
    finally:
        _deadline.value = None
        if previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if pending > 0:  # give back the alarm that was set before, less the time spent
                left = max(pending - (time.monotonic() - started), 0.001)
                signal.setitimer(signal.ITIMER_REAL, left, interval)


_deadline = threading.local()


_in_flight: set[int] = set()  # analyses this process is running now (a thread pool's many)
_in_flight_lock = threading.Lock()


@contextmanager
def _only_once_here(analysis_id: int) -> Iterator[bool]:
    """True unless this process already runs ``analysis_id``: a message the broker handed out
    again while its first copy is still running (a visibility timeout shorter than the
    analysis, a thread-pool worker holding both) must not start a second, concurrent run, which
    would count an attempt and race the first for the same events."""
    with _in_flight_lock:
        duplicate = analysis_id in _in_flight
        _in_flight.add(analysis_id)
    try:
        yield not duplicate
    finally:
        if not duplicate:
            with _in_flight_lock:
                _in_flight.discard(analysis_id)


def analysis_run(*, analysis_id: int) -> Analysis | None:
    """Run the model on the scan of ``analysis_id``, saving and pushing every event, within
    ``ABVLMQ_TASK_TIME_LIMIT`` seconds (:func:`time_limit`). A second message for an analysis
    this process is already running is acknowledged and does nothing.

    Raises whatever the engine raises: the task's retry policy decides what happens next.
    """
    with _only_once_here(analysis_id) as first:
        if not first:
            log.warning(
                "analysis %s is already running in this worker; its duplicate message is ignored",
                analysis_id,
            )
            return None
        return _analysis_run(analysis_id)


def _analysis_run(analysis_id: int) -> Analysis | None:
    engine = get_engine()
    analysis = analysis_start(
        analysis_id=analysis_id,
        model_id=str(engine.model_id),
        rubric_version=engine.rubric.version,
        max_attempts=settings.ABVLMQ_TASK_MAX_ATTEMPTS,
    )
    if analysis is None:
        return None
    try:
        with heartbeat(analysis_id=analysis.pk), time_limit(settings.ABVLMQ_TASK_TIME_LIMIT):
            clip = getattr(analysis.scan, "clip", None)
            if clip is not None:  # a cine clip: its sampled frames in one batch, the best shown

                def progress(done: int, total: int) -> None:
                    push_progress(scan_id=analysis.scan_id, stage="assess", done=done, total=total)

                _, assessment = clip_frames_assess(engine=engine, clip=clip, progress=progress)
                seq = _record_events(analysis, assessment_events(assessment, engine.rubric))
                return analysis_finish(analysis=analysis, assessment=assessment, next_seq=seq + 1)
            with analysis.scan.image.open("rb") as fh:
                image = Image.open(fh).convert("RGB")
            stream = engine.stream(image)
            seq = _record_events(analysis, stream)
            return analysis_finish(
                analysis=analysis, assessment=stream.assessment, next_seq=seq + 1
            )
    except EngineUnavailable as exc:
        analysis_requeue(analysis_id=analysis.pk, reason=str(exc))
        return None


def analysis_requeue(*, analysis_id: int, reason: str) -> None:
    """The model could not be reached: the analysis waits in the queue again (the attempt is
    given back: it was not the scan's fault) and the sweeper sends it when it next runs. Events
    already saved stay; the replayed answer finds them there (analysis_record_event)."""
    log.warning("analysis %s back to the queue: %s", analysis_id, reason)
    Analysis.objects.filter(pk=analysis_id, status=RUNNING).update(
        status=QUEUED, enqueued_at=None, heartbeat_at=None, attempts=F("attempts") - 1
    )


def _record_events(analysis: Analysis, events: Iterable[Event | dict]) -> int:
    """Save and push each event in order (numbered from 1); returns the last number."""
    import time

    seq = 0
    for event in events:
        limit = getattr(_deadline, "value", None)
        if limit is not None and time.monotonic() > limit:
            raise AnalysisTimedOut(
                f"The model took longer than {settings.ABVLMQ_TASK_TIME_LIMIT} s."
            )
        seq += 1
        analysis_record_event(analysis=analysis, seq=seq, event=event)
    return seq


# --------------------------------------------------------------------------- save and events


def analysis_start(
    *, analysis_id: int, model_id: str, rubric_version: str, max_attempts: int
) -> Analysis | None:
    """Mark the analysis running for one more attempt; None when there is nothing to do.

    Nothing to do: it has finished (a redelivered message), or it has used up its attempts
    (then it ends as failed here: a scan that kills every worker must not loop forever).
    """
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().filter(pk=analysis_id).first()
        if analysis is None or analysis.finished:
            return None
        Analysis.objects.filter(pk=analysis_id).update(attempts=F("attempts") + 1)
        analysis.refresh_from_db()
        if analysis.attempts > max_attempts:
            exhausted = True
        else:
            exhausted = False
            analysis.status = Analysis.Status.RUNNING
            analysis.model_id = model_id
            analysis.rubric_version = rubric_version
            analysis.started_at = analysis.started_at or timezone.now()
            analysis.heartbeat_at = timezone.now()
            analysis.save(
                update_fields=["status", "model_id", "rubric_version", "started_at", "heartbeat_at"]
            )
    if exhausted:
        analysis_fail(
            analysis_id=analysis_id,
            reason=f"The analysis was tried {max_attempts} times and never finished "
            "(the worker stopped each time).",
        )
        return None
    return analysis


def analysis_record_event(*, analysis: Analysis, seq: int, event: Event | dict) -> dict:
    """Save event ``seq`` unless a previous attempt saved it, then push it; returns the payload.

    The saved payload wins: what a page was shown once is what is stored.
    """
    saved, _ = AnalysisEvent.objects.get_or_create(
        analysis=analysis, seq=seq, defaults={"type": event["type"], "payload": dict(event)}
    )
    push_event(scan_id=analysis.scan_id, seq=seq, event=saved.payload)
    return saved.payload


def analysis_finish(*, analysis: Analysis, assessment: Assessment, next_seq: int) -> Analysis:
    done: DoneEvent = {
        "type": "done",
        "status": "done",
        "needs_review": bool(assessment.needs_review),
        "review_reasons": list(getattr(assessment, "review_reasons", [])),
    }
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().get(pk=analysis.pk)
        if analysis.finished:
            return analysis
        analysis.status = Analysis.Status.DONE
        analysis.planes = list(assessment.planes)
        analysis.score = assessment.score
        analysis.grade = assessment.grade or ""
        analysis.needs_review = bool(assessment.needs_review)
        analysis.abstained = bool(getattr(assessment, "abstained", False))
        analysis.ood_score = getattr(assessment, "ood_score", None)
        analysis.result = assessment.to_dict()
        analysis.rubric_version = assessment.rubric_version or analysis.rubric_version
        analysis.finished_at = timezone.now()
        analysis.failure_reason = ""
        analysis.save()
        AnalysisEvent.objects.get_or_create(
            analysis=analysis, seq=next_seq, defaults={"type": "done", "payload": done}
        )
        _dispatch_next_of(analysis)
    push_event(scan_id=analysis.scan_id, seq=next_seq, event=done)
    return analysis


def _dispatch_next_of(analysis: Analysis) -> None:
    """The owner's share has room again: send her next waiting analysis once this commits."""
    owner_id = Scan.objects.filter(pk=analysis.scan_id).values_list("owner_id", flat=True).first()
    # an unclaimed inbox scan (no owner): whatever waits, within each owner's share
    transaction.on_commit(lambda: analyses_dispatch(owner_id=owner_id), robust=True)


def analysis_fail(*, analysis_id: int, reason: str) -> Analysis | None:
    """End the analysis as failed with ``reason``, and tell the page (error, then done)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().filter(pk=analysis_id).first()
        if analysis is None or analysis.finished:
            return analysis
        analysis.status = Analysis.Status.FAILED
        analysis.failure_reason = reason
        analysis.finished_at = timezone.now()
        analysis.save(update_fields=["status", "failure_reason", "finished_at"])
        last = analysis.events.aggregate(m=Max("seq"))["m"] or 0
        error = error_event("engine", reason, None)
        done: DoneEvent = {"type": "done", "status": "failed", "needs_review": True}
        AnalysisEvent.objects.create(analysis=analysis, seq=last + 1, type="error", payload=error)
        AnalysisEvent.objects.create(analysis=analysis, seq=last + 2, type="done", payload=done)
        _dispatch_next_of(analysis)
    push_event(scan_id=analysis.scan_id, seq=last + 1, event=error)
    push_event(scan_id=analysis.scan_id, seq=last + 2, event=done)
    return analysis
