from django.urls import path

from abvlmq_web.cine import apis

urlpatterns = [
    path("scans/<int:scan_id>/clip/", apis.ClipApi.as_view(), name="api-clip"),
    path("scans/<int:scan_id>/clip.mp4", apis.ClipVideoApi.as_view(), name="api-clip-video"),
    path(
        "scans/<int:scan_id>/clip/frames/<int:index>.png",
        apis.ClipFrameImageApi.as_view(),
        name="api-clip-frame",
    ),
]
