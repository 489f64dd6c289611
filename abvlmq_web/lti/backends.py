"""The session backend of an LTI launch: the platform has vouched for the user (its signed
id_token, checked in lti/views.py) and the launch names this backend in the session. It checks
no credentials itself."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend


class LaunchBackend(ModelBackend):
    def authenticate(self, request, **credentials):
        return None
