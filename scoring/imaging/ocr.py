"""A second, independent check for text on a de-identified image: Tesseract OCR.

The pixel rules in ``sector.py`` remove text by its shape; this module reads the result the way
a person would. Any word of three or more letters or digits that Tesseract reads with enough
confidence is masked (filled from its neighbours inside the sector, black outside), and the
event is logged - with the count and the places, never the words, which may be a patient's
name. Tesseract comes from Debian's ``tesseract-ocr`` package, installed by the project's
scripts (``scripts/test.sh``, ``scripts/run.sh``) and the Docker image.

Tesseract runs in this process through its C API (``libtesseract.so.5``, part of the same
package, through ctypes): an engine is loaded once and kept for the next read. Starting the
``tesseract`` program for each image spent 80-100 ms loading its model before reading
anything, most of the check's time on a clip frame or a screen's few doubtful lines (issue 30).
The words are the same (``tests/scoring/test_imaging_ocr.py`` compares the two on screens and
cards); where the library cannot be loaded, the program is run as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from io import BytesIO

import numpy as np
from PIL import Image

from scoring.imaging.types import IntakeError

log = logging.getLogger(__name__)

MIN_CHARS = 3  # "a word of 3+ characters": two-letter labels are the pixel rules' job
MIN_CONFIDENCE = 60.0  # Tesseract's 0-100; speckle read as letters scores lower
MIN_HEIGHT = 6  # pixels: speckle grains read as "words" are 4-5 px tall, screen fonts 7+
UPSCALE_BELOW = 600  # small images are read at twice their size: small fonts need it
PAD = 2  # pixels around a word's box, for antialiased edges
TIMEOUT_S = 30
GAP = 24  # black rows between the parts of an image read in one call


class OcrUnavailable(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            "ocr_unavailable",
            "The server cannot check this image for text (Tesseract OCR is not installed), "
            "so it was not stored. Tell the site's administrator.",
        )


PSM_SPARSE = 11  # sparse text, in any place and order - labels and captions, not paragraphs


def available() -> bool:
    return shutil.which("tesseract") is not None or _library() is not None


def _library():
    """libtesseract through ctypes, or None where it cannot be loaded (then the program runs)."""
    global _LIB
    if _LIB is False:
        name = ctypes.util.find_library("tesseract")
        try:
            lib = ctypes.CDLL(name) if name else None
        except OSError:
            lib = None
        if lib is not None:
            vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
            lib.TessBaseAPICreate.restype = vp
            lib.TessBaseAPIInit3.argtypes = [vp, cp, cp]
            lib.TessBaseAPISetVariable.argtypes = [vp, cp, cp]
            lib.TessBaseAPISetPageSegMode.argtypes = [vp, i]
            lib.TessBaseAPISetImage.argtypes = [vp, vp, i, i, i, i]
            lib.TessBaseAPIGetTsvText.argtypes = [vp, i]
            lib.TessBaseAPIGetTsvText.restype = vp
            lib.TessDeleteText.argtypes = [vp]
            lib.TessBaseAPIClear.argtypes = [vp]
        _LIB = lib
    return _LIB


_LIB = False  # not looked for yet
_idle: list[tuple[int, int]] = []  # (pid, engine) loaded and not reading now
_idle_lock = threading.Lock()


@contextmanager
def _engine():
    """A Tesseract engine (English, sparse text) for one read: an idle one, else a new one.
    Tesseract's engines are not thread-safe, so each read has one to itself; there are never
    more than the reads at once (intake's slots bound those). A forked worker loads its own
    (an engine is tagged with the process that made it). None without the library."""
    lib = _library()
    if lib is None:
        yield None
        return
    pid = os.getpid()
    with _idle_lock:
        while _idle and _idle[-1][0] != pid:
            _idle.pop()  # the parent's, copied by a fork: never used here
        handle = _idle.pop()[1] if _idle else None
    if handle is None:
        handle = lib.TessBaseAPICreate()
        if lib.TessBaseAPIInit3(handle, None, b"eng") != 0:
            raise OcrUnavailable()  # the library is there, its English model is not
        lib.TessBaseAPISetVariable(handle, b"debug_file", os.devnull.encode())  # no chatter
        lib.TessBaseAPISetPageSegMode(handle, PSM_SPARSE)
    try:
        yield handle
    finally:
        lib.TessBaseAPIClear(handle)
        with _idle_lock:
            _idle.append((pid, handle))


def _tsv(grey: np.ndarray) -> str:
    """Tesseract's TSV for an (H, W) uint8 image: in this process where it can, else from the
    ``tesseract`` program (the same words; the program's header line first)."""
    with _engine() as handle:
        if handle is not None:
            lib = _library()
            grey = np.ascontiguousarray(grey, np.uint8)
            lib.TessBaseAPISetImage(handle, grey.ctypes.data, grey.shape[1], grey.shape[0], 1,
                                    grey.shape[1])  # fmt: skip
            text = lib.TessBaseAPIGetTsvText(handle, 0)
            if not text:
                raise IntakeError("corrupt", "The image could not be checked for text.")
            try:
                return "level\n" + ctypes.string_at(text).decode("utf-8", "replace")
            finally:
                lib.TessDeleteText(text)
    exe = shutil.which("tesseract")
    if exe is None:
        raise OcrUnavailable()
    buf = BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    proc = subprocess.run(
        [exe, "stdin", "stdout", "--psm", str(PSM_SPARSE), "tsv"],
        input=buf.getvalue(),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise IntakeError("corrupt", "The image could not be checked for text; upload it again.")
    return proc.stdout.decode("utf-8", "replace")


def read_words(rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """Boxes (left, top, right, bottom) and confidences of the words Tesseract reads that have
    at least ``MIN_CHARS`` letters or digits."""
    if not available():
        raise OcrUnavailable()
    h, w = rgb.shape[:2]
    factor = 2 if min(h, w) < UPSCALE_BELOW else 1
    img = Image.fromarray(rgb).convert("L")
    if factor > 1:
        img = img.resize((w * factor, h * factor), Image.Resampling.BICUBIC)
    words = []
    for line in _tsv(np.asarray(img)).splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text, conf = cols[11].strip(), float(cols[10])
        if sum(ch.isalnum() for ch in text) < MIN_CHARS or conf < MIN_CONFIDENCE:
            continue
        left, top, width, height = (int(c) // factor for c in cols[6:10])
        if height < MIN_HEIGHT:
            continue
        words.append(((left, top, left + width + 1, top + height + 1), conf))
    return words


def mask_words(
    rgb: np.ndarray, sector: np.ndarray, within: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Mask every word Tesseract reads on ``rgb``, then read again: what a fill left readable
    (a word split by the mask into shorter ones) is blacked out. Returns the image and the
    count of words masked. ``within``: read only there (the rest is black to Tesseract), as
    the verifier of what the text detector left in doubt; an empty one reads nothing."""
    if within is None:
        within = np.ones(rgb.shape[:2], bool)
    if not within.any():
        if not available():
            raise OcrUnavailable()
        return rgb, 0
    out, count = _mask_once(rgb, sector, _read_within(rgb, within), fill=True)
    if count:
        out, again = _mask_once(out, sector, _read_within(out, within), fill=False)
        count += again
    return out, count


def _read_within(rgb: np.ndarray, within: np.ndarray) -> list:
    """``read_words`` on the parts of ``rgb`` under ``within`` only, in ``rgb``'s coordinates.
    The parts (the bounding boxes of ``within``'s pieces) are stacked one under another, apart,
    on a black card, and read in one call: Tesseract's time grows with what it looks at."""
    if within.all():
        return read_words(rgb)
    from scoring.imaging.textfind import components

    parts = [(x0, y0, x1, y1) for y0, x0, y1, x1 in components(within)]
    width = max(x1 - x0 for x0, _, x1, _ in parts)
    height = sum(y1 - y0 + GAP for _, y0, _, y1 in parts)
    card = np.zeros((height, width, 3), np.uint8)
    slots = []  # (top on the card, the part)
    top = 0
    for x0, y0, x1, y1 in parts:
        card[top : top + y1 - y0, : x1 - x0] = rgb[y0:y1, x0:x1] * within[y0:y1, x0:x1, None]
        slots.append((top, (x0, y0, x1, y1)))
        top += y1 - y0 + GAP
    words = []
    for (a, b, c, d), conf in read_words(card):
        for slot_top, (x0, y0, x1, y1) in slots:
            if slot_top <= (b + d) // 2 < slot_top + y1 - y0:
                dy = y0 - slot_top
                words.append(((a + x0, max(b + dy, y0), min(c + x0, x1), min(d + dy, y1)), conf))
                break
    return words


def _mask_once(rgb: np.ndarray, sector: np.ndarray, words, *, fill: bool) -> tuple:
    from scoring.imaging.sector import inpaint  # the same fill as the pixel rules use

    if not words:
        return rgb, 0
    h, w = rgb.shape[:2]
    hole = np.zeros((h, w), bool)
    for (x0, y0, x1, y1), _ in words:
        hole[max(y0 - PAD, 0) : min(y1 + PAD, h), max(x0 - PAD, 0) : min(x1 + PAD, w)] = True
    if fill and (hole & sector).any():
        out = inpaint(rgb, hole & sector, sector & ~hole)
    else:
        out = rgb.copy()
    out[hole & ~sector if fill else hole] = 0
    log.warning(
        "OCR found %d word(s) of text after masking, at %s; masked them",
        len(words),
        [box for box, _ in words],
    )
    return out, len(words)
