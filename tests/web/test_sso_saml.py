"""Single sign-on through SAML 2.0 (a Shibboleth-style identity provider), against a real IdP on
127.0.0.1: pysaml2's Server signing with Debian's xmlsec1 (tests/fakes/idp/saml.py). The service
provider is allauth's SAML provider (python3-saml, strict: signed assertions, audience,
validity, InResponseTo). Refused, with the reason and no account: a group nobody mapped, an
assertion signed by another key, for another audience, expired, replayed, or sent without a
request of this browser's (IdP-initiated).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from html import unescape
from urllib.parse import urljoin

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.services import cohort_create
from abvlmq_web.sso.models import ClaimRule
from tests.fakes.idp.saml import ELSEWHERE, key_and_cert, sp_metadata
from tests.web.live import Process, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which("xmlsec1"), reason="xmlsec1 (Debian) is not installed"),
]

ORG = "hospital-saml"
HOST = "abvlmq.hospital.test"  # python3-saml wants a dotted host name in the SP's URLs
SP = f"http://{HOST}/sso/saml/{ORG}/metadata/"
ACS = f"http://{HOST}/sso/saml/{ORG}/acs/"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saml-idp")
    _, cert = key_and_cert(folder)
    (folder / "sp.xml").write_text(sp_metadata(SP, ACS))
    (folder / "control.json").write_text("{}")
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = Process(
        "saml-idp",
        [sys.executable, "-m", "tests.fakes.idp.saml", str(port), str(folder)],
        env,
        ready="saml idp ready",
        log_dir=folder,
    )
    body = "".join(line for line in cert.read_text().splitlines() if not line.startswith("-----"))
    try:
        yield {"url": f"http://127.0.0.1:{port}", "folder": folder, "cert": body}
    finally:
        server.stop()


@pytest.fixture
def hospital(idp, db, settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, HOST]
    (idp["folder"] / "control.json").write_text("{}")
    SocialApp.objects.create(
        provider="saml",
        provider_id=ORG,
        client_id=ORG,
        name="St Elsewhere (Shibboleth)",
        settings={
            "idp": {
                "entity_id": idp["url"] + "/metadata",
                "sso_url": idp["url"] + "/sso",
                "x509cert": idp["cert"],
            },
            # Shibboleth sends the eduPerson/inetOrgPerson attributes by their URIs
            "attribute_mapping": {
                "uid": ["uid", "urn:oid:0.9.2342.19200300.100.1.1"],
                "username": ["uid", "urn:oid:0.9.2342.19200300.100.1.1"],
                "email": ["mail", "urn:oid:0.9.2342.19200300.100.1.3"],
                "first_name": ["givenName", "urn:oid:2.5.4.42"],
                "last_name": ["sn", "urn:oid:2.5.4.4"],
            },
            "advanced": {"want_assertion_signed": True, "strict": True},
        },
    )
    cohort = cohort_create(name="Residents 2026")
    ClaimRule.objects.create(claim="groups", value="us-residents", role="resident", cohort=cohort)
    ClaimRule.objects.create(claim="groups", value="us-faculty", role="instructor", cohort=cohort)
    return {**idp, "cohort": cohort}


def browser_client() -> Client:
    """Django's test client, sending the Host header every browser sends (python3-saml reads it)."""
    return Client(HTTP_HOST=HOST)


def misbehave(idp, **control) -> None:
    (idp["folder"] / "control.json").write_text(json.dumps(control))


def at_the_idp(client: Client, username: str) -> dict:
    """Press the button, sign in at the IdP: the form it posts back (SAMLResponse, RelayState)."""
    response = client.post(f"/sso/saml/{ORG}/login/", {"next": "/"})
    assert response.status_code == 302, response.content[:500]
    sso = response["Location"]
    browser = requests.Session()
    page = browser.get(sso, timeout=30)
    assert page.status_code == 200, page.text[:500]
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    answer = browser.post(
        urljoin(sso, "/sso"),
        data={"key": key, "username": username, "password": "idp-password"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text[:500]
    action = unescape(re.search(r'action="([^"]+)"', answer.text).group(1))
    assert action == ACS, action
    fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', answer.text))
    return {k: unescape(v) for k, v in fields.items()}


def post_back(client: Client, form: dict):
    """The browser posts the IdP's answer to the ACS; allauth finishes on its own page."""
    response = client.post(f"/sso/saml/{ORG}/acs/", form)
    if response.status_code == 302 and "/acs/finish/" in response["Location"]:
        response = client.get(response["Location"])
    return response


def signed_in_as(client: Client) -> User | None:
    pk = client.session.get("_auth_user_id")
    return User.objects.get(pk=pk) if pk else None


def reason(response) -> str:
    assert response.status_code == 403, (response.status_code, response.content[:800])
    return unescape(re.search(r'id="sso-reason">([^<]*)<', response.content.decode()).group(1))


def test_a_saml_sign_in_creates_the_user_with_the_role_and_cohort_of_her_group(hospital):
    client = browser_client()
    assert (
        "Sign in with St Elsewhere (Shibboleth)" in client.get("/accounts/login/").content.decode()
    )
    response = post_back(client, at_the_idp(client, "rita"))
    assert response.status_code == 302 and response["Location"] == "/", response.content[:800]
    user = signed_in_as(client)
    assert (user.username, user.role, user.email) == ("rita", "resident", "rita@hospital.test")
    assert SocialAccount.objects.get(user=user).uid == "rita"
    assert list(hospital["cohort"].residents.all()) == [user]
    client = browser_client()
    post_back(client, at_the_idp(client, "ivan"))
    assert signed_in_as(client).role == "instructor"


def test_a_group_with_no_mapping_is_refused_and_no_account_is_made(hospital):
    client = browser_client()
    said = reason(post_back(client, at_the_idp(client, "nora")))
    assert "radiology-clerks" in said and "no account was created" in said
    assert not User.objects.filter(username="nora").exists()


@pytest.mark.parametrize(
    ("mischief", "said"),
    [
        ("foreign_key", "Signature validation failed"),
        ("audience", "is not a valid audience"),
        ("expired", "timestamp: expired"),
    ],
)
def test_an_assertion_wrong_in_one_way_is_refused(hospital, mischief, said):
    misbehave(hospital, mischief=mischief, audience=ELSEWHERE)
    client = browser_client()
    got = reason(post_back(client, at_the_idp(client, "rita")))
    assert said.lower() in got.lower(), got
    assert not User.objects.filter(username="rita").exists()
    assert signed_in_as(client) is None


def test_a_replayed_or_unsolicited_assertion_is_refused(hospital):
    client = browser_client()
    form = at_the_idp(client, "rita")
    assert post_back(client, form).status_code == 302  # used once
    client.logout()
    assert "does not match" in reason(post_back(client, form))  # its request is answered
    stranger = browser_client()  # another browser: no request of its own was answered
    assert "does not match" in reason(post_back(stranger, form))
    assert signed_in_as(stranger) is None
