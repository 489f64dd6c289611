from django.urls import path

from abvlmq_web.live import views

urlpatterns = [
    path("", views.live_page, name="live"),
    path("watch/<int:user_id>/", views.watch_page, name="live-watch"),
]
