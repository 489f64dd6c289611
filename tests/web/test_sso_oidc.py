"""Single sign-on through OpenID Connect, against a real provider on 127.0.0.1.

The provider is django-oauth-toolkit with OIDC on (tests/fakes/idp/: its own process, database and
RSA key; authorization code with PKCE required). The browser is a requests session at the
provider and Django's test client here; everything between the two servers (discovery, the
token endpoint, the JWKS, userinfo) goes over HTTP. The negative cases are the provider
misbehaving on purpose (tests/fakes/idp/validator.py) or the answer tampered with on the way back:
each is refused with the reason on the page, and no account is created.
"""

from __future__ import annotations

import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from allauth.socialaccount.models import SocialAccount, SocialApp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.services import cohort_create, user_create
from abvlmq_web.sso.models import ClaimRule
from tests.web.conftest import PASSWORD
from tests.web.live import Process, free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

CALLBACK = "http://testserver/sso/hospital/login/callback/"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """The provider's base URL, and its control file (misbehaviour, unverified emails)."""
    import os

    folder = tmp_path_factory.mktemp("idp")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    control = folder / "control.json"
    control.write_text("{}")
    port = free_port()
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.fakes.idp.settings",
        IDP_DB=str(folder / "idp.sqlite3"),
        IDP_RSA_KEY=pem,
        IDP_CONTROL=str(control),
        PYTHONUNBUFFERED="1",
    )
    server = Process(
        "idp",
        [sys.executable, "-m", "tests.fakes.idp.serve", str(port), CALLBACK],
        env,
        ready="Quit the server",
        log_dir=folder,
    )
    try:
        yield {"url": f"http://127.0.0.1:{port}", "control": control, "server": server}
    finally:
        server.stop()


@pytest.fixture
def hospital(idp, db):
    """The provider as a program admin registers it, and the program's group rules."""
    idp["control"].write_text("{}")
    SocialApp.objects.create(
        provider="institution",
        provider_id="hospital",
        name="St Elsewhere Hospital",
        client_id="abvlmq",
        secret="abvlmq-secret",
        settings={"server_url": idp["url"] + "/o"},
    )
    cohort = cohort_create(name="Residents 2026")
    ClaimRule.objects.create(claim="groups", value="us-residents", role="resident", cohort=cohort)
    ClaimRule.objects.create(claim="groups", value="us-faculty", role="instructor", cohort=cohort)
    ClaimRule.objects.create(
        provider="hospital", claim="groups", value="us-admins", role="program_admin"
    )
    return {**idp, "cohort": cohort}


def misbehave(idp, **control) -> None:
    idp["control"].write_text(json.dumps(control))


