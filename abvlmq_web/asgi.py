"""ASGI entry point: HTTP through Django, websockets through Channels.

The Django application is built before anything imports models (consumers do), and websockets
are wrapped in origin validation (or a token, for clients that are no browser) and the session +
token auth middleware. HTTP requests that announce a body over ABVLMQ_MAX_REQUEST_BYTES get 413
before anything reads the body.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abvlmq_web.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from abvlmq_web.accounts.middleware import OriginOrTokenValidator, TokenAuthMiddleware  # noqa: E402
from abvlmq_web.datasets.routing import websocket_urlpatterns as training_sockets  # noqa: E402
from abvlmq_web.live.routing import websocket_urlpatterns as live_sockets  # noqa: E402
from abvlmq_web.scans.routing import websocket_urlpatterns as scan_sockets  # noqa: E402


class BodySizeLimit:
    """413 for a request whose Content-Length is over the cap, before its body is read."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        for name, value in scope.get("headers", []):
            too_big = value.isdigit() and int(value) > settings.ABVLMQ_MAX_REQUEST_BYTES
            if name == b"content-length" and too_big:
                return await self._refuse(send)
        return await self.application(scope, receive, send)

    @staticmethod
    async def _refuse(send) -> None:
        limit = settings.ABVLMQ_MAX_REQUEST_BYTES / 2**20
        body = (f'{{"code": "too_large", "detail": "The request is over {limit:g} MB."}}').encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_application),
        "websocket": OriginOrTokenValidator(
            AuthMiddlewareStack(
                TokenAuthMiddleware(URLRouter(scan_sockets + training_sockets + live_sockets))
            )
        ),
    }
)
