"""Writes on clips: the upload (through scoring.imaging.clip, every frame de-identified), and
the analysis of a clip (a sample of frames assessed in one batch, the best one chosen).

``scans.services.scan_upload`` hands a clip here; ``scans.inference.analysis_run`` hands a
clip's analysis here. Everything else about a scan is unchanged: the scan's image becomes the
chosen frame and its analysis that frame's assessment, with that frame's events."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from abvlmq_web.accounts.models import User
from abvlmq_web.cine.models import Clip, ClipFrame
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.scans.models import Analysis, Scan
from scoring.answer import AnswerParser, Assessment, render
from scoring.frames import best_frame, confidence
from scoring.imaging import IntakeError
from scoring.imaging.clip import ClipResult, clip_kind, load_clip
from scoring.rubric import default_rubric


def is_clip(data: bytes) -> bool:
    return clip_kind(data) is not None


def _png(image: Image.Image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@transaction.atomic
def clip_upload(
    *, user: User | None, data: bytes, assignment: Assignment | None = None, queue: bool = True
) -> Scan:
    """Store the de-identified clip, its sampled frames and a scan showing the middle sample;
    queue the analysis. Raises IntakeError for refusals (scan_upload's contract)."""
    from abvlmq_web.scans.services import intake_limits

    clip = load_clip(
        data,
        limits=intake_limits(),
        max_seconds=settings.ABVLMQ_CLIP_MAX_SECONDS,
        sample=settings.ABVLMQ_CLIP_SAMPLE,
        ocr=settings.ABVLMQ_OCR,
    )
    if not clip.is_ultrasound:  # refused like a still that is no scan: nothing stored
        raise IntakeError(
            "not_ultrasound", clip.middle.message or "This is not an ultrasound clip."
        )
    shown = clip.samples[len(clip.samples) // 2]
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
    with transaction.atomic():
        scan.save()
        _store_clip(scan, clip)
        Analysis.objects.create(scan=scan, rubric_version=default_rubric().version)
        if queue:
            # the same durable queue as a still: sent within the owner's share, after commit,
            # and a broker that is down leaves it for the sweeper instead of failing the upload
            from abvlmq_web.scans.queueing import analyses_dispatch

            owner_id = user.pk if user is not None else None
            transaction.on_commit(lambda: analyses_dispatch(owner_id=owner_id), robust=True)
    return scan


def _store_clip(scan: Scan, clip: ClipResult) -> Clip:
    row = Clip(
        scan=scan,
        frames=clip.frames,
        fps=clip.fps,
        duration=clip.duration,
        width=clip.width,
        height=clip.height,
    )
    row.video.save("clip.mp4", ContentFile(clip.video), save=False)
    row.save()
    for index, time, image in zip(
        clip.sample_indices, clip.sample_times, clip.samples, strict=True
    ):
        frame = ClipFrame(clip=row, index=index, time=time, width=image.width, height=image.height)
        frame.image.save("frame.png", ContentFile(_png(image)), save=False)
        frame.save()
    return row


# --------------------------------------------------------------------------- the analysis


def clip_frames_assess(*, engine: Any, clip: Clip) -> tuple[ClipFrame, Assessment]:
    """Assess every sampled frame in one batch, record each frame's result and choose the
    best (scoring.frames.best_frame); the scan's image becomes the chosen frame."""
    frames = list(clip.sampled.order_by("index"))
    images = []
    for frame in frames:
        with frame.image.open("rb") as fh:
            images.append(Image.open(fh).convert("RGB"))
    assessments = engine.assess(images, batch_size=len(images))
    chosen = best_frame(assessments)
    with transaction.atomic():
        for i, (frame, assessment) in enumerate(zip(frames, assessments, strict=True)):
            frame.result = assessment.to_dict()
            frame.score = assessment.score
            frame.grade = assessment.grade or ""
            frame.confidence = confidence(assessment)
            frame.chosen = i == chosen
            frame.save(update_fields=["result", "score", "grade", "confidence", "chosen"])
        best = frames[chosen]
        scan = clip.scan
        with best.image.open("rb") as fh:
            scan.image.save("scan.png", ContentFile(fh.read()), save=False)
        scan.width, scan.height = best.width, best.height
        scan.intake = {**scan.intake, "frame_index": best.index}
        scan.save(update_fields=["image", "width", "height", "intake"])
    return best, assessments[chosen]


def assessment_events(assessment: Assessment, rubric) -> list[dict]:
    """The events the parser emits for ``assessment``'s answer, as a stream would have; an
    answer that never reached its score keeps its errors and gets no score event."""
    parser = AnswerParser(rubric)
    events: list[dict] = []
    for line in render(assessment.answer, rubric).split("\n"):
        events.extend(parser.feed(line + "\n"))
    events.extend(parser.finish())
    if assessment.score is None:
        events = [e for e in events if e["type"] != "score"] + list(assessment.errors)
    return events


def clip_analysis_run(*, analysis: Analysis, engine: Any, clip: Clip) -> Analysis:
    """A clip's analysis (called by scans.inference.analysis_run once the attempt started)."""
    from abvlmq_web.scans.services import analysis_finish, analysis_record_event

    _, assessment = clip_frames_assess(engine=engine, clip=clip)
    seq = 0
    for event in assessment_events(assessment, engine.rubric):
        seq += 1
        analysis_record_event(analysis=analysis, seq=seq, event=event)
    return analysis_finish(analysis=analysis, assessment=assessment, next_seq=seq + 1)
