"""Writes on clips: the intake and storage of a clip (through scoring.imaging.clip, every frame
de-identified), and the assessment of its frames (a sample assessed a batch at a time, the best
one chosen).

Cine sits below scans (docs/architecture.md): ``scans.services.scan_upload`` stores a clip's
scan with ``clip_load``/``clip_store``, and ``scans.analysis.analysis_run`` runs a clip's
analysis with ``clip_frames_assess``/``assessment_events``; nothing here imports scans (the
scan is reached through ``clip.scan``). Everything else about a scan is unchanged: the scan's
image becomes the chosen frame and its analysis that frame's assessment, with its events."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from abvlmq_web.cine.models import Clip, ClipFrame
from scoring.answer import AnswerParser, Assessment, render
from scoring.frames import best_frame, confidence
from scoring.imaging import IntakeError, IntakeLimits
from scoring.imaging.clip import ClipResult, clip_kind, load_clip


def is_clip(data: bytes) -> bool:
    return clip_kind(data) is not None


def _png(image: Image.Image) -> bytes:
    buf = BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def clip_load(data: bytes, *, limits: IntakeLimits, progress=None) -> ClipResult:
    """Intake of a clip (scoring.imaging.clip: every frame de-identified, a sample kept).
    Raises IntakeError for refusals, "not_ultrasound" included: nothing of it is stored."""
    clip = load_clip(
        data,
        limits=limits,
        max_seconds=settings.ABVLMQ_CLIP_MAX_SECONDS,
        sample=settings.ABVLMQ_CLIP_SAMPLE,
        ocr=settings.ABVLMQ_OCR,
        progress=progress,
    )
    if not clip.is_ultrasound:  # refused like a still that is no scan: nothing stored
        raise IntakeError(
            "not_ultrasound", clip.middle.message or "This is not an ultrasound clip."
        )
    return clip


def clip_shown(clip: ClipResult) -> Image.Image:
    """The frame a clip's scan shows until its analysis chose one: the middle sample."""
    return clip.samples[len(clip.samples) // 2]


def clip_store(*, scan, clip: ClipResult) -> Clip:
    """The clip and its sampled frames of ``scan`` (saved, in the upload's transaction)."""
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


def clip_frames_assess(
    *, engine: Any, clip: Clip, progress: Callable[[int, int], None] | None = None
) -> tuple[ClipFrame, Assessment]:
    """Assess every sampled frame, ``ABVLMQ_CLIP_BATCH`` at a time, record each frame's result
    and choose the best (scoring.frames.best_frame); the scan's image becomes the chosen frame.
    ``progress(done, total)`` hears 0 first, then the count after each batch the engine ends."""
    frames = list(clip.sampled.order_by("index"))
    images = []
    for frame in frames:
        with frame.image.open("rb") as fh:
            images.append(Image.open(fh).convert("RGB"))
    if progress is not None:
        progress(0, len(images))
    batch = settings.ABVLMQ_CLIP_BATCH or len(images)
    assessments = engine.assess(images, batch_size=batch, progress=progress)
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
