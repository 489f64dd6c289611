from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from abvlmq_web.accounts.apis import MeApi, TokenObtainApi, TokenRevokeApi
from abvlmq_web.curriculum.apis import AssignmentDetailApi, AssignmentListApi
from abvlmq_web.receiving.apis import StowApi
from abvlmq_web.scans.apis import ScanDetailApi, ScanImageApi, ScanListApi

api = [
    path("auth/token/", TokenObtainApi.as_view(), name="api-token"),
    path("auth/logout/", TokenRevokeApi.as_view(), name="api-logout"),
    path("me/", MeApi.as_view(), name="api-me"),
    path("scans/", ScanListApi.as_view(), name="api-scans"),
    path("scans/<int:scan_id>/", ScanDetailApi.as_view(), name="api-scan"),
    path("scans/<int:scan_id>/image/", ScanImageApi.as_view(), name="api-scan-image"),
    path("assignments/", AssignmentListApi.as_view(), name="api-assignments"),
    path("assignments/<int:assignment_id>/", AssignmentDetailApi.as_view(), name="api-assignment"),
    path("", include("abvlmq_web.review.api_urls")),
    path("", include("abvlmq_web.progress.api_urls")),
    path("", include("abvlmq_web.competency.api_urls")),
    path("", include("abvlmq_web.administration.api_urls")),
    path("", include("abvlmq_web.receiving.api_urls")),
    path("", include("abvlmq_web.cine.api_urls")),
    path("", include("abvlmq_web.datasets.api_urls")),
    path("", include("abvlmq_web.annotation.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script as a file; Swagger UI still writes <style> elements,
    # so this page alone allows inline styles (never inline scripts).
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("dicomweb/studies", StowApi.as_view(), name="dicomweb-stow"),
    path("accounts/", include("abvlmq_web.accounts.urls")),
    path("sso/", include("abvlmq_web.sso.urls")),
    path("sso/", include("allauth.socialaccount.providers.saml.urls")),  # sso/saml/<org>/...
    path("lti/", include("abvlmq_web.lti.urls")),
    path("", include("abvlmq_web.scans.urls")),
    path("", include("abvlmq_web.operations.urls")),
    path("review/", include("abvlmq_web.review.urls")),
    path("inbox/", include("abvlmq_web.receiving.urls")),
    path("assignments/", include("abvlmq_web.curriculum.urls")),
    path("notifications/", include("abvlmq_web.notifications.urls")),
    path("competency/", include("abvlmq_web.competency.urls")),
    path("administration/", include("abvlmq_web.administration.urls")),
    path("datasets/", include("abvlmq_web.datasets.urls")),
    path("annotation/", include("abvlmq_web.annotation.urls")),
    path("live/", include("abvlmq_web.live.urls")),
    path("", include("abvlmq_web.progress.urls")),
]
