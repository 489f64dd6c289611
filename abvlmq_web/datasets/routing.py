from django.urls import path

from abvlmq_web.datasets.consumers import TrainingRunConsumer

websocket_urlpatterns = [
    path("ws/training-runs/<int:run_id>/", TrainingRunConsumer.as_asgi()),
]
