from django.urls import path

from abvlmq_web.live.consumers import LiveConsumer, LiveWatchConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/live/watch/<int:user_id>/", LiveWatchConsumer.as_asgi()),
]
