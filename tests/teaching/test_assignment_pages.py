"""Instructors set assignments in the app (cohort or one resident, due date, planes, grade);
the heatmap links each level to its scans and has a legend; scan lists filter and page; empty
tables say so."""

from __future__ import annotations

import re

from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.curriculum.selectors import assignments_for
from tests.teaching.conftest import correct, days, key_boxes, make_analysis

FORM = {
    "title": "Pancreas week",
    "target_planes": ["PAN"],
    "min_grade": "Good",
    "scan_count": "3",
    "due_date": "2030-02-01",
    "instructions": "Fast overnight.",
}


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-scan="(\d+)">', page)


def test_an_instructor_creates_an_assignment_for_the_cohort(
    client, instructor, resident, other_resident, cohort
):
    client.force_login(instructor)
    response = client.post("/assignments/new/", {**FORM, "cohort": cohort.pk}, follow=True)
    assert response.status_code == 200
    a = Assignment.objects.get(title="Pancreas week")
    assert (a.cohort, a.resident, a.target_planes, a.min_grade, a.scan_count) == (
        cohort, None, ["PAN"], "Good", 3
    )  # fmt: skip
    assert str(a.due_date) == "2030-02-01" and a.created_by == instructor
    assert "Created “Pancreas week”" in response.content.decode()
    assert f'data-assignment="{a.pk}"' in response.content.decode()
    for r in (resident, other_resident):
        assert a in assignments_for(user=r)


def test_an_assignment_for_one_resident_is_hers_alone(
    client, instructor, resident, other_resident, cohort
):
    client.force_login(instructor)
    client.post("/assignments/new/", {**FORM, "cohort": cohort.pk, "resident": resident.pk})
    a = Assignment.objects.get()
    assert a.resident == resident
    assert a in assignments_for(user=resident) and a not in assignments_for(user=other_resident)
    client.force_login(other_resident)
    assert "Pancreas week" not in client.get("/").content.decode()
    client.force_login(resident)
    assert "Pancreas week" in client.get("/").content.decode()


def test_an_instructor_edits_the_due_date_and_the_grade(client, instructor, cohort, assignment):
    client.force_login(instructor)
    page = client.get(f"/assignments/{assignment.pk}/edit/").content.decode()
    assert 'value="Gallbladder week"' in page and 'value="2030-01-31"' in page
    data = {**FORM, "title": "Gallbladder week", "target_planes": ["GB", "CBD"]}
    data.update(cohort=cohort.pk, min_grade="Excellent", due_date="2030-03-15")
    client.post(f"/assignments/{assignment.pk}/edit/", data)
    assignment.refresh_from_db()
    assert (assignment.min_grade, str(assignment.due_date)) == ("Excellent", "2030-03-15")
    assert assignment.target_planes == ["GB", "CBD"]


def test_the_form_says_what_is_missing(client, instructor, cohort):
    client.force_login(instructor)
    data = {**FORM, "cohort": cohort.pk, "target_planes": [], "title": ""}
    page = client.post("/assignments/new/", data).content.decode()
    assert page.count("This field is required.") == 2
    assert not Assignment.objects.exists()


def test_a_resident_of_another_cohort_cannot_be_given_one(
    client, instructor, cohort, other_cohort, other_instructor
):
    from abvlmq_web.accounts.services import user_create

    stranger = user_create(username="sam", password="x" * 12, role="resident")
    other_cohort.residents.add(stranger)
    client.force_login(other_instructor)
    page = client.post(
        "/assignments/new/", {**FORM, "cohort": other_cohort.pk, "resident": stranger.pk}
    )
    assert page.status_code == 302  # his own resident: fine
    client.force_login(instructor)
    page = client.post(
        "/assignments/new/", {**FORM, "cohort": cohort.pk, "resident": stranger.pk}
    ).content.decode()
    assert "Select a valid choice" in page  # not offered: not one of his residents
    assert Assignment.objects.count() == 1


def test_residents_and_other_instructors_get_nothing(
    client, resident, other_instructor, assignment, cohort
):
    client.force_login(resident)
    assert client.get("/assignments/").status_code == 404
    assert client.get("/assignments/new/").status_code == 404
    client.force_login(other_instructor)
    assert client.get(f"/assignments/{assignment.pk}/edit/").status_code == 404
    page = client.post("/assignments/new/", {**FORM, "cohort": cohort.pk}).content.decode()
    assert "Select a valid choice" in page and not Assignment.objects.exclude(pk=assignment.pk)


def test_the_heatmap_links_each_level_to_its_scans_and_has_a_legend(
    client, instructor, resident, cohort
):
    make_analysis(resident, score=6, at=days(1))
    client.force_login(instructor)
    page = client.get(f"/progress/cohorts/{cohort.pk}/").content.decode()
    link = f'href="/cohort/?resident={resident.pk}&amp;plane=GB"'
    assert link in page
    legend = page[page.index('id="heatmap-legend"') :]
    for band in ("Poor (0 to under 4)", "Moderate (4 to under 6)", "Good (6 to under 8)",
                 "Excellent (8 to 10)", "no scans yet"):  # fmt: skip
        assert band in legend


def test_scan_lists_filter_by_the_reviewed_plane_and_grade(
    client, instructor, resident, other_resident, cohort, assignment
):
    gb = make_analysis(resident, score=6, at=days(1), assignment=assignment)
    relabelled = make_analysis(resident, score=9, at=days(2))
    spl_boxes = key_boxes(["SPL"], [])
    correct(relabelled, instructor, planes=["SPL"], structures=spl_boxes, items=["ATT.moderate"])
    spl = make_analysis(other_resident, planes=("SPL",), structures=[], score=3, at=days(3))
    client.force_login(instructor)
    get = lambda q: _rows(client.get(f"/cohort/?{q}").content.decode())  # noqa: E731
    assert get("plane=SPL") == [str(spl.scan_id), str(relabelled.scan_id)]
    assert get(f"plane=SPL&resident={resident.pk}") == [str(relabelled.scan_id)]
    assert get("grade=Good") == [str(relabelled.scan_id), str(gb.scan_id)]  # 6 after review
    assert get(f"assignment={assignment.pk}") == [str(gb.scan_id)]
    assert get("since=2030-01-03&until=2030-01-03") == [str(relabelled.scan_id)]
    assert "No scans match these filters" in client.get("/cohort/?grade=Excellent").content.decode()
    client.force_login(resident)
    assert _rows(client.get("/scans/?plane=GB").content.decode()) == [str(gb.scan_id)]


def test_scan_lists_are_paged(client, resident, cohort):
    for n in range(27):
        make_analysis(resident, score=8, at=days(n))
    client.force_login(resident)
    first = client.get("/scans/").content.decode()
    second = client.get("/scans/?page=2").content.decode()
    assert len(_rows(first)) == 25 and len(_rows(second)) == 2
    assert "Page 1 of 2" in first and 'id="pager-next"' in first
    assert not set(_rows(first)) & set(_rows(second))
    assert "plane=GB&amp;page=2" in client.get("/scans/?plane=GB").content.decode()


def test_empty_tables_say_so(client, instructor, program_admin, other_cohort):
    client.force_login(program_admin)
    page = client.get(f"/progress/cohorts/{other_cohort.pk}/").content.decode()
    assert "No residents in this cohort yet." in page and "Nobody is falling behind." in page
    assert client.get("/review/agreement/").content.decode().count("No reviews yet.") == 4
    assert "No scans from your residents yet." in client.get("/cohort/").content.decode()
    client.force_login(instructor)
    assert "No assignments yet." in client.get("/assignments/").content.decode()
