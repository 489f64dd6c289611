"""The single sign-on set-up page (issue 32, item 6): a program admin registers the
institution's OpenID Connect provider with named, checked fields, copies its redirect URI, and
says which group gives which role and cohort; the login page then offers it."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialApp

from abvlmq_web.sso.models import ClaimRule

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "St Elsewhere Hospital", "provider_id": "hospital",
    "issuer": "https://login.example.org/tenant/v2.0", "client_id": "abvlmq",
    "secret": "s3cret", "groups_claim": "groups",
}  # fmt: skip


def test_a_provider_is_saved_and_its_redirect_uri_shown_never_its_secret(client, program_admin):
    client.force_login(program_admin)
    assert 'id="no-providers"' in client.get("/sso/").content.decode()
    assert client.post("/sso/", GOOD).status_code == 302
    app = SocialApp.objects.get(provider="institution")
    assert (app.provider_id, app.secret) == ("hospital", "s3cret")
    assert app.settings["server_url"] == GOOD["issuer"]
    html = client.get("/sso/").content.decode()
    assert "http://testserver/sso/hospital/login/callback/" in html
    assert "s3cret" not in html and "Try signing in" in html
    client.logout()
    assert "St Elsewhere Hospital" in client.get("/accounts/login/").content.decode()


def test_wrong_fields_save_nothing_and_say_which(client, program_admin):
    client.force_login(program_admin)
    bad = {**GOOD, "provider_id": "Bad Id", "issuer": "ftp://x", "secret": ""}
    response = client.post("/sso/", bad)
    html = response.content.decode()
    assert response.status_code == 400 and "Nothing was saved" in html
    assert html.count('aria-invalid="true"') == 3
    assert not SocialApp.objects.exists()


def test_a_group_rule_gives_a_role_and_a_cohort(client, program_admin, cohort):
    client.force_login(program_admin)
    client.post("/sso/", GOOD)
    rule = {"form": "rule", "provider": "hospital", "value": "us-residents", "role": "resident",
            "cohort": cohort.pk}  # fmt: skip
    assert client.post("/sso/", rule).status_code == 302
    r = ClaimRule.objects.get()
    assert (r.provider, r.claim, r.value, r.role, r.cohort) == (
        "hospital", "groups", "us-residents", "resident", cohort,
    )  # fmt: skip
    again = client.post("/sso/", rule)
    assert again.status_code == 400 and "A rule for this group exists" in again.content.decode()


def test_nobody_else_sees_it(client, resident, instructor):
    for user in (resident, instructor):
        client.force_login(user)
        assert client.get("/sso/").status_code == 404


def test_the_ai_event_log_cannot_be_deleted_or_changed_in_the_admin(
    client, django_user_model, resident
):
    from abvlmq_web.scans.models import AnalysisEvent
    from tests.teaching.conftest import make_analysis

    event = AnalysisEvent.objects.create(
        analysis=make_analysis(resident, score=8), seq=1, type="plane", payload={"planes": ["GB"]}
    )

    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw-root-1")
    client.force_login(admin)
    response = client.get("/admin/scans/analysisevent/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"/admin/scans/analysisevent/{event.pk}/" in page  # listed, so actions would show
    assert "delete_selected" not in page and "Add analysis event" not in page
    deleting = client.post(f"/admin/scans/analysisevent/{event.pk}/delete/", {"post": "yes"})
    assert deleting.status_code == 403 and AnalysisEvent.objects.filter(pk=event.pk).exists()
