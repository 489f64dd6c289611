"""The LTI set-up page (issue 32, item 6): a program admin connects an LMS without the raw
admin: the URLs to paste, each registration's deployments and their state, a validated form."""

from __future__ import annotations

import pytest
from lti_tool.models import LtiDeployment, LtiRegistration

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Canvas", "issuer": "https://canvas.example.edu", "client_id": "10000000000001",
    "auth_url": "https://canvas.example.edu/api/lti/authorize_redirect",
    "token_url": "https://canvas.example.edu/login/oauth2/token",
    "keyset_url": "https://canvas.example.edu/api/lti/security/jwks",
    "deployment_ids": "1:abc, 2:def",
}  # fmt: skip


def test_a_program_admin_sees_the_urls_to_paste(client, program_admin):
    client.force_login(program_admin)
    html = client.get("/lti/").content.decode()
    for url in ("/lti/login/", "/lti/launch/", "/lti/jwks/"):
        assert f"http://testserver{url}" in html
    assert 'id="no-registrations"' in html


def test_nobody_else_sees_it(client, resident, instructor):
    for user in (resident, instructor):
        client.force_login(user)
        assert client.get("/lti/").status_code == 404


def test_a_registration_is_saved_with_its_deployments_and_shown(client, program_admin):
    client.force_login(program_admin)
    assert client.post("/lti/", GOOD).status_code == 302
    reg = LtiRegistration.objects.get()
    assert (reg.issuer, reg.client_id) == (GOOD["issuer"], GOOD["client_id"])
    deps = sorted(
        LtiDeployment.objects.filter(registration=reg).values_list("deployment_id", "is_active")
    )
    assert deps == [("1:abc", True), ("2:def", True)]
    html = client.get("/lti/").content.decode()
    assert f"/lti/login/{reg.uuid}/" in html and "1:abc" in html and "never" in html
    dep = LtiDeployment.objects.get(deployment_id="2:def")
    client.post("/lti/", {"deployment": dep.pk, "active": "0"})
    dep.refresh_from_db()
    assert not dep.is_active


def test_a_wrong_field_saves_nothing_and_says_which(client, program_admin):
    client.force_login(program_admin)
    bad = {**GOOD, "keyset_url": "not a url", "deployment_ids": " "}
    response = client.post("/lti/", bad)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html and "An https:// URL" in html and "deployment ID" in html
    assert html.count('aria-invalid="true"') == 2
    assert not LtiRegistration.objects.exists()
    client.post("/lti/", GOOD)
    again = client.post("/lti/", GOOD)
    assert again.status_code == 400 and "registered already" in again.content.decode()
    assert LtiRegistration.objects.count() == 1
