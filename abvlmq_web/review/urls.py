from django.urls import path

from abvlmq_web.review import views

urlpatterns = [
    path("", views.queue, name="review-queue"),
    path("agreement/", views.agreement, name="review-agreement"),
    path("sampling/", views.sampling, name="review-sampling"),
]
