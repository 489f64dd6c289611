"""Cine clips: a multi-frame DICOM or a video (MP4, MOV, AVI via PyAV) in; every frame through
the still's de-identification; a sample of frames to assess and the clip re-encoded as H.264
MP4 out.

    clip = load_clip(data, limits=limits, max_seconds=60, sample=8)   # IntakeError if refused
    clip.samples, clip.sample_indices, clip.sample_times, clip.video (MP4 bytes), clip.fps

Each frame goes through the same steps as an uploaded still: DICOM frames through
``decode_dicom`` (the still's decoder, one frame at a time), video frames as decoded pixels,
and then both through the still's de-identification (crop to the sector, furniture outside it
zeroed, text inside masked). The sampled frames are exactly the still's result for that frame;
the stored clip places each frame's crop where it was on a canvas holding all of them, so the
clip has one size and nothing moves. No Django, no torch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from io import BytesIO

import numpy as np
from PIL import Image

from scoring.imaging import SLOTS, Furniture, OcrMode, deidentify, fill_frame
from scoring.imaging.decoded import Decoded, check_dimensions
from scoring.imaging.dicom import decode_dicom
from scoring.imaging.types import Box, IntakeError, IntakeLimits, IntakeResult

VIDEO_KINDS = ("mp4", "mov", "avi")
DEFAULT_FPS = 10.0  # a DICOM clip that gives no frame time
_QT_BRANDS = (b"qt  ",)


def clip_kind(data: bytes) -> str | None:
    """``"dicom"`` for a multi-frame DICOM, ``"mp4"``/``"mov"``/``"avi"`` for a video (from the
    bytes), None for anything else (a still goes the still's way)."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"):  # photos
            return None
        return "mov" if brand in _QT_BRANDS else "mp4"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "avi"
    if len(data) >= 132 and data[128:132] == b"DICM" and _dicom_frames(data) > 1:
        return "dicom"
    return None


def _dicom_frames(data: bytes) -> int:
    import pydicom

    try:
        ds = pydicom.dcmread(
            BytesIO(data), stop_before_pixels=True, specific_tags=["NumberOfFrames"]
        )
        return int(ds.get("NumberOfFrames") or 1)
    except Exception:
        return 1  # let the still's intake say what is wrong with it


@dataclass
class ClipResult:
    kind: str  # dicom, mp4, mov, avi
    frames: int  # frames in the source
    fps: float
    duration: float  # seconds
    width: int  # of the stored clip's frames (the union of the frames' crops)
    height: int
    sample_indices: list[int]
    sample_times: list[float]  # seconds from the start of the stored clip
    samples: list[Image.Image]  # the sampled frames exactly as the still's intake makes them
    video: bytes  # the de-identified clip, H.264 in MP4
    middle: IntakeResult  # the middle frame's intake result (metadata, ultrasound screen)
    metadata: dict[str, str | int | float] = field(default_factory=dict)

    @property
    def is_ultrasound(self) -> bool:
        return self.middle.is_ultrasound


def sample_indices(frames: int, sample: int) -> list[int]:
    """``sample`` frames spread evenly over ``frames`` (centres of equal parts), in order."""
    k = max(1, min(sample, frames))
    return sorted({min(frames - 1, int((i + 0.5) * frames / k)) for i in range(k)})


def load_clip(
    data: bytes,
    *,
    limits: IntakeLimits | None = None,
    max_seconds: float = 60,
    sample: int = 8,
    ocr: OcrMode = "required",
    progress: Callable[[str, int, int], None] | None = None,
) -> ClipResult:
    """``progress(stage, done, total)``, when given, hears each frame de-identified
    ("deidentify") and the clip encoded ("encode"), for the uploader's page."""
    limits = limits or IntakeLimits()
    limits.check_size(len(data), noun="clip", advice="Export a shorter or more compressed clip.")
    kind = clip_kind(data)
    if kind is None:
        raise IntakeError("unsupported_type", "This file is not a clip we can read.")
    if kind == "dicom":
        frames, fps, source = _dicom_source(data, limits)
    else:
        frames, fps, source = _video_source(data, kind, limits, max_seconds)
    duration = frames / fps
    if duration > max_seconds:
        raise IntakeError("too_long", _too_long(duration, max_seconds))
    chosen = sample_indices(frames, sample)
    middle_index = frames // 2
    keep = {*chosen, middle_index}
    deidentified, results, furniture = deidentify_frames(
        source, frames, kind, ocr, keep, limits, progress
    )
    frames = len(deidentified)
    if frames == 0:
        raise IntakeError("corrupt", "The clip holds no frame we could decode.")
    middle = results.get(frames // 2) or next(iter(results.values()))
    chosen = [i for i in chosen if i < frames]
    canvas = _aligned(deidentified)
    size = canvas[0].size
    if progress is not None:
        progress("encode", 0, frames)
    video = encode_mp4(canvas, fps)
    metadata: dict[str, str | int | float] = {
        **middle.metadata,
        "kind": kind,
        "frames": frames,
        "fps": round(fps, 3),
        "duration": round(frames / fps, 3),
        "furniture_runs": furniture.runs,
    }
    metadata.pop("frame_index", None)
    return ClipResult(
        kind=kind,
        frames=frames,
        fps=fps,
        duration=frames / fps,
        width=size[0],
        height=size[1],
        sample_indices=chosen,
        sample_times=[round(i / fps, 3) for i in chosen],
        samples=[results[i].image for i in chosen],
        video=video,
        middle=middle,
        metadata=metadata,
    )


# --------------------------------------------------------------------------- sources


def _dicom_source(data: bytes, limits: IntakeLimits) -> tuple[int, float, Iterator[Decoded]]:
    import pydicom

    first = decode_dicom(data, limits, 0)  # checks limits and readability before the rest
    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    fps = _dicom_fps(ds)

    def frames() -> Iterator[Decoded]:
        yield first
        for i in range(1, first.frames):
            yield decode_dicom(data, limits, i)

    return first.frames, fps, frames()


def _dicom_fps(ds) -> float:
    for keyword, to_fps in (
        ("CineRate", float),
        ("RecommendedDisplayFrameRate", float),
        ("FrameTime", lambda ms: 1000.0 / float(ms)),
    ):
        value = ds.get(keyword)
        try:
            fps = to_fps(value) if value not in (None, "") else 0.0
        except (TypeError, ValueError, ZeroDivisionError):
            fps = 0.0
        if 0 < fps <= 1000:
            return fps
    return DEFAULT_FPS


def _video_source(
    data: bytes, kind: str, limits: IntakeLimits, max_seconds: float
) -> tuple[int, float, Iterator[Decoded]]:
    import av

    try:
        container = av.open(BytesIO(data))
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or stream.guessed_rate or 0) or DEFAULT_FPS
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        frames = int(stream.frames) or round(duration * fps)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        raise IntakeError("corrupt", _CORRUPT_VIDEO) from exc
    if duration > max_seconds:
        raise IntakeError("too_long", _too_long(duration, max_seconds))
    check_dimensions(width, height, max(frames, 1), limits)

    def decoded() -> Iterator[Decoded]:
        try:
            for n, frame in enumerate(container.decode(stream)):
                if n >= limits.max_frames:
                    raise IntakeError("too_many_frames", _too_many(limits.max_frames))
                rgb = frame.to_ndarray(format="rgb24")  # (H, W, 3) uint8
                yield Decoded(rgb=rgb, frames=frames, frame_index=n, metadata={})
        except av.FFmpegError as exc:
            raise IntakeError("corrupt", _CORRUPT_VIDEO) from exc
        finally:
            container.close()

    # Frame counts in headers are estimates: decode up to the limit and count for real.
    return max(frames, 1) if frames else limits.max_frames, fps, decoded()


def deidentify_frames(
    source: Iterator[Decoded],
    frames: int,
    kind: str,
    ocr: OcrMode,
    keep: set[int],
    limits: IntakeLimits,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[tuple[Image.Image, Box]], dict[int, IntakeResult], Furniture]:
    """Every frame of ``source`` de-identified: the frames in ``keep`` (those assessed) through
    the still's intake exactly, the rest sharing the screen's furniture while it does not change
    and keeping the text found in earlier frames (``Furniture``). Returns each frame's image
    and crop box, the kept frames' results, and the furniture (how many runs it saw)."""
    results: dict[int, IntakeResult] = {}
    deidentified: list[tuple[Image.Image, Box]] = []
    furniture = Furniture()
    since_lift: list[int] = []  # frames of this run since the last one with the lift view
    for index, decoded in enumerate(source):
        if index >= frames:  # a video with more frames than its header said
            raise IntakeError("too_many_frames", _too_many(limits.max_frames))
        assessed = index in keep
        with SLOTS:
            result = deidentify(
                decoded, "dicom" if kind == "dicom" else "png", ocr,
                furniture=None if assessed else furniture,
            )  # fmt: skip
        if furniture.fills:  # what the lift view found, in the frames since it last looked
            since_lift = _backfill(deidentified, since_lift, furniture)
        scale = int(result.metadata.get("downscale", 1) or 1)  # crop_box is in source pixels
        deidentified.append((result.image, tuple(v // scale for v in result.crop_box)))
        if assessed:
            results[index] = result
        elif not furniture.lifted:
            since_lift.append(len(deidentified) - 1)
        if progress is not None:
            progress("deidentify", index + 1, frames)
    furniture.close()
    _backfill(deidentified, since_lift, furniture)
    return deidentified, results, furniture


def _backfill(deidentified: list, indices: list[int], furniture: Furniture) -> list[int]:
    """Apply the furniture's queued fills to the frames ``indices``; none is pending after."""
    for inside, hole in furniture.fills:
        for k in indices:
            image, box = deidentified[k]
            deidentified[k] = (fill_frame(image, inside, hole), box)
    furniture.fills.clear()
    return []


def _aligned(frames: list[tuple[Image.Image, Box]]) -> list[Image.Image]:
    """Each de-identified frame at its own crop's place on a canvas that holds every crop, so
    that a sector found a pixel wider in one frame neither resizes nor shifts the picture."""
    x0 = min(b[0] for _, b in frames)
    y0 = min(b[1] for _, b in frames)
    x1 = max(b[2] for _, b in frames)
    y1 = max(b[3] for _, b in frames)
    if all(b == (x0, y0, x1, y1) for _, b in frames):
        return [im for im, _ in frames]
    out = []
    for image, box in frames:
        canvas = Image.new("RGB", (x1 - x0, y1 - y0))  # black, like outside the sector
        canvas.paste(image, (box[0] - x0, box[1] - y0))
        out.append(canvas)
    return out


# --------------------------------------------------------------------------- encoding


def encode_mp4(frames: list[Image.Image], fps: float) -> bytes:
    """The frames as H.264 (yuv420p, so browsers play it) in an MP4 with the index up front."""

    width, height = frames[0].size
    even_w, even_h = width + width % 2, height + height % 2  # yuv420p needs even sides
    # A file, not memory: +faststart (the index before the data, so a browser starts playing
    # at once) rewrites the file in a second pass.
    with tempfile.TemporaryDirectory(prefix="abvlmq-clip-") as folder:
        path = os.path.join(folder, "clip.mp4")
        _write_mp4(path, frames, fps, width, height, even_w, even_h)
        with open(path, "rb") as fh:
            return fh.read()


def _write_mp4(path, frames, fps, width, height, even_w, even_h) -> None:
    import av

    with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = even_w, even_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for image in frames:
            rgb = np.zeros((even_h, even_w, 3), np.uint8)
            rgb[:height, :width] = np.asarray(image.convert("RGB"))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


_CORRUPT_VIDEO = "This video is damaged or in a format we cannot decode. Export it again as MP4."


def _too_long(duration: float, max_seconds: float) -> str:
    return (
        f"The clip lasts {duration:.1f} s; we accept clips up to {max_seconds:g} s. "
        "Trim it on the scanner or export a shorter loop."
    )


def _too_many(max_frames: int) -> str:
    return f"The clip has more than {max_frames} frames. Export a shorter or slower clip."
