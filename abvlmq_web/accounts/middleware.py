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

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


def _token_from(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "token" and key:
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [None])[0]


class TokenAuthMiddleware(BaseMiddleware):
    """Runs inside AuthMiddlewareStack: a token, when given, decides who the user is."""

    async def __call__(self, scope, receive, send):
        key = _token_from(scope)
        if key:
            scope = dict(scope, user=await _user_for_token(key))
        return await super().__call__(scope, receive, send)
