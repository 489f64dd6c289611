"""The institutions a person may sign in with, for the login page."""

from __future__ import annotations

from allauth.socialaccount.adapter import get_adapter
from django.urls import reverse

from abvlmq_web.sso.provider import InstitutionProvider


def institutions(request) -> list[dict[str, str]]:
    """[{"name", "url"}]: each configured provider's sign-in (POST to the url): OpenID Connect
    providers, then SAML identity providers."""
    found = []
    for p in get_adapter().list_providers(request):
        if p.id == InstitutionProvider.id:
            url = reverse("institution_login", kwargs={"provider_id": p.app.provider_id})
        elif p.id == "saml":
            url = reverse("saml_login", kwargs={"organization_slug": p.app.client_id})
        else:
            continue
        found.append({"name": p.app.name or p.app.provider_id or p.app.client_id, "url": url})
    return found
