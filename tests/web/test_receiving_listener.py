"""The DICOM listener as a scanner meets it: `manage.py dicom_listener` runs as its own process,
pynetdicom's SCU sends to it over a real association on 127.0.0.1, and what arrives is a scan of
the resident whose scanner name it carries (assessed by a real worker), or an inbox entry.
Last, a file goes through Debian's Orthanc to the listener, as a hospital would route it."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import requests
from pydicom import dcmread
from pydicom.data import get_testdata_file

from abvlmq_web.receiving.models import InboxEntry
from abvlmq_web.receiving.services import scanner_name_add
from abvlmq_web.scans.models import Analysis, Scan
from abvlmq_web.scans.selectors import scans_for
from tests.web import dicoms, scripted
from tests.web.conftest import wait_until
from tests.web.live import Process, free_port, start_listener
from tests.web.scu import echo, send

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),  # the listener reads what each test writes
]  # real processes: the DICOM listener, a Celery worker, Orthanc


@pytest.fixture(scope="module")
def listener(django_db_setup, tmp_path_factory):
    """One listener for the module, on the test database (each test's rows are flushed after
    it; the listener looks the scanner names up at each association)."""
    port = free_port()
    process = start_listener(tmp_path_factory.mktemp("logs"), port)
    process.port = port
    yield process
    process.stop()


def _no_identifiers_kept(scan: Scan) -> None:
    stored = repr((scan.intake, scan.notice, scan.kind, scan.original.name))
    for needle in ("DOE", "JANE", "MRN", "Elsewhere", "SMITH", "RITA"):
        assert needle.lower() not in stored.lower()
    assert not scan.original  # only the de-identified image is kept by default
    assert scan.image.open("rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_c_store_from_the_scanner_becomes_the_matched_residents_assessed_scan(
    listener, worker_factory, resident, cohort
):
    worker_factory()
    scanner_name_add(resident=resident, name="Rita Smith")
    assert echo(port=listener.port) == 0x0000

    [status] = send([dicoms.phantom_dataset(operator="SMITH^RITA")], port=listener.port)

    assert status.Status == 0x0000
    scan = wait_until(lambda: Scan.objects.filter(owner=resident).first())
    analysis = wait_until(
        lambda: Analysis.objects.filter(scan=scan, status="done").first(), timeout=60
    )
    assert (analysis.score, analysis.grade) == (scripted.EXPECTED_SCORE, scripted.EXPECTED_GRADE)
    assert scan.kind == "dicom"
    assert list(scans_for(user=resident)) == [scan]
    assert not InboxEntry.objects.exists()
    _no_identifiers_kept(scan)
    assert "SMITH" not in listener.text() and "DOE" not in listener.text()


def test_a_vendor_file_matched_by_performing_physician_goes_to_that_resident(
    listener, resident, other_resident, cohort
):
    scanner_name_add(resident=other_resident, name="rhys jones")
    scanner_name_add(resident=resident, name="Rita Smith")
    ds = dicoms.vendor_dataset("US1_UNCR.dcm", operator="SONO^ANN", performing="JONES^RHYS")

    [status] = send([ds], port=listener.port)

    assert status.Status == 0x0000
    scan = Scan.objects.get()
    assert scan.owner == other_resident
    assert (scan.kind, scan.intake["modality"]) == ("dicom", "US")
    _no_identifiers_kept(scan)


def test_an_instance_no_registered_name_matches_waits_in_the_inbox(
    listener, resident, instructor, cohort
):
    scanner_name_add(resident=resident, name="Rita Smith")
    sent = [
        dicoms.phantom_dataset(operator="SOMEONE^ELSE"),
        dicoms.vendor_dataset("US1_J2KR.dcm"),  # no names at all; JPEG 2000 compressed
    ]

    statuses = send(sent, port=listener.port)

    assert [s.Status for s in statuses] == [0x0000, 0x0000]
    scans = list(Scan.objects.order_by("pk"))
    assert len(scans) == 2 and all(s.owner is None for s in scans)
    assert {e.scan_id for e in InboxEntry.objects.all()} == {s.pk for s in scans}
    assert all(e.source == "c-store" for e in InboxEntry.objects.all())
    for user in (resident, instructor):
        assert not scans_for(user=user).exists()  # not anyone's scan until claimed
    for scan in scans:
        _no_identifiers_kept(scan)


def test_what_intake_refuses_is_refused_to_the_scanner_with_its_reason(listener, settings):
    report = dcmread(get_testdata_file("test-SR.dcm"))  # a structured report: no image

    [status] = send([report], port=listener.port)

    assert status.Status == 0xC000
    assert "holds no image" in status.ErrorComment
    assert not Scan.objects.exists()


@pytest.fixture
def orthanc(listener, log_dir, tmp_path):
    """Debian's Orthanc (installed by scripts/test.sh) with the listener declared as a
    modality, as a hospital's router would have it."""
    binary = shutil.which("Orthanc")
    assert binary, "scripts/test.sh installs Debian's orthanc package"
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "router",
        "StorageDirectory": str(tmp_path / "orthanc"),
        "IndexDirectory": str(tmp_path / "orthanc"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "ROUTER",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],
        "DicomModalities": {"abvlmq": ["ABVLMQ", "127.0.0.1", listener.port]},
    }
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    process = Process(
        "orthanc", [binary, str(path)], dict(os.environ), "Orthanc has started", log_dir
    )
    yield f"http://127.0.0.1:{http_port}"
    process.stop()


def test_an_instance_routed_through_orthanc_reaches_the_resident(orthanc, resident, cohort):
    scanner_name_add(resident=resident, name="Rita Smith")
    data = dicoms.encode(dicoms.vendor_dataset("US1_UNCR.dcm", operator="SMITH^RITA"))
    stored = requests.post(f"{orthanc}/instances", data=data, timeout=30)
    assert stored.status_code == 200, stored.text

    sent = requests.post(f"{orthanc}/modalities/abvlmq/store", data=stored.json()["ID"], timeout=60)

    assert sent.status_code == 200, sent.text
    scan = wait_until(lambda: Scan.objects.filter(owner=resident).first())
    assert (scan.kind, scan.intake["modality"]) == ("dicom", "US")
    _no_identifiers_kept(scan)