def start(client: Client) -> str:
    """Press the institution's button: the provider's authorization URL."""
    response = client.post("/sso/hospital/login/", {"next": "/"})
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def at_the_provider(authorize: str, username: str) -> str:
    """What a browser does at the provider: sign in, come back. The callback URL."""
    browser = requests.Session()
    response = browser.get(authorize, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:500]
    login = urljoin(authorize, response.headers["Location"])
    page = browser.get(login, timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    nxt = parse_qs(urlparse(login).query)["next"][0]
    response = browser.post(
        login,
        data={
            "username": username,
            "password": "idp-password",
            "csrfmiddlewaretoken": csrf,
            "next": nxt,
        },
        headers={"Referer": login},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:500]
    response = browser.get(
        urljoin(login, response.headers["Location"]), allow_redirects=False, timeout=30
    )
    assert response.status_code == 302, response.text[:500]
    back = response.headers["Location"]
    assert back.startswith(CALLBACK), back
    return back.removeprefix("http://testserver")


def sign_in(client: Client, username: str):
    return client.get(at_the_provider(start(client), username))


def signed_in_as(client: Client) -> User | None:
    pk = client.session.get("_auth_user_id")
    return User.objects.get(pk=pk) if pk else None


def reason(response) -> str:
    assert response.status_code == 403, (response.status_code, response.content[:800])
    return re.search(r'id="sso-reason">([^<]*)<', response.content.decode()).group(1)


# ------------------------------------------------------------------ the flow


def test_the_login_page_offers_the_institution_and_the_request_uses_pkce_and_a_nonce(hospital):
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with St Elsewhere Hospital" in page
    query = parse_qs(urlparse(start(client)).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    assert query["client_id"] == ["abvlmq"] and "openid" in query["scope"][0].split()


def test_a_first_sign_in_creates_each_user_with_the_role_and_cohort_their_groups_map_to(hospital):
    for username, role in (("rita", "resident"), ("ivan", "instructor"), ("ada", "program_admin")):
        client = Client()
        response = sign_in(client, username)
        assert response.status_code == 302 and response["Location"] == "/", response.content[:500]
        user = signed_in_as(client)
        email = f"{username}@hospital.test"
        assert (user.username, user.role, user.email) == (username, role, email)
        assert not user.has_usable_password()  # the institution's sign-in is the way in
        assert SocialAccount.objects.get(user=user).provider == "hospital"
    cohort = hospital["cohort"]
    assert list(cohort.residents.values_list("username", flat=True)) == ["rita"]
    assert list(cohort.instructors.values_list("username", flat=True)) == ["ivan"]
    assert User.objects.get(username="ada").is_staff  # the admin site is hers
    # the next sign-in is the same account, not a new one
    client = Client()
    sign_in(client, "rita")
    assert signed_in_as(client).username == "rita"
    assert User.objects.filter(username__startswith="rita").count() == 1


def test_the_role_follows_the_institutions_groups_at_the_next_sign_in(hospital):
    sign_in(Client(), "ivan")
    ClaimRule.objects.filter(value="us-faculty").update(role="program_admin")
    client = Client()
    sign_in(client, "ivan")
    user = signed_in_as(client)
    assert (user.role, user.is_staff) == ("program_admin", True)


def test_an_existing_local_account_is_linked_only_through_a_verified_email(hospital):
    local = user_create(username="lena.local", password=PASSWORD, email="lena@hospital.test")
    client = Client()
    sign_in(client, "lena")
    assert signed_in_as(client) == local  # the provider says the email is verified
    assert SocialAccount.objects.get(user=local).uid
    local.refresh_from_db()
    assert not local.has_usable_password()  # the institution's sign-in is now the way in
    # the same email, but the provider does not vouch for it: refused, nothing linked or made
    other = user_create(username="rita.local", password=PASSWORD, email="rita@hospital.test")
    misbehave(hospital, unverified=["rita"])
    client = Client()
    said = reason(sign_in(client, "rita"))
    assert "has not verified" in said and "no account was created" in said
    assert signed_in_as(client) is None
    assert not SocialAccount.objects.filter(user=other).exists()
    assert list(User.objects.filter(email="rita@hospital.test")) == [other]
    assert User.objects.get(pk=other.pk).check_password(PASSWORD)  # untouched


# ------------------------------------------------------------------ refused


def test_a_group_with_no_mapping_is_refused_and_no_account_is_made(hospital):
    client = Client()
    said = reason(sign_in(client, "nora"))
    assert "radiology-clerks" in said and "no account was created" in said
    assert not User.objects.filter(username="nora").exists()
    assert signed_in_as(client) is None


@pytest.mark.parametrize(
    ("mischief", "said"),
    [
        ("foreign_key", "signature did not verify"),
        ("audience", "issued for another application"),
        ("expired", "has expired"),
        ("nonce", "does not belong to this sign-in"),
    ],
)
def test_a_token_wrong_in_one_way_is_refused_with_its_reason(hospital, mischief, said):
    misbehave(hospital, mischief=mischief)
    client = Client()
    assert said in reason(sign_in(client, "rita"))
    assert not User.objects.filter(username="rita").exists()
    assert signed_in_as(client) is None


def test_a_replayed_or_forged_answer_is_refused(hospital):
    client = Client()
    callback = at_the_provider(start(client), "rita")
    assert client.get(callback).status_code == 302  # used once
    client.logout()
    assert "does not match" in reason(client.get(callback))  # its state is spent
    assert "does not match" in reason(Client().get(callback))  # another browser's answer
    # a code from the provider with a state this browser never issued
    client = Client()
    start(client)
    forged = re.sub(r"state=[^&]+", "state=forged", at_the_provider(start(Client()), "ivan"))
    assert "does not match" in reason(client.get(forged))
    assert not User.objects.filter(username="ivan").exists()


# ------------------------------------------------------------------ passwords off


def test_password_login_can_be_turned_off_for_everyone_or_all_but_program_admins(
    hospital, settings
):
    resident = user_create(username="rosa", password=PASSWORD)
    admin = user_create(username="pat", password=PASSWORD, role="program_admin")
    settings.ABVLMQ_LOCAL_LOGIN = "none"
    page = Client().get("/accounts/login/").content.decode()
    assert "Sign in with St Elsewhere Hospital" in page and 'name="password"' not in page
    for user in (resident, admin):
        client = Client()
        client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
        assert signed_in_as(client) is None
        token = client.post("/api/auth/token/", {"username": user.username, "password": PASSWORD})
        assert token.status_code == 400
    settings.ABVLMQ_LOCAL_LOGIN = "admins"
    outcomes = {}
    for user in (resident, admin):
        client = Client()
        client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
        outcomes[user.username] = signed_in_as(client) is not None
    assert outcomes == {"rosa": False, "pat": True}
