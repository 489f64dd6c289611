"""LTI 1.3 (docs/lti.md): the URLs an LMS registers are /lti/login/ (OIDC login initiation;
/lti/login/<registration uuid>/ where the LMS sends no client_id), /lti/launch/ (the launch
and redirect URL, also for deep linking) and /lti/jwks/ (the tool's public keys)."""

from django.urls import path

from abvlmq_web.lti import views

urlpatterns = [
    path("", views.setup, name="lti-setup"),
    path("jwks/", views.jwks, name="lti-jwks"),
    path("login/", views.LoginInit.as_view(), name="lti-login"),
    path("login/<uuid:registration_uuid>/", views.LoginInit.as_view(), name="lti-login-uuid"),
    path("launch/", views.Launch.as_view(), name="lti-launch"),
    path("deep-link/", views.DeepLinkChoice.as_view(), name="lti-deep-link"),
    path("links/<int:resource_link_id>/", views.LinkChoice.as_view(), name="lti-link"),
]
