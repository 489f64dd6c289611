"""What a decoder hands to the pipeline: one frame as RGB pixels plus technical facts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scoring.imaging.types import Box, IntakeError, IntakeLimits


@dataclass
class Decoded:
    rgb: np.ndarray  # (H, W, 3) uint8, the chosen frame
    frames: int
    frame_index: int
    metadata: dict[str, str | int] = field(default_factory=dict)  # non-identifying only
    region: Box | None = None  # the scanner's own tissue region, when the file declares one
    not_ultrasound: str | None = None  # a reason known from the file itself (DICOM modality)


def check_dimensions(width: int, height: int, frames: int, limits: IntakeLimits) -> None:
    """Refuse before decoding: the header's numbers are all we need."""
    if width < 1 or height < 1:
        raise IntakeError("corrupt", "The file says its image has no pixels; it may be damaged.")
    if width * height > limits.max_pixels:
        raise IntakeError(
            "too_many_pixels",
            f"The image is {width} x {height} pixels, more than the "
            f"{limits.max_pixels / 1e6:g} megapixels we accept. Upload a smaller export.",
        )
    if frames > limits.max_frames:
        raise IntakeError(
            "too_many_frames",
            f"The file holds {frames} frames; we accept at most {limits.max_frames}. "
            "Upload a single still or a shorter clip.",
        )


def choose_frame(frames: int, frame: int | None) -> int:
    """The requested frame, or the middle one of a clip (more representative than the first,
    which is often captured while the probe is still moving)."""
    if frame is None:
        return frames // 2
    if not 0 <= frame < frames:
        raise IntakeError(
            "bad_frame", f"Frame {frame} does not exist; this file has {frames} frame(s)."
        )
    return frame


def to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly onto 0-255, clipping outside."""
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (values.astype(np.float64) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)
