"""Writes on scans: the upload, and each step of an analysis' life.

Upload: intake (scoring.imaging) validates and de-identifies; only the de-identified image is
stored; the analysis is queued once the transaction commits. Analysis: start -> record each
event -> finish or fail. Every step is idempotent so that a retried or redelivered task neither
duplicates events nor undoes a finished analysis.
"""

from __future__ import annotations

from io import BytesIO
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.scans.events import push_event
from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan
from scoring.answer import Assessment
from scoring.events import DoneEvent, Event, error_event
from scoring.imaging import IntakeError, IntakeLimits, load_scan
from scoring.imaging.deid import deidentify_dicom
from scoring.rubric import default_rubric

NOT_ULTRASOUND_MODEL = "intake-screen"  # rows from before non-scans were refused at upload


def intake_limits() -> IntakeLimits:
    return IntakeLimits(
        max_bytes=settings.ABVLMQ_MAX_UPLOAD_MB * 1024 * 1024,
        max_pixels=settings.ABVLMQ_MAX_PIXELS,
        max_frames=settings.ABVLMQ_MAX_FRAMES,
    )


def _read_upload(file: IO[bytes], limits: IntakeLimits) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > limits.max_bytes:
        raise IntakeError(
            "too_large",
            f"The file is {size / 2**20:.1f} MB; we accept up to "
            f"{limits.max_bytes / 2**20:g} MB. Export a single frame or a compressed copy.",
        )
    return file.read(limits.max_bytes + 1)


def _png(image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@transaction.atomic
def scan_upload(
    *, user: User, file: IO[bytes], assignment: Assignment | None = None, queue: bool = True
) -> Scan:
    """Store the de-identified scan and queue its analysis. Raises IntakeError for refusals.

    ``queue=False`` leaves the analysis queued in the database only (the caller runs it).
    A readable image that is clearly not ultrasound is refused (IntakeError "not_ultrasound")
    and nothing of it is stored.
    """
    limits = intake_limits()
    data = _read_upload(file, limits)
    from abvlmq_web.cine.services import clip_upload, is_clip  # cine imports this module

    if is_clip(data):  # a video, or a multi-frame DICOM: every frame de-identified
        return clip_upload(user=user, data=data, assignment=assignment, queue=queue)
    result = load_scan(data, limits=limits, ocr=settings.ABVLMQ_OCR)  # raises IntakeError
    if not result.is_ultrasound:
        # Refused, never stored: its pixels are a document, a photo or another modality, with
        # whatever text is on them (intake masks text only inside a scan's sector).
        raise IntakeError("not_ultrasound", result.message or "This is not an ultrasound scan.")
    scan = Scan(
        owner=user,
        assignment=assignment,
        kind=result.kind,
        frames=result.frames,
        width=result.image.width,
        height=result.image.height,
        intake=dict(result.metadata),
        is_ultrasound=result.is_ultrasound,
        notice=result.message or "",
    )
    scan.image.save("scan.png", ContentFile(_png(result.image)), save=False)
    if settings.ABVLMQ_KEEP_ORIGINALS:
        kept = deidentify_dicom(data) if result.kind == "dicom" else data
        scan.original.save("original", ContentFile(kept), save=False)
    scan.save()
    rubric = default_rubric()
    analysis = Analysis.objects.create(scan=scan, rubric_version=rubric.version)
    if queue:
        from abvlmq_web.scans.tasks import run_analysis  # tasks import services

        transaction.on_commit(lambda: run_analysis.delay(analysis.pk))
    return scan


# --------------------------------------------------------------------------- analysis life


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
            analysis.save(update_fields=["status", "model_id", "rubric_version", "started_at"])
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
    push_event(scan_id=analysis.scan_id, seq=next_seq, event=done)
    return analysis


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
    push_event(scan_id=analysis.scan_id, seq=last + 1, event=error)
    push_event(scan_id=analysis.scan_id, seq=last + 2, event=done)
    return analysis
