"""A real SAML 2.0 identity provider for the single sign-on tests: pysaml2's Server (signing
with Debian's xmlsec1) behind a small WSGI app on 127.0.0.1.

    python -m tests.fakes.idp.saml PORT FOLDER

FOLDER holds the IdP's key.pem and cert.pem, the service providers' metadata (sp.xml: SP_METADATA
with the SP's entity id and assertion consumer URL) and control.json, read on each answer:
    {"mischief": "" | "foreign_key" | "audience" | "expired", "audience": "<another SP>"}

GET /sso (HTTP-Redirect binding) takes the AuthnRequest and shows a login form; POST /sso
with a username and "idp-password" answers with the usual auto-posting form (HTTP-POST binding)
carrying a signed assertion for the requesting SP's assertion consumer service. Users: rita
(groups us-residents), ivan (us-faculty), nora (radiology-clerks).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

USERS = {
    "rita": {"groups": ["us-residents"]},
    "ivan": {"groups": ["us-faculty"]},
    "nora": {"groups": ["radiology-clerks"]},
}
# attributes by their URIs (urn:oid:...), as Shibboleth sends them
URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
ELSEWHERE = "http://elsewhere.test/saml/metadata/"  # another SP, for the wrong-audience case
SP_METADATA = """<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{}
</md:EntitiesDescriptor>"""
_SP = """
<md:EntityDescriptor entityID="{entity}"><md:SPSSODescriptor
 protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
 Location="{acs}" index="1"/></md:SPSSODescriptor></md:EntityDescriptor>"""


def sp_metadata(entity: str, acs: str) -> str:
    """Metadata for the SP and for ELSEWHERE (same assertion consumer service)."""
    return SP_METADATA.format(
        _SP.format(entity=entity, acs=acs) + _SP.format(entity=ELSEWHERE, acs=acs)
    )


def key_and_cert(folder: Path, name: str = "") -> tuple[Path, Path]:
    """A fresh RSA key and a self-signed certificate for it (key{name}.pem, cert{name}.pem)."""
    from datetime import UTC, datetime, timedelta

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "test idp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = folder / f"key{name}.pem", folder / f"cert{name}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def _server(base: str, folder: Path, key: Path, cert: Path, minutes: int) -> Server:
    conf = IdPConfig()
    conf.load(
        {
            "entityid": f"{base}/metadata",
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{base}/sso", BINDING_HTTP_REDIRECT)]
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": minutes},
                            "attribute_restrictions": None,
                            "name_form": URI,
                        }
                    },
                }
            },
            "key_file": str(key),
            "cert_file": str(cert),
            "metadata": {"local": [str(folder / "sp.xml")]},
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "allow_unknown_attributes": True,
        }
    )
    return Server(config=conf)


def app_for(port: int, folder: Path):
    base = f"http://127.0.0.1:{port}"
    key, cert = folder / "key.pem", folder / "cert.pem"
    other_key, other_cert = key_and_cert(folder, "-other")
    servers = {
        "": _server(base, folder, key, cert, 15),
        "expired": _server(base, folder, key, cert, -30),
        "foreign_key": _server(base, folder, other_key, other_cert, 15),
    }
    pending: dict[str, tuple] = {}

    def control() -> dict:
        try:
            return json.loads((folder / "control.json").read_text())
        except (OSError, ValueError):
            return {}

    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        if environ["PATH_INFO"] != "/sso":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not here"]
        if method == "GET":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            request = (
                servers[""]
                .parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
                .message
            )
            key = uuid.uuid4().hex
            pending[key] = (request, query.get("RelayState", [""])[0])
            start_response("200 OK", [("Content-Type", "text/html")])
            return [
                (
                    "<!doctype html><title>Test institution (SAML)</title>"
                    f'<form method="post" action="/sso"><input name="key" value="{key}">'
                    '<input name="username"><input name="password" type="password">'
                    "<button>Sign in</button></form>"
                ).encode()
            ]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(size).decode())
        request, relay = pending.pop(form["key"][0])
        username = form["username"][0]
        if username not in USERS or form["password"][0] != "idp-password":
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"wrong password"]
        wish = control()
        mischief = wish.get("mischief", "")
        server = servers.get(mischief, servers[""])
        sp = request.issuer.text
        audience = wish.get("audience", sp) if mischief == "audience" else sp
        identity = {
            "uid": [username],
            "mail": [f"{username}@hospital.test"],
            "givenName": [username.title()],
            "sn": ["Test"],
            **USERS[username],
        }
        response = server.create_authn_response(
            identity,
            in_response_to=request.id,
            destination=request.assertion_consumer_service_url,
            sp_entity_id=audience,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"id-{username}"),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
            sign_assertion=True,
            sign_response=False,
            sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
        )
        args = server.apply_binding(
            BINDING_HTTP_POST,
            str(response),
            request.assertion_consumer_service_url,
            relay,
            response=True,
        )
        start_response("200 OK", [("Content-Type", "text/html")])
        body = args["data"]
        return [body.encode() if isinstance(body, str) else body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # the test's log stays readable
        pass


def main(port: str, folder: str) -> None:
    app = app_for(int(port), Path(folder))
    httpd = make_server("127.0.0.1", int(port), app, handler_class=_Quiet)
    print("saml idp ready", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
