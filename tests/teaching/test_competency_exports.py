"""Exports of competency records: CSV, XLSX, JSON and the resident's PDF packet; each one is
written to the audit log, and nobody outside the cohort can read them."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from abvlmq_web.competency.models import AuditLog
from abvlmq_web.competency.services import requirement_set_save, signoff_create
from tests.teaching.conftest import api, correct, days, make_analysis


@pytest.fixture
def records(resident, other_resident, instructor, program_admin, cohort):
    req_set = requirement_set_save(
        user=program_admin, name="Core", cohorts=[cohort], allow_ai_evidence=True,
        requirements=[{"plane": "GB", "min_count": 2, "min_grade": "Good", "verified_count": 1}],
    )  # fmt: skip
    make_analysis(resident, score=7, at=days(1))
    correct(make_analysis(resident, score=9, at=days(2)), instructor)
    make_analysis(resident, score=4, at=days(3))
    make_analysis(other_resident, score=8, at=days(1))
    signoff_create(user=instructor, resident=resident, requirement=req_set.requirements.get())
    return req_set


def test_the_cohort_exports_as_csv(client, records, instructor, cohort):
    client.force_login(instructor)
    response = client.get(f"/competency/cohorts/{cohort.pk}/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = {r["resident"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}
    rita, rhys = rows["rita"], rows["rhys"]
    assert (rita["qualifying_scans"], rita["verified_scans"], rita["scans_of_plane"]) == (
        "2",
        "1",
        "3",
    )
    assert (rita["status"], rita["signed_off_by"]) == ("signed off", "Ian")
    assert (rhys["qualifying_scans"], rhys["status"]) == ("1", "in progress")
    assert (
        AuditLog.objects.filter(action="export.csv", cohort=cohort, actor=instructor).count() == 1
    )


def test_the_cohort_exports_as_xlsx(client, records, program_admin, cohort):
    client.force_login(program_admin)
    response = client.get(f"/competency/cohorts/{cohort.pk}/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [c.value for c in sheet[1]]
    rows = [
        dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(min_row=2)
    ]
    assert {(r["resident"], r["qualifying_scans"], r["status"]) for r in rows} == {
        ("rita", 2, "signed off"),
        ("rhys", 1, "in progress"),
    }
    assert AuditLog.objects.filter(action="export.xlsx", cohort=cohort).exists()


def test_the_cohort_exports_as_json_through_the_api(records, instructor, cohort):
    data = api(instructor).get(f"/api/competency/cohorts/{cohort.pk}/").json()
    rita = next(r for r in data["residents"] if r["username"] == "rita")
    gb = rita["requirements"][0]
    assert (gb["qualifying_scans"], gb["verified_scans"], gb["status"]) == (2, 1, "signed off")
    assert {s["model_id"] for s in gb["scans"]} == {"tiny@abc123"}
    assert AuditLog.objects.filter(action="export.json", cohort=cohort).exists()


def test_the_pdf_packet_has_counts_dates_signoffs_versions_and_thumbnails(
    client, records, resident, program_admin
):
    client.force_login(program_admin)
    response = client.get(f"/competency/residents/{resident.pk}/packet.pdf")
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "Competency packet: Rita" in flat
    assert "Qualifying scans: 2 of 2 at Good or better; verified: 1 of 1" in flat
    assert "signed off by Ian" in flat and "2030-01-02" in flat
    assert "tiny@abc123" in flat and "r-" in flat  # model and rubric behind each score
    assert sum(len(page.images) for page in reader.pages) >= 1  # the best scan's thumbnail
    log = AuditLog.objects.get(action="export.pdf")
    assert (log.actor, log.subject) == (program_admin, resident)


COHORT_URLS = [  # (url, whether reading it is an audited export)
    ("/competency/cohorts/{cohort}/", False),
    ("/competency/cohorts/{cohort}/export.csv", True),
    ("/competency/cohorts/{cohort}/export.xlsx", True),
    ("/api/competency/cohorts/{cohort}/", True),
    ("/progress/cohorts/{cohort}/", False),
    ("/review/?cohort={cohort}", False),
    ("/review/agreement/?cohort={cohort}", False),
    ("/api/review/corrections.jsonl?cohort={cohort}", True),
]
RESIDENT_URLS = [
    "/competency/residents/{rita}/",
    "/competency/residents/{rita}/packet.pdf",
    "/api/competency/residents/{rita}/",
    "/progress/residents/{rita}/",
    "/api/progress/residents/{rita}/",
]


@pytest.mark.parametrize(("url", "is_export"), COHORT_URLS)
@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("instructor", 200), ("program_admin", 200), ("resident", 404),
        ("other_resident", 404), ("other_instructor", 404),
    ],
)  # fmt: skip
def test_cohort_records_and_dashboards_are_the_cohort_staffs_only(
    client, records, people, cohort, url, is_export, actor, expected
):
    client.force_login(people[actor])
    assert client.get(url.format(cohort=cohort.pk)).status_code == expected
    exported = AuditLog.objects.filter(action__startswith="export", actor=people[actor])
    assert exported.exists() == (is_export and expected == 200)


@pytest.mark.parametrize("url", RESIDENT_URLS)
@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("resident", 200), ("instructor", 200), ("program_admin", 200),
        ("other_resident", 404), ("other_instructor", 404),
    ],
)  # fmt: skip
def test_a_residents_record_is_hers_and_her_instructors_only(
    client, records, people, resident, url, actor, expected
):
    client.force_login(people[actor])
    assert client.get(url.format(rita=resident.pk)).status_code == expected


def test_anonymous_visitors_are_sent_to_log_in(client, records, cohort, resident):
    assert client.get(f"/competency/cohorts/{cohort.pk}/export.csv").status_code == 302
    assert client.get(f"/competency/residents/{resident.pk}/packet.pdf").status_code == 302
    assert api().get(f"/api/competency/cohorts/{cohort.pk}/").status_code == 401
