"""The session backend of a single sign-on: allauth logs in whom the provider has vouched for
(sso/adapter.py) and names this backend in the session. It checks no credentials itself: a
username and password are PasswordBackend's (accounts/authentication.py), under
ABVLMQ_LOCAL_LOGIN; allauth's own backend would take passwords past that setting."""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend


class InstitutionBackend(AuthenticationBackend):
    def authenticate(self, request, **credentials):
        return None
