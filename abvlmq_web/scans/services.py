"""Writes on scans: the upload (a still or a clip).

Intake (scoring.imaging; cine.services for clips) validates and de-identifies; only the
de-identified image is stored; the analysis is queued in the database and handed to the broker
once the transaction commits (scans/analysis.py: a broker that is down then leaves it for the
sweeper; the upload is accepted all the same). A user may have ``ABVLMQ_MAX_PENDING_PER_USER``
unfinished analyses. The analysis' life after that (run, save, events): scans/analysis.py.
"""

from __future__ import annotations

from io import BytesIO
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from abvlmq_web.accounts.models import User
from abvlmq_web.cine.services import clip_load, clip_shown, clip_store, is_clip
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.scans.analysis import analyses_dispatch, pending
from abvlmq_web.scans.events import UPLOAD_KEY, UploadProgress
from abvlmq_web.scans.models import Analysis, Scan
from scoring.imaging import IntakeError, IntakeLimits, load_scan
from scoring.imaging.clip import ClipResult
from scoring.imaging.deid import deidentify_dicom


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
    progress_key: str = "",
) -> Scan:
    """Store the de-identified scan and queue its analysis. Raises IntakeError for refusals.

    ``queue=False`` leaves the analysis queued in the database only (the caller runs it).
    ``progress_key``: the uploading page's key; a clip's intake pushes its progress to it
    (``/ws/uploads/<key>/``).
    A readable image that is clearly not ultrasound is refused (IntakeError "not_ultrasound")
    and nothing of it is stored. Intake (decoding, de-identification, OCR, the PNG) runs before
    the transaction: the database is held only for writing the rows (on SQLite a transaction
    holds the whole database, and a burst of uploads must not queue behind it).
    """
    # user None: a scan received from a scanner that matched nobody (the inbox); no quota
    owner_id = user.pk if user is not None else None
    limit = settings.ABVLMQ_MAX_PENDING_PER_USER
    if limit and owner_id is not None and pending(owner_id=owner_id) >= limit:
        raise UploadQuotaExceeded(limit)
    limits = intake_limits()
    data = _read_upload(file, limits)
    clip = None
    if is_clip(data):  # a video, or a multi-frame DICOM: every frame de-identified
        progress = None
        if progress_key and owner_id is not None and UPLOAD_KEY.match(progress_key):
            progress = UploadProgress(user_id=owner_id, key=progress_key)
        clip = clip_load(data, limits=limits, progress=progress)  # raises IntakeError
        scan = _clip_scan(clip, user=user, assignment=assignment)
    else:
        scan = _still_scan(data, limits, user=user, assignment=assignment)
    rubric_version = active_rubric().version  # until a worker starts it with its own
    with transaction.atomic():
        scan.save()
        if clip is not None:
            clip_store(scan=scan, clip=clip)
        Analysis.objects.create(scan=scan, rubric_version=rubric_version)
        if queue:
            # robust: a broker that is down must not turn the committed upload into an error
            transaction.on_commit(lambda: analyses_dispatch(owner_id=owner_id), robust=True)
    return scan


def _still_scan(
    data: bytes, limits: IntakeLimits, *, user: User | None, assignment: Assignment | None
) -> Scan:
    """The (unsaved) scan of one image; its original too when ``ABVLMQ_KEEP_ORIGINALS``."""
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
    return scan


def _clip_scan(clip: ClipResult, *, user: User | None, assignment: Assignment | None) -> Scan:
    """The (unsaved) scan of a clip, showing its middle sample until the analysis chooses."""
    shown = clip_shown(clip)
    scan = Scan(
        owner=user,
        assignment=assignment,
        kind=clip.kind,
        frames=clip.frames,
        width=shown.width,
        height=shown.height,
        intake=dict(clip.metadata),
        is_ultrasound=clip.is_ultrasound,
        notice=clip.middle.message or "",
    )
    scan.image.save("scan.png", ContentFile(_png(shown)), save=False)
    return scan
