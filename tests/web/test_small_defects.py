"""The smaller defects found by the attack run: bad filters, an open redirect, websocket close
codes a browser can see, token clients with no Origin, and "self-assess first" in the API."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from abvlmq_web.progress.services import preference_set, self_assessment_submit
from tests.web import scripted
from tests.web.conftest import ORIGIN, api, session_cookie, token_for


@pytest.mark.parametrize("name", ["owner", "assignment"])
def test_a_filter_that_is_not_a_number_is_a_clear_400(resident, name):
    response = api(resident).get(f"/api/scans/?{name}=abc")
    assert response.status_code == 400
    assert name in response.json()


@pytest.mark.slow
def test_the_list_still_filters_by_owner_and_assignment(people, scan):
    client = api(people["instructor"])
    assert [s["id"] for s in client.get(f"/api/scans/?owner={scan.owner_id}").json()["results"]]
    assert not client.get(f"/api/scans/?owner={people['other_resident'].pk}").json()["results"]
    rows = client.get(f"/api/scans/?assignment={scan.assignment_id}").json()["results"]
    assert [s["id"] for s in rows] == [scan.pk]


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "http://testserver.evil.example/"]
)
def test_a_refused_practice_request_never_redirects_off_site(resident, target):
    client = Client()
    client.force_login(resident)
    response = client.post("/progress/practice/", {"plane": "NOPE", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/progress/"


def test_a_refused_practice_request_may_go_back_to_a_page_of_ours(resident):
    client = Client()
    client.force_login(resident)
    response = client.post("/progress/practice/", {"plane": "NOPE", "next": "/progress/"})
    assert response["Location"] == "/progress/"


def _open(path: str, headers: list) -> tuple[bool, dict | None]:
    """Connect; return (accepted, the first thing the server sent after the accept)."""
    from abvlmq_web.asgi import application

    async def run():
        communicator = WebsocketCommunicator(application, path, headers=headers)
        accepted, _ = await communicator.connect(timeout=5)
        output = await communicator.receive_output(timeout=5) if accepted else None
        await communicator.disconnect()
        return accepted, output

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
def test_a_refused_websocket_is_accepted_then_closed_so_the_browser_sees_the_code(people, scan):
    accepted, output = _open(f"/ws/scans/{scan.pk}/", [ORIGIN])
    assert accepted and output == {"type": "websocket.close", "code": 4401}
    cookie = (b"cookie", session_cookie(people["other_resident"]))
    accepted, output = _open(f"/ws/scans/{scan.pk}/", [ORIGIN, cookie])
    assert accepted and output == {"type": "websocket.close", "code": 4404}


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_token_client_with_no_origin_header_is_let_in(people, scan):
    token = token_for(people["resident"])
    accepted, output = _open(f"/ws/scans/{scan.pk}/?token={token}", [])
    assert accepted and output["type"] == "websocket.send"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_cookie_with_no_origin_header_is_still_refused(people, scan):
    """No Origin and no token: a cookie alone must not open it (cross-site hijacking)."""
    cookie = (b"cookie", session_cookie(people["resident"]))
    accepted, _ = _open(f"/ws/scans/{scan.pk}/", [cookie])
    assert not accepted


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_foreign_origin_is_refused_even_with_a_token(people, scan):
    token = token_for(people["resident"])
    accepted, _ = _open(
        f"/ws/scans/{scan.pk}/?token={token}", [(b"origin", b"https://evil.example")]
    )
    assert not accepted


@pytest.mark.slow
def test_self_assess_first_hides_the_score_in_the_api_until_she_has(resident, scan):
    preference_set(user=resident, self_assess_first=True)
    client = api(resident)
    hidden = client.get(f"/api/scans/{scan.pk}/").json()["analysis"]
    assert hidden["concealed"] is True
    assert (hidden["score"], hidden["grade"], hidden["planes"], hidden["events"]) == (
        None,
        None,
        [],
        [],
    )
    assert all(s["analysis"]["score"] is None for s in client.get("/api/scans/").json()["results"])

    self_assessment_submit(resident=resident, analysis=scan.analysis, planes=["GB"], score=7)
    shown = client.get(f"/api/scans/{scan.pk}/").json()["analysis"]
    assert shown["score"] == scripted.EXPECTED_SCORE and "concealed" not in shown


def test_her_instructor_sees_the_score_whatever_her_preference(people, scan):
    preference_set(user=people["resident"], self_assess_first=True)
    shown = api(people["instructor"]).get(f"/api/scans/{scan.pk}/").json()["analysis"]
    assert shown["score"] == scripted.EXPECTED_SCORE
