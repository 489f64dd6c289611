"""Scan intake: bytes from an upload in, a de-identified RGB scan out.

    result = load_scan(data)               # raises IntakeError for files we refuse
    result.image, result.is_ultrasound, result.message, result.metadata

Steps: sniff the type from the bytes; check size, pixel and frame limits from the header before
decoding; decode one frame (DICOM via pydicom's handlers, PNG/JPEG/BMP via Pillow) to 8-bit RGB;
screen out images that are clearly not ultrasound; crop to the scan sector (the DICOM tissue
region when the file declares one, else found from the pixels) so burned-in text around it goes;
zero what lies outside the sector; fill annotation text inside it from its neighbours: what a
learned text detector finds (``textfind``: PP-OCRv4 on CPU, readable or not) and what the pixel
rules find (``sector.mask_text``: thin bright strokes), then what Tesseract still reads (``ocr``)
where the detector masked text or was unsure (the lines around them; with the detector off,
everywhere). Clip frames share the screen's furniture while it does not change (``Furniture``).

The output is always RGB: the model takes RGB and colour Doppler must survive. No Django, no
torch: this runs in the web process, the worker and the trainer alike.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from scoring.imaging import ocr as ocr_check
from scoring.imaging import textfind
from scoring.imaging.decoded import Decoded
from scoring.imaging.dicom import decode_dicom
from scoring.imaging.raster import decode_raster
from scoring.imaging.screening import not_ultrasound_reason
from scoring.imaging.sector import find_scan_area, mask_text
from scoring.imaging.sector import inpaint as sector_inpaint
from scoring.imaging.sniff import require_accepted, sniff_type
from scoring.imaging.types import MAX_WORK_SIDE, Box, IntakeError, IntakeLimits, IntakeResult

__all__ = [
    "METADATA_KEYS",
    "Furniture",
    "IntakeError",
    "IntakeLimits",
    "IntakeResult",
    "deidentify",
    "find_scan_area",
    "load_scan",
    "mask_text",
    "sniff_type",
]

# Everything a result's metadata may hold: technical facts, nothing about a person or place.
METADATA_KEYS = frozenset(
    {
        "kind",
        "frames",
        "frame_index",
        "original_width",
        "original_height",
        "crop_box",
        "region_source",  # "dicom_region", "pixels" or "whole_frame"
        "text_pixels_masked",
        "text_regions_masked",
        "ocr_words_masked",
        "downscale",
        "mode",
        "modality",
        "transfer_syntax",
        "photometric_interpretation",
        "bits_stored",
    }
)
# Intakes at once in one process (ABVLMQ_INTAKE_CONCURRENCY, default 2: the cores of a small
# machine); more wait their turn. A burst of 32 uploads ran 32 at once in the web process's
# threads and took it from 0.5 to 3.2 GB (bench.memory); each intake uses both cores anyway.
SLOTS = threading.BoundedSemaphore(max(1, int(os.environ.get("ABVLMQ_INTAKE_CONCURRENCY", "2"))))
_MIN_TRUSTED_MASK = 0.2  # inside a DICOM region, use a pixel-found mask only when this large
# A clip's frames have the lift view (textfind: a grey label over bright tissue) one in this
# many; what it finds is masked in the frames since the last that had it (fill_frame)
LIFT_EVERY = 5


OcrMode = Literal["required", "optional", "off"]


def load_scan(
    data: bytes,
    *,
    limits: IntakeLimits | None = None,
    frame: int | None = None,
    ocr: OcrMode = "required",
    detector: OcrMode | None = None,
) -> IntakeResult:
    """Validate, decode and de-identify one uploaded scan.

    ``frame`` picks a frame of a multi-frame file (default: the middle one). Raises
    :class:`IntakeError` for files we refuse; returns ``is_ultrasound=False`` with a message
    for readable images that are clearly not a scan (their ``image`` must not be stored).
    ``ocr``: after the pixel rules, Tesseract reads the result and any word it finds is masked
    (``scoring.imaging.ocr``); "required" refuses the upload when Tesseract is missing,
    "optional" skips the check then, "off" (bulk phantom work in ``trainer``) never runs it.
    ``detector``: the same for the learned text detector run before it (``textfind``); by
    default it follows ``ocr``.
    """
    limits = limits or IntakeLimits()
    limits.check_size(len(data))
    data = bytes(data)  # also accepts bytearray / memoryview from an upload handler
    kind = require_accepted(data)
    with SLOTS:
        if kind == "dicom":
            decoded = decode_dicom(data, limits, frame)
        else:
            decoded = decode_raster(data, kind, limits, frame)
        return deidentify(decoded, kind, ocr, detector)


def _shrink(d: Decoded) -> int:
    """Shrink a frame larger than MAX_WORK_SIDE by an integer factor; returns the factor."""
    h, w = d.rgb.shape[:2]
    factor = -(-max(h, w) // MAX_WORK_SIDE)
    if factor <= 1:
        return 1
    d.rgb = np.asarray(Image.fromarray(d.rgb).reduce(factor), dtype=np.uint8)
    if d.region is not None:
        d.region = _box(tuple(v // factor for v in d.region))  # type: ignore[arg-type]
    return factor


@dataclass
class Furniture:
    """What the frames of a clip share while the screen around the sector stays the same: the
    sector, the crop, the colour-Doppler decision, the text found along the crop's edges in the
    frame as uploaded, and the text found inside the sector so far (scanner labels stay put, so
    what was found in one frame is masked in the rest of the run too). Only one frame in
    ``lift_every`` has the detector's lift view (a grey label over bright tissue); what it finds
    is queued in ``fills`` for the frames since the last one that had it (``fill_frame``)."""

    shape: tuple[int, ...] | None = None
    outside: np.ndarray | None = None  # the frame outside the sector, every 4th pixel
    box: Box = (0, 0, 0, 0)
    sector: np.ndarray | None = None
    source: str = "pixels"
    doppler: bool = False
    edges: tuple[np.ndarray, int, np.ndarray] | None = None  # found, count, doubt over the crop
    seen: np.ndarray | None = None  # text found inside the sector in this run, over the crop
    last: np.ndarray | None = None  # the last frame's crop, outside the sector black
    frames: int = 0  # frames of this run so far
    runs: int = 0  # how many times the furniture was looked at afresh
    lift_every: int = LIFT_EVERY
    fills: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (inside, hole)

    @property
    def lifted(self) -> bool:
        """Whether the last frame had the lift view."""
        return (self.frames - 1) % self.lift_every == 0

    def close(self) -> None:
        """The end of a run: its last frame through the lift view too, when it had not been;
        what that finds is queued in ``fills`` for the frames since the last that had it."""
        if self.last is None or self.lifted or self.sector is None or self.seen is None:
            return
        x0, y0, x1, y1 = self.box
        inside = self.sector[y0:y1, x0:x1]
        seen = textfind.look(self.last, inside, self.doppler, lift=True)
        self.fills.append((inside, seen.mask & ~self.seen))
        self.last = None

    def same(self, rgb: np.ndarray) -> bool:
        """Whether ``rgb`` shows the same screen around the sector (within a video codec's
        noise: mean difference under 2 levels, 99.5 % of pixels within 24)."""
        if self.outside is None or rgb.shape != self.shape:
            return False
        diff = np.abs(_outside(rgb, self.sector).astype(np.int16) - self.outside)
        return float(diff.mean()) < 2 and float(np.percentile(diff, 99.5)) <= 24


def fill_frame(image: Image.Image, inside: np.ndarray, hole: np.ndarray) -> Image.Image:
    """A stored frame of a clip with ``hole`` (text found later in its run) filled from its
    neighbours inside the sector, as intake fills what it finds."""
    rgb = np.asarray(image)
    if rgb.shape[:2] != inside.shape:
        return image
    hole = hole & inside
    if not hole.any():
        return image
    return Image.fromarray(sector_inpaint(rgb, hole, inside & ~hole))


def _outside(rgb: np.ndarray, sector: np.ndarray) -> np.ndarray:
    return (rgb[::4, ::4] * ~sector[::4, ::4, None]).astype(np.int16)


def deidentify(
    d: Decoded,
    kind: str,
    ocr: OcrMode = "required",
    detector: OcrMode | None = None,
    furniture: Furniture | None = None,
) -> IntakeResult:
    """De-identify one decoded frame (``load_scan``'s work after decoding). ``furniture``: a
    clip's frames share one; it is looked at afresh only when the screen around the sector
    changes (a still's intake looks at everything every time)."""
    detector = ocr if detector is None else detector
    original = (d.rgb.shape[1], d.rgb.shape[0])  # (W, H) as decoded
    factor = _shrink(d)
    rgb = d.rgb  # (H, W, 3)
    h, w = rgb.shape[:2]
    reuse = furniture is not None and furniture.same(rgb)
    if reuse:
        box, sector, source = furniture.box, furniture.sector, furniture.source
    elif d.region is not None:
        box, source = d.region, "dicom_region"
        x0, y0, x1, y1 = box
        _, inner = find_scan_area(rgb[y0:y1, x0:x1])
        # The region is the scanner's word; a pixel-found sector inside it only sharpens it.
        sector = np.zeros((h, w), bool)
        sector[y0:y1, x0:x1] = inner if inner.mean() >= _MIN_TRUSTED_MASK else True
    else:
        box, sector = find_scan_area(rgb)
        source = "whole_frame" if sector.all() else "pixels"
    reason = d.not_ultrasound or not_ultrasound_reason(rgb, float(sector.mean()))
    ocr_words = regions = 0
    if reason is not None:
        box, text_pixels = (0, 0, w, h), 0
        out = rgb
    else:
        x0, y0, x1, y1 = box
        inside = sector[y0:y1, x0:x1]
        out = rgb[y0:y1, x0:x1] * inside[:, :, None]  # furniture outside the sector goes
        found = doubt = None
        regions = 0
        if detector == "required" or (detector == "optional" and textfind.available()):
            if furniture is None:
                found, regions, doubt = _find_text(rgb, sector, box)
            else:
                found, regions, doubt = _find_text_in_run(rgb, sector, box, furniture, reuse)
        # the pixel rules only around what the detector found or doubted (they also take bright
        # anatomy for text); everywhere without the detector
        near = None if doubt is None else verify_region(found | doubt)
        out, text = mask_text(out, inside, near)
        if found is not None and regions:
            found &= inside
            if found.any():
                out = sector_inpaint(out, found, inside & ~found)
            text |= found
            textfind.log.warning("the text detector found %d region(s); masked them", regions)
        text_pixels = int(text.sum())
        if ocr == "required" or (ocr == "optional" and ocr_check.available()):
            # with the detector, Tesseract verifies what is left: the lines of what was masked
            # and of what the detector was unsure of; without it, Tesseract reads everything
            out, ocr_words = ocr_check.mask_words(np.ascontiguousarray(out, np.uint8), inside, near)
    metadata: dict[str, str | int] = {
        **d.metadata,
        "kind": kind,
        "frames": d.frames,
        "frame_index": d.frame_index,
        "original_width": original[0],
        "original_height": original[1],
        "crop_box": ",".join(str(v * factor) for v in box),
        "downscale": factor,
        "region_source": source,
        "text_pixels_masked": text_pixels,
        "text_regions_masked": regions,
        "ocr_words_masked": ocr_words,
    }
    return IntakeResult(
        image=Image.fromarray(np.ascontiguousarray(out, dtype=np.uint8)),  # (H, W, 3): RGB
        kind=kind,  # type: ignore[arg-type]
        frames=d.frames,
        original_size=original,
        crop_box=_box(tuple(v * factor for v in box)),  # type: ignore[arg-type]
        is_ultrasound=reason is None,
        message=None if reason is None else _not_ultrasound_message(reason),
        metadata={k: v for k, v in metadata.items() if k in METADATA_KEYS},
    )


def _find_text_in_run(
    rgb: np.ndarray, sector: np.ndarray, box: Box, run: Furniture, reuse: bool
) -> tuple[np.ndarray, int, np.ndarray]:
    """``_find_text`` for a frame of a clip: the crop's edges looked at once per run of frames
    with the same furniture, the sector every frame, and what was found before kept."""
    x0, y0, x1, y1 = box
    inside = sector[y0:y1, x0:x1]
    crop = rgb[y0:y1, x0:x1] * inside[:, :, None]
    if not reuse:
        run.close()  # the run before ends
        run.shape, run.box, run.sector = rgb.shape, box, sector
        run.outside = _outside(rgb, sector)
        run.doppler = textfind.is_doppler(crop, inside)
        run.edges = _edges(rgb, sector, box, run.doppler)
        run.seen = np.zeros(inside.shape, bool)
        run.frames = 0
        run.runs += 1
    run.frames += 1
    run.last = crop
    seen = textfind.look(crop, inside, run.doppler, lift=run.lifted)
    edge_found, edge_count, edge_doubt = run.edges  # type: ignore[misc]
    if run.lifted:  # what the lift view finds, for the frames since the last that had it
        run.fills.append((inside, seen.mask & ~run.seen))  # type: ignore[operator]
    run.seen |= seen.mask  # type: ignore[operator]
    found = run.seen | edge_found  # type: ignore[operator]
    count = len(seen.boxes) + edge_count + (1 if (run.seen & ~seen.mask).any() else 0)
    return found, count, seen.doubt_mask() | edge_doubt


def _find_text(rgb: np.ndarray, sector: np.ndarray, box: Box) -> tuple[np.ndarray, int, np.ndarray]:
    """The learned detector over the crop, outside the sector black (bright furniture beside a
    faint label lowers the network's belief in it), then over the frame as uploaded along the
    crop's top and bottom edges: a title bar's line or a footer cut by the sector's edge is
    seen whole there, as text. Returns the mask over the crop, the count of regions, and the
    mask of what the detector was unsure of (for Tesseract to verify)."""
    x0, y0, x1, y1 = box
    inside = sector[y0:y1, x0:x1]
    crop = rgb[y0:y1, x0:x1] * inside[:, :, None]
    doppler = textfind.is_doppler(crop, inside)  # decided on the whole sector, strips included
    seen = textfind.look(crop, inside, doppler)
    found, count, doubt = seen.mask, len(seen.boxes), seen.doubt_mask()
    edge_found, edge_count, edge_doubt = _edges(rgb, sector, box, doppler)
    return found | edge_found, count + edge_count, doubt | edge_doubt


def _edges(
    rgb: np.ndarray, sector: np.ndarray, box: Box, doppler: bool
) -> tuple[np.ndarray, int, np.ndarray]:
    """The detector (the image view) over the frame as uploaded along the crop's top and bottom
    edges; masks over the crop."""
    h = rgb.shape[0]
    x0, y0, x1, y1 = box
    found = np.zeros((y1 - y0, x1 - x0), bool)
    doubt = np.zeros_like(found)
    count = 0
    m = textfind.CONTEXT
    for edge in (y0, y1):
        a, b = max(edge - m, 0), min(edge + m, h)
        if b - a < 8:
            continue
        strip = textfind.look(rgb[a:b, x0:x1], sector[a:b, x0:x1], doppler, image_only=True)
        top, bottom = max(a, y0), min(b, y1)
        if bottom > top:
            found[top - y0 : bottom - y0] |= strip.mask[top - a : bottom - a]
            doubt[top - y0 : bottom - y0] |= strip.doubt_mask()[top - a : bottom - a]
            count += len(strip.boxes)
    return found, count, doubt


def verify_region(marked: np.ndarray) -> np.ndarray:
    """Where Tesseract reads after the detector: each marked region's line, a line height
    above and below and four to either side (a word the mask cut short goes on there)."""
    h, w = marked.shape
    out = np.zeros((h, w), bool)
    for y0, x0, y1, x1 in textfind.components(marked):
        lh = max(y1 - y0, 8)
        out[max(y0 - lh // 2, 0) : y1 + lh // 2, max(x0 - 2 * lh, 0) : x1 + 2 * lh] = True
    return out


def _not_ultrasound_message(reason: str) -> str:
    return (
        f"This does not look like an ultrasound scan: {reason}. "
        "Upload an image exported from the ultrasound machine."
    )


def _box(box: Box) -> Box:
    return (int(box[0]), int(box[1]), int(box[2]), int(box[3]))
