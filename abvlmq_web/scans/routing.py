from django.urls import path

from abvlmq_web.scans.consumers import ScanConsumer, UploadProgressConsumer

websocket_urlpatterns = [
    path("ws/scans/<int:scan_id>/", ScanConsumer.as_asgi()),
    path("ws/uploads/<str:key>/", UploadProgressConsumer.as_asgi()),
]
