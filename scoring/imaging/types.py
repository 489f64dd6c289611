"""Shared types of scan intake: limits, the one error class, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

Kind = Literal["png", "jpeg", "bmp", "dicom"]
Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, right/bottom exclusive

# Frames larger than this (longest side, pixels) are shrunk right after decoding, before any
# other work: a scan needs no more, and the sector search and masking then cost a bounded
# amount of memory whatever the upload (JPEG is even decoded at reduced scale).
MAX_WORK_SIDE = 2048

ACCEPTED_HINT = "Upload a PNG, JPEG, BMP or DICOM scan."
SCAN_SIZE_ADVICE = "Export a single frame or a compressed copy."


@dataclass(frozen=True)
class IntakeLimits:
    """What one upload may cost us. The defaults suit a teaching site; tests pass smaller ones."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 16_000_000  # per frame, checked from the header before decoding
    max_frames: int = 300

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"IntakeLimits.{name} must be a positive integer")

    def check_size(self, size: int, *, noun: str = "file", advice: str = SCAN_SIZE_ADVICE) -> None:
        """The upload size rule, stated once: raise ``too_large`` above ``max_bytes``. The web
        upload asks it before reading a file, intake again on the bytes it is given."""
        if size > self.max_bytes:
            raise IntakeError(
                "too_large",
                f"The {noun} is {size / 2**20:.1f} MB; we accept up to "
                f"{self.max_bytes / 2**20:g} MB. {advice}",
            )


class IntakeError(ValueError):
    """An upload we refuse. ``code`` is stable for machines, ``message`` is for the resident.

    Codes: ``empty``, ``too_large``, ``unsupported_type``, ``corrupt``, ``too_many_pixels``,
    ``too_many_frames``, ``bad_frame``, ``not_ultrasound`` (raised by the upload service
    for a readable image that intake judged not to be a scan); the server's own faults
    ``ocr_unavailable`` and ``text_detector_unavailable`` (see ``server_fault``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"IntakeError({self.code!r}, {self.message!r})"

    @property
    def server_fault(self) -> bool:
        """The server could not check the image (a missing OCR or text detector), not the
        file's fault: the web answers 503, try again later."""
        return self.code in SERVER_FAULTS


SERVER_FAULTS = frozenset({"ocr_unavailable", "text_detector_unavailable"})


@dataclass(frozen=True)
class IntakeResult:
    """A de-identified scan, ready to store and score.

    ``image`` is always RGB (the model downstream takes RGB; grayscale scans carry three equal
    channels, colour Doppler keeps its colours) and has no EXIF, text chunks or DICOM tags.
    ``crop_box`` is in the original frame's pixels. ``metadata`` holds technical, non-identifying
    facts only (see ``scoring.imaging.METADATA_KEYS``).
    """

    image: Image.Image
    kind: Kind
    frames: int
    original_size: tuple[int, int]  # (width, height)
    crop_box: Box
    is_ultrasound: bool
    message: str | None
    metadata: dict[str, str | int] = field(default_factory=dict)
