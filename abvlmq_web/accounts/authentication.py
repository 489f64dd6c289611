"""API tokens that expire ``ABVLMQ_TOKEN_TTL_HOURS`` after they were issued."""

from __future__ import annotations

from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token) -> bool:
    ttl = settings.ABVLMQ_TOKEN_TTL_HOURS
    return bool(ttl) and token.created < timezone.now() - timedelta(hours=ttl)


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed("The token has expired; ask for a new one.")
        return user, token


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes with a request (the login page, the
    token endpoint, the admin). A call with no request is server-side code (a management
    command, the test client): there is no client to lock out, so it passes to the next
    backend instead of failing."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class PasswordBackend(ModelBackend):
    """Django's username-and-password check, where ``ABVLMQ_LOCAL_LOGIN`` allows it: "all",
    "admins" (program admins only: the way in when the identity provider is down) or "none"
    (single sign-on only). The login page, the API token and the admin all pass through here."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        allowed = settings.ABVLMQ_LOCAL_LOGIN
        if allowed == "none":
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and allowed == "admins" and not user.is_program_admin:
            return None
        return user
