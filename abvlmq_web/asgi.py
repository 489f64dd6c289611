"""ASGI entry point. The web platform issue adds the websocket routes here."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "abvlmq_web.settings")
application = get_asgi_application()
