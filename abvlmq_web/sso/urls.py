"""/sso/<provider_id>/login/ and its callback (the redirect URI to register at the provider:
https://<host>/sso/<provider_id>/login/callback/)."""

from allauth.account.internal.decorators import login_not_required
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import Http404
from django.urls import path

from abvlmq_web.sso.provider import InstitutionAdapter


def _view(kind):
    @login_not_required
    def view(request, provider_id):
        try:
            return kind.adapter_view(InstitutionAdapter(request, provider_id))(request)
        except SocialApp.DoesNotExist as exc:
            raise Http404("No such sign-in provider.") from exc

    return view


urlpatterns = [
    path("<slug:provider_id>/login/", _view(OAuth2LoginView), name="institution_login"),
    path(
        "<slug:provider_id>/login/callback/",
        _view(OAuth2CallbackView),
        name="institution_callback",
    ),
]
