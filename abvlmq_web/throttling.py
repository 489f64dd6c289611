"""DRF throttles whose rates are read from settings.ABVLMQ_THROTTLE_RATES at each request.

DRF binds its rates once, at import; reading them per request lets a deployment (and a test)
change them through settings.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _RateFromSettings:
    scope: str

    def get_rate(self) -> str | None:
        return settings.ABVLMQ_THROTTLE_RATES.get(self.scope)


class AnonThrottle(_RateFromSettings, AnonRateThrottle):
    scope = "anon"


class UserThrottle(_RateFromSettings, UserRateThrottle):
    scope = "user"


class UploadThrottle(_RateFromSettings, UserRateThrottle):
    """Uploads a user may make a minute (reading the list is not counted)."""

    scope = "uploads"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)


class LoginThrottle(_RateFromSettings, AnonRateThrottle):
    """Token requests from one address, whoever they name (django-axes locks per username)."""

    scope = "login"
