"""Writes on scans: the upload, and each step of an analysis' life.

Upload: intake (scoring.imaging) validates and de-identifies; only the de-identified image is
stored; the analysis is queued in the database and handed to the broker once the transaction
commits (scans/queueing.py: a broker that is down then leaves it for the sweeper; the upload is
accepted all the same). A user may have ``ABVLMQ_MAX_PENDING_PER_USER`` unfinished analyses.
Analysis: start -> record each event -> finish or fail. Every step is idempotent so that a
retried or redelivered task neither duplicates events nor undoes a finished analysis.
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
from abvlmq_web.scans.queueing import analyses_dispatch, pending
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


class UploadQuotaExceeded(Exception):
    """The user has as many unfinished analyses as one may have; the upload is refused."""

    code = "quota"

    def __init__(self, limit: int) -> None:
        self.message = (
            f"You have {limit} scans waiting for their assessment, the most one may have. "
            "Upload more once some of them are scored."
        )
        super().__init__(self.message)


def _read_upload(file: IO[bytes], limits: IntakeLimits) -> bytes:
    size = getattr(file, "size", None)
    if size is not None:
        limits.check_size(size)  # before reading: a huge file is refused unread
    return file.read(limits.max_bytes + 1)


def _png(image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def scan_upload(
    *,
    user: User | None,
    file: IO[bytes],
    assignment: Assignment | None = None,
    queue: bool = True,
) -> Scan:
    """Store the de-identified scan and queue its analysis. Raises IntakeError for refusals.

    ``queue=False`` leaves the analysis queued in the database only (the caller runs it).
    A readable image that is clearly not ultrasound is refused (IntakeError "not_ultrasound")
    and nothing of it is stored. Intake (decoding, de-identification, OCR, the PNG) runs before
    the transaction: the database is held only for writing the two rows (on SQLite a
    transaction holds the whole database, and a burst of uploads must not queue behind it).
    """
    # user None: a scan received from a scanner that matched nobody (the inbox); no quota
    owner_id = user.pk if user is not None else None
    limit = settings.ABVLMQ_MAX_PENDING_PER_USER
    if limit and owner_id is not None and pending(owner_id=owner_id) >= limit:
        raise UploadQuotaExceeded(limit)
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
    rubric_version = default_rubric().version
    with transaction.atomic():
        scan.save()
        Analysis.objects.create(scan=scan, rubric_version=rubric_version)
        if queue:
            # robust: a broker that is down must not turn the committed upload into an error
            transaction.on_commit(lambda: analyses_dispatch(owner_id=owner_id), robust=True)
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
