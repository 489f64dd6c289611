"""An assessment goes back to the archive as a DICOM SR: downloaded from the API and read back
with highdicom, it holds each structure as a region on the de-identified image it references,
the plane and grade as coded evaluations, the score and each deduction's points."""

from __future__ import annotations

from io import BytesIO

import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image

from scoring.boxes import from_norm
from tests.web import dicoms, scripted
from tests.web.conftest import api, upload


def _get(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/dicom"
    return b"".join(response) if hasattr(response, "streaming_content") else response.content


@pytest.mark.slow
def test_the_sr_round_trips_through_highdicom_and_references_the_deidentified_image(scan, resident):
    client = api(resident)
    sr = hd.sr.srread(BytesIO(_get(client, f"/api/scans/{scan.pk}/report.dcm")))
    image = pydicom.dcmread(BytesIO(_get(client, f"/api/scans/{scan.pk}/image.dcm")))

    assert isinstance(sr, hd.sr.Comprehensive3DSR)
    assert sr.StudyInstanceUID == image.StudyInstanceUID
    assert sr.PatientIdentityRemoved == "YES" and str(image.PatientName) == ""
    # The referenced image is the stored de-identified PNG, pixel for pixel.
    stored = np.asarray(Image.open(scan.image.open("rb")).convert("RGB"))
    assert (image.pixel_array == stored).all()

    rois = sr.content.get_planar_roi_measurement_groups()
    structures = [g for g in rois if g.finding_type.scheme_designator == "99ABVLMQ"
                  and g.finding_type.value != "deduction"]  # fmt: skip
    expected = scripted.ANSWER.structures
    assert [g.finding_type.value for g in structures] == [s.id for s in expected]
    assert structures[0].finding_type.meaning == "Gallbladder"
    for group, structure in zip(structures, expected, strict=True):
        region = group.roi
        assert region.graphic_type == hd.sr.GraphicTypeValues.POLYLINE
        x0, y0, x1, y1 = from_norm(structure.box, scan.width, scan.height)
        points = region.value
        # graphic data are 32-bit floats (FL)
        assert np.allclose(points.min(axis=0), [x0, y0], atol=1e-3)
        assert np.allclose(points.max(axis=0), [x1, y1], atol=1e-3)
        [ref] = region.ContentSequence[0].ReferencedSOPSequence  # the image it is drawn on
        assert ref.ReferencedSOPInstanceUID == image.SOPInstanceUID
    deduction_regions = [g for g in rois if g.finding_type.value == "deduction"]
    assert len(deduction_regions) == 2  # both scripted deductions carry a box

    [assessment] = sr.content.get_image_measurement_groups()
    [source] = assessment.source_images
    assert source.referenced_sop_instance_uid == image.SOPInstanceUID
    evaluations = {e.name.value: e.value for e in assessment.get_qualitative_evaluations()}
    assert evaluations["plane"].value == "GB"
    assert evaluations["grade"].value == scripted.EXPECTED_GRADE
    measurements = {m.name.value: m.value for m in assessment.get_measurements()}
    assert measurements["score"] == scripted.EXPECTED_SCORE
    assert measurements["GB.gallbladder.incomplete"] == 2
    assert measurements["ATT.mild"] == 2


@pytest.mark.slow
def test_a_received_dicom_exports_without_anything_of_the_patient(resident):
    from abvlmq_web.scans.analysis import analysis_run

    scan = upload(resident, dicoms.encode(dicoms.phantom_dataset(operator="SMITH^RITA")))
    analysis_run(analysis_id=scan.analysis.pk)
    data = _get(api(resident), f"/api/scans/{scan.pk}/report.dcm")
    data += _get(api(resident), f"/api/scans/{scan.pk}/image.dcm")
    for needle in (dicoms.PATIENT, dicoms.PATIENT_ID, "SMITH", "Elsewhere"):
        assert needle.encode() not in data


@pytest.mark.slow
def test_no_sr_before_the_assessment_finishes_and_none_for_outsiders(people, resident):
    scan = upload(resident, dicoms.encode(dicoms.phantom_dataset()))
    assert api(resident).get(f"/api/scans/{scan.pk}/report.dcm").status_code == 409
    for who in ("other_resident", "other_instructor"):
        assert api(people[who]).get(f"/api/scans/{scan.pk}/report.dcm").status_code == 404


def test_the_scan_page_links_the_sr_once_assessed(scan, client, resident):
    client.force_login(resident)
    page = client.get(f"/scans/{scan.pk}/").content.decode()
    assert f'href="/api/scans/{scan.pk}/report.dcm"' in page
