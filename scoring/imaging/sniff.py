"""Tell a file's type from its bytes. The file name and the browser's content type are ignored."""

from __future__ import annotations

import struct
from io import BytesIO

from scoring.imaging.types import ACCEPTED_HINT, IntakeError

ACCEPTED = ("png", "jpeg", "bmp", "dicom")

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"%PDF", "pdf"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"PK\x03\x04", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"\xd0\xcf\x11\xe0", "office"),
    (b"\x00\x00\x00\x0cjP  ", "jpeg2000"),
    (b"\xff\x4f\xff\x51", "jpeg2000"),
)
# BITMAPCOREHEADER .. BITMAPV5HEADER: "BM" alone is too weak a signature (text may start so).
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}

# How a resident hears about a file we cannot take.
_NAMES = {
    "pdf": ("a PDF", False),
    "zip": ("a ZIP archive", False),
    "gzip": ("a compressed archive", False),
    "office": ("an Office document", False),
    "video": ("a video", False),
    "text": ("a text file", False),
    "gif": ("a GIF image", True),
    "tiff": ("a TIFF image", True),
    "webp": ("a WebP image", True),
    "heic": ("a HEIC photo (the iPhone format)", True),
    "jpeg2000": ("a JPEG 2000 image", True),
}


def sniff_type(data: bytes) -> str:
    """Return ``png``, ``jpeg``, ``bmp`` or ``dicom`` for files we accept; otherwise a short name
    of what the file is (``pdf``, ``gif``, ``tiff``, ``webp``, ``heic``, ``zip``, ``video``,
    ``text``, ...) or ``unknown``. ``empty`` for no bytes."""
    if not data:
        return "empty"
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    for prefix, kind in _PREFIXES:
        if data.startswith(prefix):
            return kind
    if (
        data[:2] == b"BM"
        and len(data) >= 18
        and struct.unpack("<I", data[14:18])[0] in _BMP_DIB_SIZES
    ):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "heic" if data[8:12] in (b"heic", b"heix", b"mif1", b"msf1") else "video"
    if _is_bare_dicom(data):
        return "dicom"
    if _looks_like_text(data[:512]):
        return "text"
    return "unknown"


def require_accepted(data: bytes) -> str:
    """``sniff_type`` that raises :class:`IntakeError` for anything we do not take."""
    kind = sniff_type(data)
    if kind == "empty":
        raise IntakeError("empty", "The file is empty. " + ACCEPTED_HINT)
    if kind in ACCEPTED:
        return kind
    name, is_image = _NAMES.get(kind, (None, False))
    if name is None:
        message = "We could not recognise this file as an image. " + ACCEPTED_HINT
    elif is_image:
        message = f"This file is {name}, which we cannot read. " + ACCEPTED_HINT
    else:
        message = f"This file is {name}, not an image. " + ACCEPTED_HINT
    raise IntakeError("unsupported_type", message)


def _is_bare_dicom(data: bytes) -> bool:
    """A DICOM data set without the 128-byte preamble: starts with a group 0002 or 0008 tag
    (little endian) and pydicom can parse it with ``force``."""
    if len(data) < 8 or struct.unpack("<H", data[:2])[0] not in (0x0002, 0x0008):
        return False
    import pydicom  # local: only this rare path needs it at sniff time

    try:
        ds = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)
        return any(key in ds for key in ("SOPClassUID", "Modality", "Rows"))
    except Exception:  # any parse failure means "not DICOM"
        return False


def _looks_like_text(head: bytes) -> bool:
    # No control bytes other than tab, newline, carriage return and form feed.
    return not any(b < 9 or 13 < b < 32 or b == 127 for b in head)
