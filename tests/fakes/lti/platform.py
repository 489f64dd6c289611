"""An LMS platform of the tests' own, on 127.0.0.1, speaking LTI 1.3 to the tool for real.

It has its own RSA key and serves:

- ``/jwks``: its public key (the tool checks every id_token's signature against it);
- ``/auth``: the OIDC authorization endpoint of the third-party login: it checks the tool's
  request (client id, redirect URI, scope, response type and mode, prompt, login hint) and
  answers with the auto-posting form a browser would get, carrying a signed id_token for the
  launch the test set up under that login hint and the tool's state;
- ``/token``: OAuth 2 client credentials, the client authenticated by a JWT signed with the
  tool's key (checked against the tool's JWKS: its iss, sub, aud, exp and signature);
- ``/nrps/<context>``: Names and Role Provisioning Services, the roster the test set, paged;
- ``/lineitems/<id>/scores``: Assignment and Grade Services' score publishing, recorded.

Every service call needs a token it issued, with the scope the service needs.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
LEARNER, INSTRUCTOR = MEMBERSHIP + "Learner", MEMBERSHIP + "Instructor"
TEACHING_ASSISTANT = (
    "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
)
ADMINISTRATOR = MEMBERSHIP + "Administrator"
MENTOR = MEMBERSHIP + "Mentor"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def _key() -> tuple[rsa.RSAPrivateKey, dict]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public.update(kid=uuid.uuid4().hex, alg="RS256", use="sig")
    return private, public


@dataclass
class Launch:
    """What the platform puts in the next id_token for a login hint."""

    sub: str
    roles: list[str]
    message_type: str = "LtiResourceLinkRequest"
    context_id: str = "course-1"
    context_title: str = "Abdominal US, block 3"
    resource_link_id: str = "link-1"
    resource_title: str = "Gallbladder practice"
    custom: dict = field(default_factory=dict)
    name: str = ""
    lineitem: str | None = None  # AGS: the link's own line item
    claims: dict = field(default_factory=dict)  # extra or overriding claims (forged cases)
    exp_in: int = 300
    signing_key: rsa.RSAPrivateKey | None = None  # another key: a forged launch
    kid: str | None = None


class Platform:
    def __init__(self, *, client_id: str = "abvlmq-tool", deployment_id: str = "deployment-1"):
        self.client_id, self.deployment_id = client_id, deployment_id
        self.private, self.public = _key()
        self.launches: dict[str, Launch] = {}  # login hint -> the launch to sign
        self.members: dict[str, list[dict]] = {}  # context id -> roster
        self.scores: list[dict] = []  # {"lineitem": id, "body": {...}}
        self.token_requests: list[dict] = []
        self.tool_jwks: dict = {"keys": []}  # the tool's, as registered with the platform
        self.tool_redirect_uris: list[str] = []
        self.tokens: dict[str, set[str]] = {}  # access token -> scopes
        self.refuse_scores = 0  # answer that many score posts with 503 (platform down)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = self.url
        # stop() waits for the serving loop's next look at its flag: 20 ms, not the default 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Platform:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what the tool registers ------------------------------------------------------------
    @property
    def auth_url(self) -> str:
        return f"{self.url}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def lineitem_url(self, name: str) -> str:
        return f"{self.url}/lineitems/{name}"

    def nrps_url(self, context_id: str) -> str:
        return f"{self.url}/nrps/{context_id}"

    # -- id_tokens --------------------------------------------------------------------------
    def id_token(self, launch: Launch, *, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": launch.sub,
            "iat": now,
            "exp": now + launch.exp_in,
            "nonce": nonce,
            "name": launch.name or f"User {launch.sub}",
            "email": f"{launch.sub}@lms.example.edu",
            LTI + "deployment_id": self.deployment_id,
            LTI + "message_type": launch.message_type,
            LTI + "version": "1.3.0",
            LTI + "roles": launch.roles,
            LTI + "context": {
                "id": launch.context_id,
                "label": "US-3",
                "title": launch.context_title,
                "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            },
            LTI + "tool_platform": {"guid": "test-lms", "name": "Test LMS"},
            "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": {
                "context_memberships_url": self.nrps_url(launch.context_id),
                "service_versions": ["2.0"],
            },
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": [SCOPE_LINEITEM, SCOPE_SCORE],
                "lineitems": f"{self.url}/lineitems",
                **({"lineitem": launch.lineitem} if launch.lineitem else {}),
            },
        }
        if launch.message_type == "LtiResourceLinkRequest":
            claims[LTI + "target_link_uri"] = (self.tool_redirect_uris or [""])[0]
            claims[LTI + "resource_link"] = {
                "id": launch.resource_link_id,
                "title": launch.resource_title,
            }
            if launch.custom:
                claims[LTI + "custom"] = launch.custom
        else:  # LtiDeepLinkingRequest
            claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = {
                "deep_link_return_url": f"{self.url}/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["window"],
                "accept_multiple": False,
                "data": "opaque-platform-data",
            }
        claims.update(launch.claims)
        key = launch.signing_key or self.private
        kid = launch.kid or self.public["kid"]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    def deep_link_response(self, token: str) -> dict:
        """The tool's deep-linking answer, checked as the platform checks it: signed by a key in
        the tool's JWKS, from the tool's client id, to this platform."""
        header = jwt.get_unverified_header(token)
        key = self._tool_key(header.get("kid"))
        return jwt.decode(
            token, key, algorithms=["RS256"], audience=self.issuer, issuer=self.client_id
        )

    # -- HTTP -------------------------------------------------------------------------------
    def _tool_key(self, kid):
        for k in self.tool_jwks.get("keys", []):
            if k.get("kid") == kid:
                return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(k))
        raise PermissionError(f"no tool key {kid!r}")

    def _handler(self):
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body, content_type="application/json", headers=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _scopes(self) -> set[str] | None:
                auth = self.headers.get("Authorization", "")
                return platform.tokens.get(auth.removeprefix("Bearer ").strip())

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                if url.path == "/jwks":
                    return self._send(200, {"keys": [platform.public]})
                if url.path == "/auth":
                    return self._auth(query)
                if url.path.startswith("/nrps/"):
                    scopes = self._scopes()
                    if scopes is None or SCOPE_NRPS not in scopes:
                        return self._send(401, {"error": "invalid_token"})
                    return self._nrps(url.path.removeprefix("/nrps/"), query)
                return self._send(404, {"error": "not found"})

            def _auth(self, q):
                problems = []
                expected = {
                    "scope": "openid",
                    "response_type": "id_token",
                    "response_mode": "form_post",
                    "prompt": "none",
                }
                for k, v in expected.items():
                    if q.get(k) != v:
                        problems.append(f"{k}={q.get(k)!r}")
                if q.get("client_id") != platform.client_id:
                    problems.append("client_id")
                if q.get("redirect_uri") not in platform.tool_redirect_uris:
                    problems.append(f"redirect_uri {q.get('redirect_uri')!r} not registered")
                launch = platform.launches.get(q.get("login_hint", ""))
                if launch is None:
                    problems.append("unknown login_hint")
                if problems or not q.get("nonce") or not q.get("state"):
                    return self._send(400, {"error": "invalid_request", "problems": problems})
                token = platform.id_token(launch, nonce=q["nonce"])
                page = (
                    f'<form method="post" action="{html.escape(q["redirect_uri"])}">'
                    f'<input type="hidden" name="id_token" value="{token}">'
                    f'<input type="hidden" name="state" value="{html.escape(q["state"])}">'
                    "</form>"
                )
                return self._send(200, page.encode(), "text/html")

            def _nrps(self, context_id, q):
                members = platform.members.get(context_id, [])
                start, size = int(q.get("offset", 0)), 2  # small pages: the tool must follow
                page = members[start : start + size]
                headers = {}
                if start + size < len(members):
                    nxt = f"{platform.nrps_url(context_id)}?{urlencode({'offset': start + size})}"
                    headers["Link"] = f'<{nxt}>; rel="next"'
                body = {
                    "id": platform.nrps_url(context_id),
                    "context": {"id": context_id},
                    "members": page,
                }
                ctype = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
                return self._send(200, body, ctype, headers)

            def do_POST(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if url.path == "/token":
                    return self._token({k: v[-1] for k, v in parse_qs(raw).items()})
                m = re.fullmatch(r"/lineitems/([^/]+)/scores", url.path)
                if m:
                    scopes = self._scopes()
                    if scopes is None or SCOPE_SCORE not in scopes:
                        return self._send(401, {"error": "invalid_token"})
                    if platform.refuse_scores > 0:
                        platform.refuse_scores -= 1
                        return self._send(503, {"error": "unavailable"})
                    ctype = self.headers.get("Content-Type", "")
                    if ctype != "application/vnd.ims.lis.v1.score+json":
                        return self._send(415, {"error": ctype})
                    platform.scores.append({"lineitem": m.group(1), "body": json.loads(raw)})
                    return self._send(200, {})
                return self._send(404, {"error": "not found"})

            def _token(self, form):
                platform.token_requests.append(form)
                if (
                    form.get("grant_type") != "client_credentials"
                    or form.get("client_assertion_type")
                    != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                ):
                    return self._send(400, {"error": "unsupported_grant_type"})
                assertion = form.get("client_assertion", "")
                try:
                    kid = jwt.get_unverified_header(assertion).get("kid")
                    claims = jwt.decode(
                        assertion,
                        platform._tool_key(kid),
                        algorithms=["RS256"],
                        audience=platform.token_url,
                    )
                except (jwt.InvalidTokenError, PermissionError) as exc:
                    return self._send(401, {"error": "invalid_client", "detail": str(exc)})
                if (
                    claims.get("iss") != platform.client_id
                    or claims.get("sub") != platform.client_id
                ):
                    return self._send(401, {"error": "invalid_client"})
                token = secrets.token_urlsafe(24)
                scopes = set(form.get("scope", "").split())
                platform.tokens[token] = scopes
                return self._send(
                    200,
                    {
                        "access_token": token,
                        "token_type": "Bearer",
                        "expires_in": 3600,
                        "scope": " ".join(sorted(scopes)),
                    },
                )

        return Handler


def member(sub: str, role: str, *, status: str = "Active", name: str = "") -> dict:
    return {
        "user_id": sub,
        "roles": [role],
        "status": status,
        "name": name or f"User {sub}",
        "email": f"{sub}@lms.example.edu",
    }


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the auto-posting form of ``page`` (what a browser would
    post): the first form with a hidden field other than Django's CSRF token."""
    for form in re.findall(r"<form\b.*?</form>", page, flags=re.S):
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
        }
        fields.pop("csrfmiddlewaretoken", None)
        if fields:
            return html.unescape(re.search(r'action="([^"]*)"', form).group(1)), fields
    raise AssertionError(f"no auto-posting form in {page[:500]!r}")
