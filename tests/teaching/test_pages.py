"""Every teaching page renders for those who may see it, with data on it; the nav shows each
role its pages; admins edit requirement sets and register models through the pages."""

from __future__ import annotations

import re

import pytest

from abvlmq_web.administration.models import ModelVersion
from abvlmq_web.competency.models import RequirementSet
from abvlmq_web.review.services import dispute_open
from tests.teaching.conftest import correct, days, make_analysis


@pytest.fixture
def world(resident, other_resident, instructor, program_admin, cohort, other_cohort, assignment):
    a = make_analysis(resident, score=6, at=days(1), needs_review=True)
    correct(a, instructor, items=["ATT.mild", "GB.wall_unclear"])
    b = make_analysis(resident, score=9, at=days(2))
    dispute_open(resident=resident, analysis=b, reason="why not 10")
    make_analysis(other_resident, planes=("SPL",), structures=[], score=4, at=days(1))
    return a, b


PAGES = {
    "program_admin": [
        "/review/", "/review/agreement/", "/progress/cohorts/", "/progress/cohorts/{cohort}/",
        "/progress/residents/{rita}/", "/competency/", "/competency/cohorts/{cohort}/",
        "/competency/residents/{rita}/", "/competency/requirements/",
        "/competency/requirements/new/", "/competency/audit/", "/administration/rubrics/",
        "/administration/models/", "/remediation/ATT.mild/?scan={scan_a}", "/scans/{scan_a}/",
        "/scans/{scan_b}/",
    ],
    "instructor": [
        "/review/", "/review/agreement/", "/progress/cohorts/", "/progress/cohorts/{cohort}/",
        "/progress/residents/{rita}/", "/competency/", "/competency/cohorts/{cohort}/",
        "/competency/residents/{rita}/", "/scans/{scan_a}/", "/scans/{scan_b}/",
        "/remediation/GB.wall_unclear/?scan={scan_a}",
    ],
    "resident": [
        "/progress/", "/competency/residents/{rita}/", "/scans/{scan_a}/", "/scans/{scan_b}/",
        "/remediation/GB.right_lobe.missing/", "/remediation/ATT.mild/?scan={scan_b}",
    ],
}  # fmt: skip
ADMIN_ONLY = [
    "/competency/requirements/", "/competency/audit/", "/administration/rubrics/",
    "/administration/models/",
]  # fmt: skip


# What each page must show of the world above (its text, tags stripped): data, not a template.
SHOWS = {
    "/review/": "#{scan_b} Rita",  # the disputed scan waits in the queue
    "/review/agreement/": "All 1 0% 100% 100% 1.00",  # one correction, items changed
    "/progress/cohorts/": "Cohort A",
    # the planes with scans lead: Rita's GB (2 scans), then Rhys's SPL (1)
    "/progress/cohorts/{cohort}/": "Resident GB SPL",
    "/progress/residents/{rita}/": "GB Gallbladder longitudinal 2 9 8 Excellent 8.0",
    "/progress/": "GB Gallbladder longitudinal 2 9 8 Excellent 8.0",
    "/competency/": "Cohort A",
    "/competency/cohorts/{cohort}/": "Rhys PDF packet No requirement set applies. Rita",
    "/competency/residents/{rita}/": "Competency: Rita",
    "/competency/requirements/": "None yet.",
    "/competency/requirements/new/": "Cohorts: Cohort A",
    "/competency/audit/": "Audit log",
    "/administration/rubrics/": "Active: shipped rubric (r-",
    "/administration/models/": "None registered:",
    "/remediation/ATT.mild/?scan={scan_a}": "ATT.mild · −2 points · GB",
    "/remediation/ATT.mild/?scan={scan_b}": "back to scan #{scan_b}",
    "/remediation/GB.wall_unclear/?scan={scan_a}": "back to scan #{scan_a}",
    "/remediation/GB.right_lobe.missing/": "GB.right_lobe.missing · −3 points",
    "/scans/{scan_a}/": "Score: 6 Good → 7 Good",  # Ian's correction of it
    "/scans/{scan_b}/": "Scan #{scan_b} Rita",
}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


@pytest.mark.parametrize("actor", list(PAGES))
def test_each_roles_pages_render(client, world, people, cohort, actor):
    a, b = world
    ids = {"cohort": cohort.pk, "rita": people["resident"].pk, "scan_a": a.scan_id}
    ids["scan_b"] = b.scan_id
    client.force_login(people[actor])
    for url in PAGES[actor]:
        response = client.get(url.format(**ids))  # no redirect followed: the page itself
        assert response.status_code == 200, url
        assert SHOWS[url].format(**ids) in _text(response.content.decode()), url
    if actor != "program_admin":
        for url in ADMIN_ONLY:
            assert client.get(url).status_code == 404, url


def test_the_scan_page_shows_the_panel_each_role_needs(client, world, people):
    a, b = world
    client.force_login(people["instructor"])
    page = client.get(f"/scans/{b.scan_id}/").content.decode()
    assert 'id="review-start"' in page and "why not 10" in page
    client.force_login(people["resident"])
    page = client.get(f"/scans/{a.scan_id}/").content.decode()
    assert 'id="ai-said"' in page and "data-review=" in page and 'id="review-start"' not in page
    assert 'href="/remediation/GB.wall_unclear/?scan=' in page
    assert 'id="dispute-open"' in client.get(f"/scans/{b.scan_id}/").content.decode()


def test_the_nav_offers_each_role_its_pages(client, world, people):
    client.force_login(people["resident"])
    page = client.get("/progress/").content.decode()
    assert 'id="nav-progress"' in page and 'id="nav-review"' not in page
    client.force_login(people["program_admin"])
    page = client.get("/review/").content.decode()
    assert 'id="nav-review"' in page and 'id="nav-rubrics"' in page


def test_admins_edit_requirement_sets_through_the_page(client, world, program_admin, cohort):
    client.force_login(program_admin)
    client.post("/competency/requirements/")  # the ACEP-style template
    acep = RequirementSet.objects.get()
    form = {"name": acep.name, "description": "ours", "cohorts": [cohort.pk]}
    form |= {"GB-min_count": "3", "GB-min_grade": "Excellent", "GB-verified_count": "1"}
    response = client.post(f"/competency/requirements/{acep.pk}/", form)
    assert response.status_code == 302
    assert list(acep.requirements.values_list("plane", "min_count", "min_grade")) == [
        ("GB", 3, "Excellent")
    ]
    assert list(acep.cohorts.all()) == [cohort]
    form["GB-verified_count"] = "9"
    page = client.post(f"/competency/requirements/{acep.pk}/", form).content.decode()
    assert "M &lt;= N" in page


def test_admins_register_and_activate_a_model_through_the_page(client, program_admin, tmp_path):
    client.force_login(program_admin)
    report = tmp_path / "report.json"
    report.write_text('{"plane": {"accuracy": 0.99}}')
    with report.open("rb") as fh:
        client.post(
            "/administration/models/",
            {"name": "v2", "base_path": str(tmp_path), "adapter_path": "", "report": fh},
        )
    model = ModelVersion.objects.get()
    assert model.evaluation_report == {"plane": {"accuracy": 0.99}}
    client.post(f"/administration/models/{model.pk}/activate/", {"confirm": "yes"})
    page = client.get("/administration/models/").content.decode()
    assert str(tmp_path) in page and "<strong>active</strong>" in page
