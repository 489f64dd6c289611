from django.urls import path

from abvlmq_web.notifications import views

urlpatterns = [
    path("", views.index, name="notifications"),
    path("preferences/", views.preferences, name="notification-preferences"),
]
