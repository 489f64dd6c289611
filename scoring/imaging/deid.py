"""DICOM de-identification to the standard: PS3.15 Annex E, Basic Application Level
Confidentiality Profile, at every depth of the data set.

The profile's table (which attribute is removed, emptied, replaced by a dummy or given a new
UID) is not written here: it comes from ``dicom-anonymizer`` (Kitware, BSD licence), which
keeps it in step with the standard's releases (``DICOM_VERSION``). That library applies the
table to the top level of a data set only; an ultrasound file carries identifying attributes
inside sequences too (a Referenced Study Sequence with its UIDs, a Requested Attribute Sequence
with IDs, an operator's name in a code sequence), so we apply it to every item of every
sequence, depth first. Private attributes are removed throughout.

Used where a DICOM file is kept (``ABVLMQ_KEEP_ORIGINALS``) or sent on. The stored scan image
is a PNG made from pixels and never had tags.
"""

from __future__ import annotations

import threading
from io import BytesIO

import pydicom
from dicomanonymizer import simpledicomanonymizer as profile
from pydicom.dataset import Dataset

DICOM_VERSION = "dicomfields_2026c"  # the release of the standard whose table is applied
# Technical attributes a basic-profile table would blank (its "retain" options do not apply
# to a plain basic profile) that the intake needs to find the scan area: the scanner's regions.
_ALWAYS_KEEP = ("SequenceOfUltrasoundRegions",)

_lock = threading.Lock()  # the library keeps its old -> new UID map in a module global


def _actions() -> dict:
    return profile.initialize_actions(DICOM_VERSION)


def profile_tags() -> set[tuple[int, int]]:
    """Every (group, element) that the basic profile acts on (repeating groups excluded)."""
    return {tag for tag in _actions() if len(tag) == 2}


def deidentify_dataset(ds: Dataset) -> Dataset:
    """Apply the basic profile to ``ds`` and every nested item, in place; returns ``ds``."""
    with _lock:
        try:
            _walk(ds)
        finally:
            profile.dictionary.clear()  # one file's UID map must not outlive it
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = f"DICOM PS3.15 Annex E basic profile ({DICOM_VERSION})"
    return ds


def _walk(ds: Dataset) -> None:
    kept = {k: ds[k] for k in _ALWAYS_KEEP if k in ds}
    for elem in list(ds):
        if elem.VR == "SQ" and elem.keyword not in _ALWAYS_KEEP:
            for item in elem.value:
                _walk(item)
    profile.anonymize_dataset(ds, delete_private_tags=True, base_rules_gen=_actions)
    for elem in kept.values():
        ds[elem.tag] = elem


def deidentify_dicom(data: bytes) -> bytes:
    """The file ``data`` de-identified, as bytes of a DICOM file."""
    ds = pydicom.dcmread(BytesIO(data), force=True)
    deidentify_dataset(ds)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()
