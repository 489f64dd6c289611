"""Token authentication for websockets (`?token=...`), beside the session cookie.

Browsers cannot set headers on a websocket, so API clients pass their DRF token in the query
string or an ``Authorization: Token ...`` header.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    from abvlmq_web.accounts.authentication import token_expired

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active or token_expired(token):
        return AnonymousUser()
    return token.user


def token_from(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key:
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [None])[0]


class OriginOrTokenValidator:
    """Browsers always send Origin: check it against ALLOWED_HOSTS, so no other site can open a
    websocket with the user's cookie. A client with no Origin is no browser; it is let through
    when it brings a token (its cookie, if any, is dropped: the token alone says who it is)."""

    def __init__(self, application) -> None:
        from channels.security.websocket import AllowedHostsOriginValidator

        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        headers = scope.get("headers", [])
        if not any(name == b"origin" for name, _ in headers) and token_from(scope):
            scope = dict(scope, headers=[(n, v) for n, v in headers if n != b"cookie"])
            return await self.application(scope, receive, send)
        return await self.checked(scope, receive, send)


class TokenAuthMiddleware(BaseMiddleware):
    """Runs inside AuthMiddlewareStack: a token, when given, decides who the user is."""

    async def __call__(self, scope, receive, send):
        key = token_from(scope)
        if key:
            scope = dict(scope, user=await _user_for_token(key))
        return await super().__call__(scope, receive, send)
