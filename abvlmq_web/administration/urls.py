from django.urls import path

from abvlmq_web.administration import views

urlpatterns = [
    path("rubrics/", views.rubrics, name="admin-rubrics"),
    path("rubrics/<int:rubric_id>/", views.rubric_detail, name="admin-rubric"),
    path("rubrics/<int:rubric_id>/activate/", views.rubric_activate, name="admin-rubric-activate"),
    path("models/", views.models, name="admin-models"),
    path("models/<int:model_id>/activate/", views.model_activate_view, name="admin-model-activate"),
]
