"""An assessment as DICOM, for the archive: the de-identified image as a Secondary Capture
instance, and a Comprehensive 3D SR (TID 1500 measurement report, via highdicom) that references
it. Plain data in, pydicom data sets out; ``services.scan_dicom_export`` feeds it a scan.

In the report, each structure the model found is a planar ROI group: its box as a closed
polyline on the image, the structure as the finding type (coded), the model's confidence.
Image-level: the plane(s) and the grade as coded evaluations, the score as a measurement, each
deduction as a coded measurement of the points it took off (with its region as its own ROI
group when the model gave one).

Codes of our own use the private scheme ``99ABVLMQ`` (a "99" designator is local by PS3.16),
with the rubric's ids as values and its names as meanings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from scoring.boxes import from_norm
from scoring.rubric import Rubric

SCHEME = "99ABVLMQ"
MANUFACTURER = "AbVLM-Q"
ABDOMINAL_US = CodedConcept("45036003", "SCT", "Ultrasonography of abdomen")
SCORE = CodedConcept("score", SCHEME, "Image quality score")
GRADE = CodedConcept("grade", SCHEME, "Image quality grade")
PLANE = CodedConcept("plane", SCHEME, "Standard plane")
CONFIDENCE = CodedConcept("confidence", SCHEME, "Model confidence")
ASSESSMENT = CodedConcept("assessment", SCHEME, "Image quality assessment")
DEDUCTION_REGION = CodedConcept("deduction", SCHEME, "Region of a deduction")
POINTS = CodedConcept("[pnt]", "UCUM", "points")  # rubric points (no UCUM unit names them)
UNITLESS = CodedConcept("1", "UCUM", "no units")


@dataclass(frozen=True)
class Uids:
    """Stable identifiers of one scan's export, so that sending it twice updates, not adds."""

    study: str
    image_series: str
    image: str
    report_series: str
    report: str

    @classmethod
    def for_scan(cls, key: str) -> Uids:
        def uid(part: str) -> str:
            return generate_uid(entropy_srcs=["abvlmq", key, part])

        return cls(*(uid(p) for p in ("study", "image-series", "image", "sr-series", "sr")))


def code(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value, SCHEME, meaning[:64] or value)


def image_dataset(image: Image.Image, uids: Uids, when: dt.datetime) -> Dataset:
    """The de-identified image as Secondary Capture (RGB, 8 bits); no patient attributes.

    Written with pydicom: highdicom's SCImage wants a patient or slide coordinate system,
    and an ultrasound still has neither."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = uids.image
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = uids.image
    ds.StudyInstanceUID = uids.study
    ds.SeriesInstanceUID = uids.image_series
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.StudyDate = ds.ContentDate = when.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = when.strftime("%H%M%S")
    ds.StudyID = ds.AccessionNumber = ""
    ds.PatientName = ds.PatientID = ds.PatientBirthDate = ds.PatientSex = ""
    ds.ReferringPhysicianName = ""
    ds.PatientIdentityRemoved = "YES"
    ds.Modality = "US"
    ds.ConversionType = "WSD"  # workstation: made from the de-identified image
    ds.Manufacturer = MANUFACTURER
    ds.BurnedInAnnotation = "NO"  # intake cropped to the sector and masked text
    ds.Rows, ds.Columns = pixels.shape[:2]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds


def _rectangle(box: list[float], width: int, height: int) -> np.ndarray:
    x0, y0, x1, y1 = from_norm(box, width, height)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float)


def _region(box: list[float], image: Dataset) -> hd.sr.ImageRegion:
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=_rectangle(box, int(image.Columns), int(image.Rows)),
        source_image=hd.sr.SourceImageForRegion.from_source_image(image),
    )


def _tracking(label: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=label[:64])


def _confidence(value: Any) -> list[hd.sr.Measurement]:
    if value is None:
        return []
    return [hd.sr.Measurement(name=CONFIDENCE, value=float(value), unit=UNITLESS)]


def structured_report(
    *,
    image: Dataset,
    result: dict[str, Any],
    rubric: Rubric,
    uids: Uids,
    model_id: str,
    when: dt.datetime,
) -> Dataset:
    """The SR of ``result`` (``Assessment.to_dict()``) about ``image`` (see image_dataset)."""
    groups: list[Any] = []
    for n, s in enumerate(result.get("structures") or [], start=1):
        name = rubric.structures[s["id"]].name if s["id"] in rubric.structures else s["id"]
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(f"structure {n}: {s['id']}"),
                referenced_region=_region(s["box"], image),
                finding_type=code(s["id"], name),
                measurements=_confidence(s.get("confidence")),
            )
        )
    deduction_measurements = []
    for n, d in enumerate(result.get("deductions") or [], start=1):
        item = rubric.items.get(d["item"])
        concept = code(d["item"], item.condition if item else d["item"])
        points = hd.sr.Measurement(name=concept, value=float(d["points"]), unit=POINTS)
        deduction_measurements.append(points)
        if d.get("box"):
            groups.append(
                hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=_tracking(f"deduction {n}: {d['item']}"),
                    referenced_region=_region(d["box"], image),
                    finding_type=DEDUCTION_REGION,
                    measurements=[points, *_confidence(d.get("confidence"))],
                )
            )
    evaluations = [
        hd.sr.QualitativeEvaluation(
            name=PLANE, value=code(p, rubric.planes[p].name if p in rubric.planes else p)
        )
        for p in result.get("planes") or []
    ]
    measurements = list(deduction_measurements)
    if result.get("score") is not None:
        measurements.insert(
            0, hd.sr.Measurement(name=SCORE, value=float(result["score"]), unit=POINTS)
        )
    if result.get("grade"):
        grade = str(result["grade"])
        evaluations.append(hd.sr.QualitativeEvaluation(name=GRADE, value=code(grade, grade)))
    groups.append(
        hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=_tracking("image quality assessment"),
            finding_type=ASSESSMENT,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(image)],
            measurements=measurements,
            qualitative_evaluations=evaluations,
        )
    )
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["abvlmq-device", model_id]),
            name=MANUFACTURER,
            model_name=model_id[:64] or "unknown",
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=ABDOMINAL_US,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[image],
        content=report,
        series_instance_uid=uids.report_series,
        series_number=2,
        sop_instance_uid=uids.report,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=bool(result.get("complete", True)),
    )
    sr.ContentDate = when.strftime("%Y%m%d")
    sr.ContentTime = when.strftime("%H%M%S")
    sr.PatientIdentityRemoved = "YES"
    return sr
