"""The cohort rules, endpoint by endpoint: Rita's instructor and the program admin see her
work; her peer, another cohort's instructor and anonymous visitors see nothing of it, and an
outsider gets 404, never a 403 that would confirm the scan exists."""

from __future__ import annotations

import pytest

from tests.web import images
from tests.web.conftest import api, token_for, ws_session

ACTORS = [
    "resident",
    "instructor",
    "program_admin",
    "other_resident",
    "other_instructor",
    "anonymous",
]
SEES_HER_SCAN = {"resident", "instructor", "program_admin"}
SEES_HER_ASSIGNMENT = {
    "resident",
    "instructor",
    "program_admin",
    "other_resident",
}  # peers share it


def status_for(actor: str, allowed: set[str], ok: int = 200) -> int:
    if actor == "anonymous":
        return 401
    return ok if actor in allowed else 404


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("path", ["/api/scans/{id}/", "/api/scans/{id}/image/"])
@pytest.mark.slow
def test_scan_detail_and_image_follow_the_cohort_rules(people, scan, actor, path):
    response = api(people[actor]).get(path.format(id=scan.pk))
    assert response.status_code == status_for(actor, SEES_HER_SCAN)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.slow
def test_the_scan_list_shows_only_scans_one_may_see(people, scan, actor):
    response = api(people[actor]).get("/api/scans/")
    if actor == "anonymous":
        assert response.status_code == 401
        return
    ids = [s["id"] for s in response.json()["results"]]
    assert (scan.pk in ids) == (actor in SEES_HER_SCAN)


@pytest.mark.parametrize("actor", ACTORS)
def test_assignments_are_seen_by_their_cohort_only(people, assignment, actor):
    client = api(people[actor])
    detail = client.get(f"/api/assignments/{assignment.pk}/")
    assert detail.status_code == status_for(actor, SEES_HER_ASSIGNMENT)
    listing = client.get("/api/assignments/")
    if actor == "anonymous":
        assert listing.status_code == 401
        assert set(listing.json()) == {"detail"}  # an error, no assignments
        return
    assert listing.status_code == 200
    ids = [a["id"] for a in listing.json()]
    assert (assignment.pk in ids) == (actor in SEES_HER_ASSIGNMENT)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("instructor", 201),
        ("program_admin", 201),
        ("resident", 403),  # her cohort, but residents set no assignments
        ("other_resident", 403),
        ("other_instructor", 400),  # cohort A does not exist for her
        ("anonymous", 401),
    ],
)
def test_only_the_cohorts_instructors_set_assignments(people, cohort, actor, expected):
    body = {"cohort": cohort.pk, "title": "Kidneys", "target_planes": ["RKL"], "min_grade": "Good"}
    response = api(people[actor]).post("/api/assignments/", body, format="json")
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("resident", 201),
        ("instructor", 201),
        ("program_admin", 201),
        ("other_resident", 201),  # her own cohort's assignment
        ("other_instructor", 400),  # not her cohort's: "No such assignment."
        ("anonymous", 401),
    ],
)
@pytest.mark.slow
def test_uploading_for_an_assignment_needs_its_cohort(people, assignment, actor, expected):
    response = api(people[actor]).post(
        "/api/scans/",
        {"file": images.file("scan.png", images.phantom()), "assignment": assignment.pk},
        format="multipart",
    )
    assert response.status_code == expected, response.content


@pytest.mark.parametrize("actor", ACTORS)
def test_the_current_user_is_oneself(people, actor):
    response = api(people[actor]).get("/api/me/")
    if actor == "anonymous":
        assert response.status_code == 401
    else:
        assert response.json()["username"] == people[actor].username
        assert response.json()["role"] == people[actor].role


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.slow
def test_the_scan_page_follows_the_cohort_rules(client, people, scan, actor):
    if people[actor] is not None:
        client.force_login(people[actor])
    response = client.get(f"/scans/{scan.pk}/")
    if actor == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == (200 if actor in SEES_HER_SCAN else 404)


@pytest.mark.parametrize("actor", ["instructor", "other_instructor", "program_admin"])
@pytest.mark.slow
def test_the_cohort_page_lists_only_ones_own_residents_scans(client, people, scan, actor):
    client.force_login(people[actor])
    page = client.get("/cohort/").content.decode()
    assert (f'data-scan="{scan.pk}"' in page) == (actor in SEES_HER_SCAN)


def test_residents_have_no_cohort_page(client, people):
    client.force_login(people["resident"])
    assert client.get("/cohort/").status_code == 404


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.slow
def test_the_websocket_follows_the_cohort_rules(people, scan, actor):
    connected, code, messages = ws_session(f"/ws/scans/{scan.pk}/", user=people[actor], read=1)
    if actor == "anonymous":
        assert (connected, code) == (False, 4401)
    elif actor in SEES_HER_SCAN:
        assert connected and messages[0]["type"] == "structure"
    else:
        assert (connected, code) == (False, 4404)


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
def test_the_websocket_takes_an_api_token(people, scan):
    connected, _, messages = ws_session(
        f"/ws/scans/{scan.pk}/", token=token_for(people["instructor"]), read=1
    )
    assert connected and messages[0]["seq"] == 1
    connected, code, _ = ws_session(
        f"/ws/scans/{scan.pk}/", token=token_for(people["other_instructor"])
    )
    assert (connected, code) == (False, 4404)


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
@pytest.mark.slow
def test_a_scan_that_does_not_exist_looks_like_someone_elses(people, scan):
    client = api(people["resident"])
    assert client.get(f"/api/scans/{scan.pk + 999}/").status_code == 404
    connected, code, _ = ws_session(f"/ws/scans/{scan.pk + 999}/", user=people["resident"])
    assert (connected, code) == (False, 4404)


def test_the_schema_and_its_page_are_public_and_name_every_endpoint(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in (
        "/api/auth/token/",
        "/api/scans/",
        "/api/scans/{scan_id}/",
        "/api/me/",
        "/api/assignments/",
    ):
        assert path in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
