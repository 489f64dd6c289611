"""DICOM instances to send: phantoms wrapped as ultrasound DICOM, and real vendor files from
pydicom's test data (``pydicom-data``), each with the header fields a scanner fills in."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from trainer.phantoms import generate

PATIENT = "DOE^JANE"
PATIENT_ID = "MRN0012345"


def _identify(ds: Dataset, operator: str | None, performing: str | None) -> Dataset:
    ds.PatientName = PATIENT
    ds.PatientID = PATIENT_ID
    ds.InstitutionName = "St Elsewhere"
    if operator is not None:
        ds.OperatorsName = operator
    if performing is not None:
        ds.PerformingPhysicianName = performing
    return ds


def phantom_dataset(
    *, operator: str | None = None, performing: str | None = None, index: int = 6, seed: int = 0
) -> Dataset:
    """A phantom as an Ultrasound Image Storage instance (RGB, uncompressed)."""
    img, _ = generate(index=index, seed=seed)
    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return _identify(ds, operator, performing)


def vendor_dataset(
    name: str = "US1_UNCR.dcm", *, operator: str | None = None, performing: str | None = None
) -> Dataset:
    """A real ultrasound file from pydicom-data, with the given names written in."""
    from pydicom import dcmread

    return _identify(dcmread(get_testdata_file(name)), operator, performing)


def encode(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
