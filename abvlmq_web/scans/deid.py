"""Identifying DICOM tags out of a kept original (only used with ABVLMQ_KEEP_ORIGINALS).

The stored scan image never has tags at all (it is a PNG made from pixels); this is for sites
that also keep the upload. Patient (group 0010) and institution/operator tags and every private
tag go; burned-in pixel text stays in an original, which is why keeping is off by default.
"""

from __future__ import annotations

from io import BytesIO

import pydicom

_IDENTIFYING = (
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "StationName",
    "DeviceSerialNumber",
    "StudyID",
    "OtherPatientIDs",
    "RequestingPhysician",
)


def strip_dicom_identifiers(data: bytes) -> bytes:
    ds = pydicom.dcmread(BytesIO(data), force=True)
    ds.remove_private_tags()
    for elem in list(ds):
        if elem.tag.group == 0x0010:
            del ds[elem.tag]
    for keyword in _IDENTIFYING:
        if keyword in ds:
            delattr(ds, keyword)
    ds.PatientIdentityRemoved = "YES"
    out = BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()
