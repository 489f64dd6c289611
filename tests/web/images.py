"""Files to upload: phantoms (real synthetic scans), broken files, real vendor DICOM."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont

from tests import dicom_samples
from trainer.phantoms import generate

PATIENT_TEXT = "DOE^JANE  MRN 0012345"


def png_bytes(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@lru_cache(maxsize=8)
def phantom(index: int = 6, seed: int = 0) -> bytes:
    """A phantom scan as PNG bytes (index 6: a pancreas plane, no screen text)."""
    img, _ = generate(index=index, seed=seed)
    return png_bytes(img)


def screenshot(with_patient_text: bool = True) -> bytes:
    """A scanner screen grab: phantom with its screen furniture, plus a patient name burned in
    above the sector (index 1 of seed 0 has furniture)."""
    img, _ = generate(index=1, seed=0)
    img = img.convert("RGB")
    if with_patient_text:
        draw = ImageDraw.Draw(img)
        draw.text((6, 34), PATIENT_TEXT, fill=(255, 255, 255), font=ImageFont.load_default(14))
    return png_bytes(img)


def document() -> bytes:
    """A white page of text: a readable image that is no scan."""
    img = Image.new("RGB", (600, 800), "white")
    draw = ImageDraw.Draw(img)
    for row in range(20):
        draw.text((40, 40 + 30 * row), "Discharge summary " * 3, fill="black")
    return png_bytes(img)


def truncated_png() -> bytes:
    data = phantom()
    return data[: len(data) // 2]


def renamed_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(side: int = 30000) -> bytes:
    """A tiny file whose header claims side x side pixels: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def dicom(name: str) -> bytes:
    """A real vendor DICOM sample (from pydicom-data or pydicom's test files)."""
    return dicom_samples.read(name)


def file(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
