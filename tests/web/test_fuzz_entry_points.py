"""A fuzz pass over the public entry points (issue 36): malformed input answers 4xx (or a
refusal page), never a 500, and stores nothing. The upload API, STOW-RS, the SAML assertion
consumer, the OpenID Connect callback and the scan websocket each get random bytes and
plausible-looking shapes (hypothesis). The LTI launch has its own file (test_lti_malformed)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abvlmq_web.scans.models import Scan
from tests.web.conftest import ORIGIN, api, assert_nothing_before_a_sentinel, session_cookie

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
pytestmark = pytest.mark.slow

MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"DICM", b"\x00" * 132]
files = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from(
        [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"DICM", b"\x00" * 132]
    ).flatmap(lambda head: st.binary(max_size=512).map(lambda tail: head + tail)),
    st.binary(max_size=200).map(lambda b: b"\x00" * 128 + b"DICM" + b),
)
texts = st.text(max_size=60)


def _not_a_server_error(response) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])


@FUZZ
@given(data=files, name=texts, extra=st.dictionaries(texts, texts, max_size=3))
def test_the_upload_api_refuses_garbage_with_a_4xx(resident, data, name, extra):
    upload = SimpleUploadedFile(name or "x", data)
    response = api(resident).post("/api/scans/", {**extra, "file": upload}, format="multipart")
    _not_a_server_error(response)
    assert response.status_code >= 400
    assert not Scan.objects.exists()


@FUZZ
@given(body=st.binary(max_size=2048), ctype=st.sampled_from([
    "multipart/related; type=\"application/dicom\"; boundary=b",
    "multipart/related; type=\"application/dicom\"", "application/dicom", "text/plain", "",
    "multipart/related; boundary=", "multipart/related; type=\"application/dicom\"; boundary=\"\"",
]))  # fmt: skip
def test_stow_rs_refuses_garbage_with_a_4xx(instructor, body, ctype):
    response = api(instructor).generic("POST", "/dicomweb/studies", body, content_type=ctype)
    _not_a_server_error(response)
    assert not Scan.objects.exists()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


saml_responses = st.one_of(
    texts,
    st.binary(max_size=600).map(_b64),
    st.sampled_from([
        "<samlp:Response/>", "<?xml version='1.0'?><x>", "<!DOCTYPE a [<!ENTITY b 'c'>]><a>&b;</a>",
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="1" Version="2.0"/>',
    ]).map(lambda x: _b64(x.encode())),
)  # fmt: skip


@pytest.fixture
def saml_app(db, settings, tmp_path):
    from tests.fakes.idp.saml import key_and_cert

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "abvlmq.hospital.test"]
    _, cert = key_and_cert(tmp_path)
    body = "".join(line for line in cert.read_text().splitlines() if not line.startswith("-----"))
    return SocialApp.objects.create(
        provider="saml", provider_id="org", client_id="org", name="IdP",
        settings={"idp": {"entity_id": "http://127.0.0.1:1/metadata",
                          "sso_url": "http://127.0.0.1:1/sso", "x509cert": body},
                  "advanced": {"want_assertion_signed": True, "strict": True}},
    )  # fmt: skip


@FUZZ
@given(response=saml_responses, relay=texts)
def test_the_saml_assertion_consumer_refuses_garbage(saml_app, response, relay):
    client = Client(HTTP_HOST="abvlmq.hospital.test")
    answer = client.post("/sso/saml/org/acs/", {"SAMLResponse": response, "RelayState": relay})
    _not_a_server_error(answer)
    if answer.status_code == 302:  # allauth finishes on its own page, which refuses
        _not_a_server_error(client.get(answer["Location"]))
    assert not SocialAccount.objects.exists()


@pytest.fixture
def oidc_app(db):
    return SocialApp.objects.create(
        provider="institution", provider_id="hospital", name="Hospital", client_id="abvlmq",
        secret="s", settings={"server_url": "http://127.0.0.1:1/o"},
    )  # fmt: skip


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["code", "state", "error", "error_description"]),
                              texts, max_size=4))  # fmt: skip
def test_the_oidc_callback_refuses_garbage(oidc_app, params):
    answer = Client().get("/sso/hospital/login/callback/", params)
    _not_a_server_error(answer)
    assert not SocialAccount.objects.exists()


def test_the_oidc_callback_of_an_unknown_provider_is_404(db):
    assert (
        Client().get("/sso/nobody/login/callback/", {"code": "x", "state": "y"}).status_code == 404
    )


frames = st.one_of(
    st.text(min_size=1, max_size=200).map(lambda t: {"text": t}),
    st.binary(min_size=1, max_size=200).map(lambda b: {"bytes": b}),
    st.recursive(
        st.none() | st.integers() | texts,
        lambda i: st.lists(i) | st.dictionaries(texts, i),
        max_leaves=8,
    ).map(lambda v: {"text": json.dumps(v)}),
)  # fmt: skip


@pytest.fixture
def cookie(resident) -> bytes:
    """Rita's session, logged in once for all the examples (the socket reads it each time)."""
    return session_cookie(resident)


@pytest.mark.django_db(transaction=True)  # channels closes the test's connection
@FUZZ
@given(sent=st.lists(frames, min_size=1, max_size=5))
def test_the_scan_websocket_ignores_whatever_the_page_sends(scan, cookie, sent):
    from abvlmq_web.asgi import application
    from abvlmq_web.scans.selectors import scan_events

    headers = [ORIGIN, (b"cookie", cookie)]
    saved = [e["seq"] for e in scan_events(scan_id=scan.pk)]

    async def run():
        ws = WebsocketCommunicator(application, f"/ws/scans/{scan.pk}/", headers=headers)
        connected, _ = await ws.connect(timeout=5)
        assert connected
        assert [(await ws.receive_json_from(timeout=5))["seq"] for _ in saved] == saved
        for frame in sent:
            await ws.send_to(text_data=frame.get("text"), bytes_data=frame.get("bytes"))
        for _ in range(2500):  # until the consumer has taken every frame (or has died)
            if ws.input_queue.empty() or ws.future.done():
                break
            await asyncio.sleep(0.002)
        # no close, no error: the consumer handles its frames before a later group message,
        # so a sentinel pushed now must be the very next thing out of a socket still open
        await assert_nothing_before_a_sentinel(ws, scan.pk, seq=max(saved, default=0) + 1)
        await ws.disconnect()  # re-raises whatever the consumer raised
        return True

    assert async_to_sync(run)()
