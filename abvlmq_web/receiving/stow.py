"""DICOMweb STOW-RS (PS3.18 10.5): ``multipart/related; type="application/dicom"`` in, a
``application/dicom+json`` store response out, listing each instance as stored or failed."""

from __future__ import annotations

import re
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from abvlmq_web.receiving.services import intake_max_bytes

_PARAM = re.compile(r';\s*([\w-]+)\s*=\s*("([^"]*)"|[^;\s]+)')

# Failure reasons of the store response (PS3.18 table I.2-2 and PS3.4 C-STORE statuses).
PROCESSING_FAILURE = 0x0110
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


def media_params(content_type: str) -> dict[str, str]:
    return {m[0].lower(): m[2] if m[2] else m[1] for m in _PARAM.findall(content_type)}


class MultipartRelatedParser(BaseParser):
    """The parts of a multipart/related body whose type is application/dicom, as bytes."""

    media_type = "multipart/related"

    def parse(self, stream, media_type=None, parser_context=None) -> list[bytes]:
        params = media_params(media_type or "")
        if params.get("type", "application/dicom").lower() != "application/dicom":
            raise UnsupportedMediaType(media_type, 'Send type="application/dicom" parts.')
        boundary = params.get("boundary")
        if not boundary:
            raise ParseError("multipart/related needs a boundary.")
        limit = 8 * intake_max_bytes()
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise ParseError(f"The request is larger than {limit // 2**20} MB; send fewer files.")
        return split_parts(body, boundary.encode())


def split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    parts: list[bytes] = []
    for piece in pieces[1:]:  # before the first delimiter: the preamble
        if piece.startswith(b"--"):  # the close delimiter
            break
        head, sep, content = piece.partition(b"\r\n\r\n")
        if not sep:
            raise ParseError("A part of the multipart body has no header end.")
        headers = head.decode("latin-1").lower()
        match = re.search(r"content-type:\s*([^\s;]+)", headers)
        if match and match.group(1) != "application/dicom":
            raise UnsupportedMediaType(match.group(1), "Each part must be application/dicom.")
        if content.endswith(b"\r\n"):  # the CRLF belongs to the next delimiter
            content = content[:-2]
        parts.append(content)
    if not parts:
        raise ParseError("The multipart body holds no part.")
    return parts


class DicomJsonRenderer(JSONRenderer):
    media_type = "application/dicom+json"
    format = "dicom+json"


def sop_of(data: bytes) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) of an instance, "" where unreadable."""
    try:
        ds = pydicom.dcmread(
            BytesIO(data),
            force=True,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "SOPInstanceUID"],
        )
        return str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
    except Exception:
        return "", ""


def store_response(stored: list[tuple[str, str]], failed: list[tuple[str, str, int]]) -> dict:
    """The store response data set (Referenced and Failed SOP Sequences) as DICOM JSON."""
    ds = Dataset()
    if stored:
        ds.ReferencedSOPSequence = [_ref(c, i) for c, i in stored]
    if failed:
        items = []
        for c, i, reason in failed:
            item = _ref(c, i)
            item.FailureReason = reason
            items.append(item)
        ds.FailedSOPSequence = items
    return ds.to_json_dict()


def _ref(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item
