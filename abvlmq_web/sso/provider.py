"""The institution's OpenID Connect provider, as django-allauth sees it (``provider_classes``).

allauth's own OpenID Connect provider, with what a hospital's sign-in needs on top of it:

- PKCE on every authorization request (S256), and a nonce, kept in the request's state and
  compared with the ID token's (a replayed or injected token carries another one);
- the ID token's signature always checked against the provider's JWKS (allauth skips it when
  the token came straight from the token endpoint, as the specification allows; a program's
  auditors ask for it anyway), with an asymmetric algorithm only, and each failure named:
  a bad signature, another audience, an expired token, another issuer.

One SocialApp per institution (``provider = "institution"``, ``provider_id`` its slug), from the
environment (``ABVLMQ_OIDC_PROVIDERS``) or the admin.
"""

from __future__ import annotations

import secrets

import jwt
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import build_absolute_uri
from django.urls import reverse

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class InstitutionAdapter(OpenIDConnectOAuth2Adapter):
    def get_callback_url(self, request, app) -> str:
        path = reverse("institution_callback", kwargs={"provider_id": self.provider_id})
        return build_absolute_uri(request, path, self.redirect_uri_protocol)

    def _decode_id_token(self, app, id_token: str) -> dict:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OAuth2Error("The sign-in token could not be read.") from exc
        if header.get("alg") not in ASYMMETRIC:
            raise OAuth2Error(
                f"The sign-in token is signed with {header.get('alg')!r}, which is not accepted."
            )
        try:
            keys = self.openid_config["jwks_uri"]
            alg, key = jwtkit.fetch_key(id_token, keys, jwtkit.lookup_kid_jwk)
        except (OAuth2Error, jwt.PyJWTError, KeyError) as exc:
            raise OAuth2Error(
                "The sign-in token's key is not among the provider's published keys."
            ) from exc
        try:
            data = jwt.decode(
                id_token,
                key=key,
                algorithms=[alg],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError as exc:
            raise OAuth2Error("The sign-in token's signature did not verify.") from exc
        except jwt.ExpiredSignatureError as exc:
            raise OAuth2Error("The sign-in token has expired; sign in again.") from exc
        except jwt.InvalidAudienceError as exc:
            raise OAuth2Error("The sign-in token was issued for another application.") from exc
        except jwt.InvalidIssuerError as exc:
            raise OAuth2Error("The sign-in token was issued by another provider.") from exc
        except jwt.PyJWTError as exc:
            raise OAuth2Error(f"The sign-in token was refused: {exc}.") from exc
        try:
            jwtkit.verify_jti(data)  # remembered until it expires (the cache)
        except OAuth2Error as exc:
            raise OAuth2Error("The sign-in token was used before.") from exc
        return data


class InstitutionProvider(OpenIDConnectProvider):
    id = "institution"
    name = "Institution"
    oauth2_adapter_class = InstitutionAdapter
    pkce_enabled_default = True

    def get_pkce_params(self) -> dict:
        from allauth.socialaccount.providers.oauth2.utils import generate_code_challenge

        return generate_code_challenge()  # always: the app's settings cannot turn it off

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(24)
        auth_params = dict(kwargs.pop("auth_params", None) or self.get_auth_params())
        auth_params["nonce"] = nonce
        return super().redirect(
            request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs
        )


provider_classes = [InstitutionProvider]
