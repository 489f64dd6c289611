"""The provider's claims (groups, a verified email or not) and, when a test asks for it, a
token that is wrong in one way: signed by another key, for another audience, expired, or
carrying another nonce. IDP_CONTROL is a JSON file:
    {"mischief": "" | "foreign_key" | "audience" | "expired" | "nonce",
     "unverified": ["username", ...]}"""

import json
import os
import time

from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator


def control() -> dict:
    try:
        with open(os.environ["IDP_CONTROL"]) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim below, whatever the scope

    def get_additional_claims(self, request):
        user = request.user
        return {
            "preferred_username": user.username,
            "name": f"{user.first_name} {user.last_name}".strip(),
            "given_name": user.first_name,
            "family_name": user.last_name,
            "email": user.email,
            "email_verified": user.username not in control().get("unverified", []),
            "groups": sorted(g.name for g in user.groups.all()),
        }

    def finalize_id_token(self, id_token, token, token_handler, request):
        mischief = control().get("mischief", "")
        if not mischief:
            return super().finalize_id_token(id_token, token, token_handler, request)
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        key = request.client.jwk_key
        if mischief == "audience":
            id_token["aud"] = "some-other-application"
        elif mischief == "expired":
            id_token["iat"] = int(time.time()) - 3600
            id_token["exp"] = int(time.time()) - 1800
        elif mischief == "nonce":
            id_token["nonce"] = "a-nonce-from-another-sign-in"
        header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
        signer = jwk.JWK.generate(kty="RSA", size=2048) if mischief == "foreign_key" else key
        token_jwt = jwt.JWT(header=json.dumps(header), claims=json.dumps(id_token, default=str))
        token_jwt.make_signed_token(signer)
        saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = request.id_token = saved
        return token_jwt.serialize()
