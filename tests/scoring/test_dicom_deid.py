"""DICOM de-identification to PS3.15 Annex E's basic profile, nested sequences included."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from scoring.imaging.deid import deidentify_dicom, profile_tags
from tests import dicom_samples

PROFILE = profile_tags()


def _walk(ds: Dataset, path: str = ""):
    for elem in ds:
        yield path, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from _walk(item, f"{path}{elem.keyword}[{i}].")


def _values(ds: Dataset) -> dict:
    return {(p, e.tag): e.value for p, e in _walk(ds)}


def _assert_profile_applied(before: Dataset, after: Dataset) -> int:
    old, new = _values(before), _values(after)
    checked = 0
    for (path, tag), value in old.items():
        if (tag.group, tag.element) not in PROFILE or value in ("", None, b""):
            continue
        checked += 1
        kept = new.get((path, tag))
        assert kept != value, f"{path}{pydicom.datadict.keyword_for_tag(tag)} kept {value!r}"
    return checked


def test_the_profile_table_is_the_standards_size():
    assert len(PROFILE) > 600  # Annex E lists several hundred attributes
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "InstitutionName"):
        assert tuple(divmod(pydicom.datadict.tag_for_keyword(keyword), 0x10000)) in PROFILE


@pytest.mark.parametrize("name", dicom_samples.REAL_FILES)
def test_every_profile_attribute_a_real_file_carries_is_removed_or_replaced(name):
    data = dicom_samples.read(name)
    before = pydicom.dcmread(BytesIO(data))
    after = pydicom.dcmread(BytesIO(deidentify_dicom(data)))
    assert _assert_profile_applied(before, after) >= 15
    assert after.PatientIdentityRemoved == "YES"
    assert "Annex E" in after.DeidentificationMethod
    assert not [e for _, e in _walk(after) if e.tag.is_private]
    assert after.PixelData == before.PixelData  # the image itself is untouched
    if "SequenceOfUltrasoundRegions" in before:  # the scan area the intake needs survives
        assert after.SequenceOfUltrasoundRegions == before.SequenceOfUltrasoundRegions


def _nested() -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    study = generate_uid()
    ds.StudyInstanceUID = study
    ds.PatientName, ds.PatientID, ds.StudyDate = "Doe^Jane", "MRN-0042", "20250301"
    inner = Dataset()
    inner.PatientName = "Doe^Jane"  # a name two levels down
    inner.ReferringPhysicianName = "House^Greg"
    inner.StudyInstanceUID = study  # the same UID: must map to the same new one
    inner.AccessionNumber = "ACC-7"
    inner.add_new(0x00091010, "LO", "private note: Jane Doe")
    item = Dataset()
    item.ReferencedSOPInstanceUID = generate_uid()
    item.RequestAttributesSequence = Sequence([inner])
    ds.ReferencedStudySequence = Sequence([item])
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.arange(64, dtype=np.uint8).tobytes()
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_identifiers_inside_nested_sequences_go_too():
    data = _nested()
    before = pydicom.dcmread(BytesIO(data))
    after = pydicom.dcmread(BytesIO(deidentify_dicom(data)))
    assert _assert_profile_applied(before, after) >= 9
    flat = [str(e.value) for _, e in _walk(after) if e.VR != "SQ"]
    for secret in ("Doe^Jane", "House^Greg", "MRN-0042", "ACC-7", "20250301", "Jane Doe"):
        assert not any(secret in v for v in flat), secret
    new_study = after.StudyInstanceUID
    assert new_study != before.StudyInstanceUID
    for _, e in _walk(after):
        if e.keyword == "StudyInstanceUID":
            assert e.value == new_study  # one study stays one study


def test_a_second_file_gets_new_uids_of_its_own():
    """The library's UID map is cleared after each file: nothing links two uploads."""
    data = _nested()
    first = pydicom.dcmread(BytesIO(deidentify_dicom(data)))
    second = pydicom.dcmread(BytesIO(deidentify_dicom(data)))
    assert first.StudyInstanceUID != second.StudyInstanceUID
