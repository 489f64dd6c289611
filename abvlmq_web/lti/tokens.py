"""What a launch's form must look like before pylti1p3 reads it (issue 36).

pylti1p3 assumes a well-formed id_token: a body that is a JSON array raises AttributeError in
its nonce check, a ``nonce`` that is an object TypeError in its session code, and the launch
view answered 500 (no registration or login needed: a matching state cookie was enough). Here
the form and the token's shape are checked first, without verifying anything (that is
pylti1p3's job, after): the JWT's three parts, its header and body JSON objects, each claim the
launch reads of the type the LTI 1.3 and OpenID Connect specifications give it, and sizes
bounded. ``form_problem`` says what is wrong in words for the log, or None.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

MAX_TOKEN = 64 * 1024  # characters of an id_token: a launch with a large roster is a few KB
MAX_STATE = 512
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/"


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


def _strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _aud(v: Any) -> bool:
    return _str(v) or (_strs(v) and bool(v))


# claim -> (its test, required)
BODY: dict[str, tuple[Any, bool]] = {
    "iss": (_str, True),
    "aud": (_aud, True),
    "nonce": (_str, True),
    "exp": (_num, True),
    "iat": (_num, True),
    "sub": (_str, False),
    "azp": (_str, False),
    "name": (_str, False),
    "given_name": (_str, False),
    "family_name": (_str, False),
    "email": (_str, False),
    LTI + "message_type": (_str, True),
    LTI + "version": (_str, True),
    LTI + "deployment_id": (_str, True),
    LTI + "target_link_uri": (_str, False),
    LTI + "roles": (_strs, True),
    LTI + "role_scope_mentor": (_strs, False),
    LTI + "context": (_obj, False),
    LTI + "resource_link": (_obj, False),
    LTI + "tool_platform": (_obj, False),
    LTI + "launch_presentation": (_obj, False),
    LTI + "custom": (_obj, False),
    LTI + "lis": (_obj, False),
    DL + "deep_linking_settings": (_obj, False),
    NRPS + "namesroleservice": (_obj, False),
    AGS + "endpoint": (_obj, False),
}
# inside the object claims, the members the launch reads
MEMBERS: dict[str, dict[str, Any]] = {
    LTI + "context": {"id": _str, "title": _str, "label": _str, "type": _strs},
    LTI + "resource_link": {"id": _str, "title": _str, "description": _str},
    DL + "deep_linking_settings": {"deep_link_return_url": _str, "data": _str},
    NRPS + "namesroleservice": {"context_memberships_url": _str},
    AGS + "endpoint": {"lineitem": _str, "lineitems": _str, "scope": _strs},
}


def _part(text: str) -> Any:
    padded = text + "=" * (-len(text) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def token_problem(token: Any) -> str | None:
    """What is wrong with an id_token's shape, or None."""
    if not isinstance(token, str) or not token:
        return "no id_token"
    if len(token) > MAX_TOKEN:
        return f"an id_token of {len(token)} characters"
    parts = token.split(".")
    if len(parts) != 3:
        return "an id_token that is not a JWT"
    try:
        header, body = _part(parts[0]), _part(parts[1])
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        return "an id_token whose header or body is not base64url JSON"
    if not _obj(header) or not _obj(body):
        return "an id_token whose header or body is not a JSON object"
    if not _str(header.get("alg")) or ("kid" in header and not _str(header["kid"])):
        return "an id_token header without a string alg (or with a kid that is no string)"
    return claims_problem(body)


def claims_problem(body: Mapping[str, Any]) -> str | None:
    for claim, (ok, required) in BODY.items():
        if claim not in body:
            if required:
                return f"an id_token without {claim}"
            continue
        if not ok(body[claim]):
            return f"an id_token whose {claim} is a {type(body[claim]).__name__}"
    for claim, members in MEMBERS.items():
        value = body.get(claim)
        if value is None:
            continue
        for name, ok in members.items():
            if name in value and not ok(value[name]):
                return f"an id_token whose {claim} {name} is a {type(value[name]).__name__}"
    return None


def form_problem(form: Mapping[str, Any]) -> str | None:
    """What is wrong with a launch form (``state`` and ``id_token``), or None."""
    state = form.get("state")
    if not isinstance(state, str) or not state or len(state) > MAX_STATE:
        return "no state, or a state that is not a short string"
    return token_problem(form.get("id_token"))
