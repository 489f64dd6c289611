"""Malformed LTI input never becomes a 500 (issue 36): a launch whose id_token is not a JWT, whose
header or body is no JSON object, whose claims have the wrong types or are missing or huge, or
whose state is odd, is refused (400 or 403) with the reason page and makes no account; a login
initiation that asks to go anywhere but this tool's launch URL is refused."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lti_tool.models import LtiDeployment, LtiRegistration, LtiUser

from abvlmq_web.lti.tokens import LTI, form_problem

ISSUER = "https://lms.example"


@pytest.fixture
def registration(db):
    """A registered platform whose keys cannot be fetched (nothing listens on port 1): a token
    that gets as far as its signature is refused there, not answered with a 500."""
    reg = LtiRegistration.objects.create(
        name="LMS", issuer=ISSUER, client_id="abvlmq-tool", auth_url="http://127.0.0.1:1/auth",
        token_url="http://127.0.0.1:1/token", keyset_url="http://127.0.0.1:1/jwks",
    )  # fmt: skip
    LtiDeployment.objects.create(registration=reg, deployment_id="d1", is_active=True)
    return reg


def _b64(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _token(header, body, signature: str = "c2ln") -> str:
    return f"{_b64(header)}.{_b64(body)}.{signature}"


def _good_body() -> dict:
    return {
        "iss": ISSUER, "aud": "abvlmq-tool", "sub": "u1", "nonce": "n-1", "iat": 1, "exp": 2,
        LTI + "message_type": "LtiResourceLinkRequest", LTI + "version": "1.3.0",
        LTI + "deployment_id": "d1", LTI + "roles": [], LTI + "resource_link": {"id": "r"},
    }  # fmt: skip


def _post(token, state: str = "st-1"):
    client = Client()
    if isinstance(state, str) and state:
        client.cookies[f"lti1p3-{state}"] = state  # a matching state cookie is all it takes
    return client.post("/lti/launch/", {"id_token": token, "state": state})


def _refused_and_nothing_made(response) -> None:
    assert response.status_code in (400, 403), (response.status_code, response.content[:300])
    assert b"<html" in response.content.lower() or b"<!doctype" in response.content.lower()
    assert not LtiUser.objects.exists()
    assert not get_user_model().objects.exists()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
claims = st.sampled_from([*sorted(_good_body()), "kid", LTI + "context", LTI + "custom"])


@st.composite
def bodies(draw):
    """The well-formed body with a few claims replaced, removed or made huge, or no object."""
    kind = draw(st.sampled_from(["mutated", "not_an_object"]))
    if kind == "not_an_object":
        return draw(st.lists(json_values, max_size=3) | st.text(max_size=30) | st.integers())
    body = _good_body()
    for claim in draw(st.lists(claims, min_size=1, max_size=3)):
        action = draw(st.sampled_from(["replace", "remove", "huge"]))
        if action == "remove":
            body.pop(claim, None)
        elif action == "huge":
            body[claim] = "x" * draw(st.integers(1000, 90_000))
        else:
            body[claim] = draw(json_values)
    return body


headers = st.one_of(
    st.just({"alg": "RS256", "kid": "k1"}),
    st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), json_values, max_size=3),
    json_values,
)


@pytest.mark.slow
@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(header=headers, body=bodies())
def test_malformed_tokens_are_refused_never_a_500(registration, header, body):
    _refused_and_nothing_made(_post(_token(header, body)))


@pytest.mark.parametrize(
    "token",
    [
        "", "not-a-jwt", "a.b", "a.b.c.d", "!!!.???.sig", _token({"alg": "RS256"}, [1, 2]),
        _token([1], _good_body()), _token({"alg": "RS256"}, {**_good_body(), "nonce": {"a": 1}}),
        _token({"alg": "RS256"}, {**_good_body(), "aud": [1]}),
        _token({"alg": "RS256"}, {**_good_body(), LTI + "roles": "Learner"}),
        _token({"alg": "RS256"}, {**_good_body(), LTI + "context": {"id": 7}}),
        "x" * 70_000, _b64(b'{"alg":') + "." + _b64(b"[") + ".s",
    ],
)  # fmt: skip
def test_the_reported_shapes_are_refused(registration, token):
    _refused_and_nothing_made(_post(token))


def test_a_well_formed_token_whose_keys_cannot_be_fetched_is_refused(registration):
    response = _post(_token({"alg": "RS256", "kid": "k1"}, _good_body()))
    _refused_and_nothing_made(response)


@pytest.mark.parametrize("state", ["", "s" * 600])
def test_an_odd_state_is_refused(registration, state):
    _refused_and_nothing_made(_post(_token({"alg": "RS256"}, _good_body()), state=state))


def test_the_pre_check_lets_a_well_formed_launch_through():
    assert form_problem({"state": "s", "id_token": _token({"alg": "RS256"}, _good_body())}) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal", "http://testserver.evil.example/lti/launch/",
        "http://testserver/admin/", "javascript:alert(1)", "//evil.example/lti/launch/",
        "http://user:pw@testserver/lti/launch/", "http://[::1/lti/launch/",
    ],
)  # fmt: skip
def test_login_initiation_refuses_a_target_that_is_not_our_launch_url(registration, target):
    response = Client().get(
        "/lti/login/",
        {"iss": ISSUER, "login_hint": "u1", "target_link_uri": target, "client_id": "abvlmq-tool"},
    )
    assert response.status_code == 400
    assert "launch URL" in response.content.decode()
    assert "evil.example" not in response.get("Location", "")


def test_login_initiation_goes_on_to_the_platform_for_our_launch_url(registration):
    response = Client().get(
        "/lti/login/",
        {"iss": ISSUER, "login_hint": "u1", "target_link_uri": "http://testserver/lti/launch/",
         "client_id": "abvlmq-tool"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"].startswith("http://127.0.0.1:1/auth")
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Flti%2Flaunch%2F" in response["Location"]
