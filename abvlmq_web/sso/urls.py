"""/sso/<provider_id>/login/ and its callback (the redirect URI to register at the provider:
https://<host>/sso/<provider_id>/login/callback/); SAML's /sso/saml/<organisation>/... are
allauth's, but for the last step's refusal page."""

import logging

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.saml.views import finish_acs
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from lxml.etree import LxmlError
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError

from abvlmq_web.sso import views
from abvlmq_web.sso.provider import InstitutionAdapter

log = logging.getLogger(__name__)
# what python3-saml raises on an answer that is not base64 XML of a SAML response
MALFORMED = (
    ValueError, TypeError, KeyError, AttributeError, LxmlError,
    OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError,
)  # fmt: skip


def _view(kind):
    @login_not_required
    def view(request, provider_id):
        try:
            return kind.adapter_view(InstitutionAdapter(request, provider_id))(request)
        except SocialApp.DoesNotExist as exc:
            raise Http404("No such sign-in provider.") from exc

    return view


@login_not_required
def saml_finish(request, organization_slug):
    """allauth's end of a SAML sign-in; an answer to no request of this browser's (replayed,
    or sent by the IdP unasked) is refused with the same page as every other refusal."""
    try:
        return finish_acs(request, organization_slug=organization_slug)
    except PermissionDenied:
        reason = (
            "This sign-in answer does not match a sign-in started from this browser, or it was "
            "used already. Start again from the login page."
        )
        return render(request, "sso/refused.html", {"reason": reason}, status=403)
    except MALFORMED as exc:  # python3-saml's parsers on a malformed answer: never a 500
        log.warning("SAML answer refused as malformed: %s", type(exc).__name__)
        reason = "This sign-in answer is malformed. Start again from the login page."
        return render(request, "sso/refused.html", {"reason": reason}, status=400)


urlpatterns = [
    path("", views.setup, name="sso-setup"),
    # SAML (allauth's views, included after these in abvlmq_web/urls.py): its last step
    path("saml/<slug:organization_slug>/acs/finish/", saml_finish, name="saml_finish_acs"),
    path("<slug:provider_id>/login/", _view(OAuth2LoginView), name="institution_login"),
    path(
        "<slug:provider_id>/login/callback/",
        _view(OAuth2CallbackView),
        name="institution_callback",
    ),
]
