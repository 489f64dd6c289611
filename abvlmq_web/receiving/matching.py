"""Who a received instance belongs to, read from its header before the header goes.

A resident registers the names she types on the scanner ("SMITH^RITA", "Rita Smith", "RS").
A name's key is its words, upper-cased and sorted, so that DICOM's ``Family^Given`` and the
``Given Family`` a person writes are the same name. The instance's Operators' Name and
Performing Physician's Name (both may hold several values) are compared; exactly one resident
matched means hers, none or several means the inbox.
"""

from __future__ import annotations

import re
from io import BytesIO

import pydicom

MATCH_KEYWORDS = ("OperatorsName", "PerformingPhysicianName")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def name_key(name: str) -> str:
    """``"SMITH^RITA"``, ``"Rita  Smith"`` and ``"smith, rita"`` all give ``"RITA SMITH"``."""
    words = _WORD.findall(str(name).replace("^", " ").upper())
    return " ".join(sorted(words))


def header_names(data: bytes) -> list[str]:
    """The matching fields' values of a DICOM instance ("" when it has none or is unreadable:
    intake then refuses it with its own message)."""
    try:
        ds = pydicom.dcmread(
            BytesIO(data), force=True, stop_before_pixels=True, specific_tags=list(MATCH_KEYWORDS)
        )
    except Exception:
        return []
    names: list[str] = []
    for keyword in MATCH_KEYWORDS:
        value = ds.get(keyword)
        if value is None:
            continue
        values = value if isinstance(value, pydicom.multival.MultiValue | list) else [value]
        names.extend(str(v) for v in values if str(v).strip())
    return names
