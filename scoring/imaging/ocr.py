"""A second, independent check for text on a de-identified image: Tesseract OCR.

The pixel rules in ``sector.py`` remove text by its shape; this module reads the result the way
a person would. Any word of three or more letters or digits that Tesseract reads with enough
confidence is masked (filled from its neighbours inside the sector, black outside), and the
event is logged - with the count and the places, never the words, which may be a patient's
name. Tesseract comes from Debian's ``tesseract-ocr`` package, installed by the project's
scripts (``scripts/test.sh``, ``scripts/run.sh``) and the Docker image.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from io import BytesIO

import numpy as np
from PIL import Image

from scoring.imaging.base import IntakeError

log = logging.getLogger(__name__)

MIN_CHARS = 3  # "a word of 3+ characters": two-letter labels are the pixel rules' job
MIN_CONFIDENCE = 60.0  # Tesseract's 0-100; speckle read as letters scores lower
MIN_HEIGHT = 6  # pixels: speckle grains read as "words" are 4-5 px tall, screen fonts 7+
UPSCALE_BELOW = 600  # small images are read at twice their size: small fonts need it
PAD = 2  # pixels around a word's box, for antialiased edges
TIMEOUT_S = 30


class OcrUnavailable(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            "ocr_unavailable",
            "The server cannot check this image for text (Tesseract OCR is not installed), "
            "so it was not stored. Tell the site's administrator.",
        )


def available() -> bool:
    return shutil.which("tesseract") is not None


def read_words(rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """Boxes (left, top, right, bottom) and confidences of the words Tesseract reads that have
    at least ``MIN_CHARS`` letters or digits."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise OcrUnavailable()
    h, w = rgb.shape[:2]
    factor = 2 if min(h, w) < UPSCALE_BELOW else 1
    img = Image.fromarray(rgb).convert("L")
    if factor > 1:
        img = img.resize((w * factor, h * factor), Image.Resampling.BICUBIC)
    buf = BytesIO()
    img.save(buf, format="PNG")
    # psm 11: sparse text, in any place and order - labels and captions, not paragraphs
    proc = subprocess.run(
        [exe, "stdin", "stdout", "--psm", "11", "tsv"],
        input=buf.getvalue(),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise IntakeError("corrupt", "The image could not be checked for text; upload it again.")
    words = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
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


def mask_words(rgb: np.ndarray, sector: np.ndarray) -> tuple[np.ndarray, int]:
    """Mask every word Tesseract reads on ``rgb``, then read again: what a fill left readable
    (a word split by the mask into shorter ones) is blacked out. Returns the image and the
    count of words masked."""
    out, count = _mask_once(rgb, sector, read_words(rgb), fill=True)
    if count:
        out, again = _mask_once(out, sector, read_words(out), fill=False)
        count += again
    return out, count


def _mask_once(rgb: np.ndarray, sector: np.ndarray, words, *, fill: bool) -> tuple:
    from scoring.imaging.sector import _inpaint  # the same fill as the pixel rules use

    if not words:
        return rgb, 0
    h, w = rgb.shape[:2]
    hole = np.zeros((h, w), bool)
    for (x0, y0, x1, y1), _ in words:
        hole[max(y0 - PAD, 0) : min(y1 + PAD, h), max(x0 - PAD, 0) : min(x1 + PAD, w)] = True
    if fill and (hole & sector).any():
        out = _inpaint(rgb, hole & sector, sector & ~hole)
    else:
        out = rgb.copy()
    out[hole & ~sector if fill else hole] = 0
    log.warning(
        "OCR found %d word(s) of text after masking, at %s; masked them",
        len(words),
        [box for box, _ in words],
    )
    return out, len(words)
