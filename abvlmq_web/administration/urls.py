from django.urls import path

from abvlmq_web.administration import views

urlpatterns = [
    path("rubrics/", views.rubrics, name="admin-rubrics"),
    path("rubrics/<int:rubric_id>/", views.rubric_detail, name="admin-rubric"),
    path("rubrics/<int:rubric_id>/activate/", views.rubric_activate, name="admin-rubric-activate"),
    path("models/", views.models, name="admin-models"),
    path("rubrics/shipped/", views.rubric_shipped, name="admin-rubric-shipped"),
    path("models/<int:model_id>/activate/", views.model_activate_view, name="admin-model-activate"),
    path("models/<int:model_id>/delete/", views.model_delete_view, name="admin-model-delete"),
    path("models/settings/", views.model_settings_view, name="admin-model-settings"),
]
