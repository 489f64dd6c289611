"""DICOM through pydicom: one frame to 8-bit RGB, and only technical facts kept.

No tag that could identify a patient, a person or a place ever leaves this module: the result's
metadata is built from a fixed list of technical fields (``METADATA_KEYS``), never by copying.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from scoring.imaging.decoded import Decoded, check_dimensions, choose_frame, gray_to_rgb, to_uint8
from scoring.imaging.types import Box, IntakeError, IntakeLimits

# Modalities that are certainly not ultrasound. "OT"/"SC" (secondary capture) may be a screen
# grab of a scanner, so they are left to the pixel checks.
_NOT_ULTRASOUND = {
    "CT": "a CT",
    "MR": "an MRI",
    "CR": "an X-ray",
    "DX": "an X-ray",
    "MG": "a mammogram",
    "XA": "an angiogram",
    "RF": "a fluoroscopy",
    "PT": "a PET",
    "NM": "a nuclear medicine",
    "OP": "an eye photograph",
}
_TISSUE = 1  # RegionDataType 1: tissue (the 2D B-mode image)


def decode_dicom(data: bytes, limits: IntakeLimits, frame: int | None) -> Decoded:
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
        has_pixels = "PixelData" in ds
        if has_pixels:
            rows, cols = int(ds.Rows), int(ds.Columns)
            frames = int(ds.get("NumberOfFrames") or 1)
            photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    except Exception as exc:  # a data set we cannot even parse
        raise IntakeError("corrupt", _CORRUPT) from exc
    if not has_pixels:
        raise IntakeError("unsupported_type", _NO_IMAGE)
    check_dimensions(cols, rows, frames, limits)
    index = choose_frame(frames, frame)
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare data set without file meta
        implicit = ds.original_encoding[0] is not False
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        # Decodes only the chosen frame; YBR is converted to RGB by pydicom (as_rgb).
        arr = pixel_array(ds, index=index if frames > 1 else None)
        rgb = _to_rgb(arr, ds, photometric)
    except NotImplementedError as exc:
        raise IntakeError(
            "unsupported_type",
            f"This DICOM is compressed as {syntax.name}, which we cannot read. "
            "Export it uncompressed or as JPEG.",
        ) from exc
    except Exception as exc:  # truncated pixel data, broken codestreams, ...
        raise IntakeError("corrupt", _CORRUPT) from exc
    modality = str(ds.get("Modality", "") or "").strip().upper()
    metadata: dict[str, str | int] = {
        "modality": modality or "unknown",
        "transfer_syntax": str(syntax.name),
        "photometric_interpretation": photometric,
        "bits_stored": int(ds.get("BitsStored") or 8),
    }
    reason = None
    if modality in _NOT_ULTRASOUND:
        reason = f"the DICOM file says it is {_NOT_ULTRASOUND[modality]} image ({modality})"
    return Decoded(
        rgb=rgb,
        frames=frames,
        frame_index=index,
        metadata=metadata,
        region=tissue_region(ds, cols, rows),
        not_ultrasound=reason,
    )


_CORRUPT = "This DICOM file is damaged or incomplete. Export it again from the scanner or PACS."
_NO_IMAGE = "This DICOM file holds no image (it may be a report or a measurement). " + (
    "Upload the scan itself."
)


def _to_rgb(arr: np.ndarray, ds: pydicom.Dataset, photometric: str) -> np.ndarray:
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        # 16-bit palette entries hold the colour in their high byte.
        return (rgb >> 8).astype(np.uint8) if rgb.max() > 255 else rgb.astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 3:
        if arr.dtype == np.uint8:
            return arr
        bits = int(ds.get("BitsStored") or 16)
        return to_uint8(arr, 0, 2**bits - 1)
    if arr.ndim != 2:
        raise ValueError(f"unexpected pixel array shape {arr.shape}")
    gray = window_to_uint8(arr, ds)
    if photometric == "MONOCHROME1":  # 0 is white
        gray = 255 - gray
    return gray_to_rgb(gray)


def window_to_uint8(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Grayscale to 8 bits. 8-bit data is kept as is; deeper data goes through the modality LUT
    and then the first WindowCenter/WindowWidth (DICOM's linear VOI function), or min..max when
    the file has no window."""
    if arr.dtype == np.uint8:
        return arr
    values = apply_modality_lut(arr, ds).astype(np.float64)
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and width >= 1:
        # PS3.3 C.11.2.1.2.1: y = ((x - (c - 0.5)) / (w - 1) + 0.5) over the output range.
        low = center - 0.5 - (width - 1) / 2
        return to_uint8(values, low, low + width - 1)
    return to_uint8(values, float(values.min()), float(values.max()))


def tissue_region(ds: pydicom.Dataset, cols: int, rows: int) -> Box | None:
    """The largest tissue region of the Sequence of Ultrasound Regions (0018,6011) that fits the
    frame, as an exclusive box. Max X1/Y1 are inclusive in the standard; vendors that write
    ``Columns`` there are tolerated. Regions that do not fit (some files give them in another
    resolution) are ignored, so the pixels decide."""
    best: Box | None = None
    for item in ds.get("SequenceOfUltrasoundRegions") or []:
        try:
            if int(item.get("RegionDataType", 0)) != _TISSUE:
                continue
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if not (0 <= x0 < x1 <= cols and 0 <= y0 < y1 <= rows):
            continue
        box = (x0, y0, min(x1 + 1, cols), min(y1 + 1, rows))
        if best is None or _area(box) > _area(best):
            best = box
    return best


def _area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _first(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        value = value[0] if len(value) else None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
