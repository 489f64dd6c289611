"""DICOMweb STOW-RS as a PACS or gateway uses it: dicomweb-client posts
multipart/related; type="application/dicom" to /dicomweb/studies with a token, on the ASGI
server the application runs on (daphne, which also takes the chunked bodies that
dicomweb-client sends for anything over 1 MB)."""

from __future__ import annotations

import pytest
import requests
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file

from abvlmq_web.receiving.models import InboxEntry
from abvlmq_web.receiving.services import scanner_name_add
from abvlmq_web.scans.models import Scan
from tests.web import dicoms
from tests.web.conftest import token_for
from tests.web.live import free_port, start_server

# real processes: daphne; transactional: the server reads what each test writes
pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Server:
    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    """One daphne for the module, on the test database (each test's rows are flushed after
    it; the server keeps no state of its own between requests)."""
    port = free_port()
    process = start_server(tmp_path_factory.mktemp("logs"), port)
    yield Server(f"http://127.0.0.1:{port}")
    process.stop()


def client_for(web, user) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{web.url}/dicomweb", headers={"Authorization": f"Token {token_for(user)}"}
    )


def test_stow_rs_stores_matched_and_unmatched_instances_and_lists_them(
    web, instructor, resident, cohort
):
    scanner_name_add(resident=resident, name="SMITH^RITA")
    matched = dicoms.phantom_dataset(operator="Smith^Rita")
    unmatched = dicoms.vendor_dataset("US1_UNCR.dcm", operator="NOBODY")

    response = client_for(web, instructor).store_instances([matched, unmatched])

    refs = {item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence}
    assert refs == {matched.SOPInstanceUID, unmatched.SOPInstanceUID}
    assert "FailedSOPSequence" not in response
    assert Scan.objects.get(owner=resident).kind == "dicom"
    entry = InboxEntry.objects.get()
    assert (entry.source, entry.scan.owner) == ("stow-rs", None)


def test_stow_rs_reports_instances_intake_refuses_as_failed(web, instructor):
    report = dcmread(get_testdata_file("test-SR.dcm"))
    good = dicoms.phantom_dataset()

    response = client_for(web, instructor).store_instances([good, report])

    [ok] = response.ReferencedSOPSequence
    [failed] = response.FailedSOPSequence
    assert ok.ReferencedSOPInstanceUID == good.SOPInstanceUID
    assert failed.ReferencedSOPInstanceUID == report.SOPInstanceUID
    assert failed.FailureReason == 0xC000
    assert Scan.objects.count() == 1


def test_stow_rs_answers_409_when_every_instance_fails(web, instructor):
    with pytest.raises(requests.HTTPError) as caught:
        client_for(web, instructor).store_instances([dcmread(get_testdata_file("test-SR.dcm"))])
    assert caught.value.response.status_code == 409


@pytest.mark.parametrize("who", ["anonymous", "resident"])
def test_stow_rs_needs_a_staff_token(web, people, who):
    headers = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'}
    if people[who] is not None:
        headers["Authorization"] = f"Token {token_for(people[who])}"
    body = (
        b"--b\r\nContent-Type: application/dicom\r\n\r\n"
        + dicoms.encode(dicoms.phantom_dataset())
        + b"\r\n--b--\r\n"
    )

    response = requests.post(f"{web.url}/dicomweb/studies", data=body, headers=headers)

    assert response.status_code in (401, 403)
    assert not Scan.objects.exists()


def test_stow_rs_refuses_parts_that_are_not_dicom(web, instructor):
    headers = {
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=b',
        "Authorization": f"Token {token_for(instructor)}",
    }
    body = b"--b\r\nContent-Type: image/png\r\n\r\nxx\r\n--b--\r\n"

    response = requests.post(f"{web.url}/dicomweb/studies", data=body, headers=headers)

    assert response.status_code == 415
