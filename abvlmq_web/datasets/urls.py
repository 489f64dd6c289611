from django.urls import path

from abvlmq_web.datasets import views

urlpatterns = [
    path("", views.datasets, name="datasets"),
    path("<int:version_id>/", views.dataset, name="dataset"),
    path("<int:version_id>/export.zip", views.dataset_export, name="dataset-export"),
    path("<int:version_id>/runs/", views.run_create, name="dataset-run-create"),
    path("runs/<int:run_id>/", views.training_run, name="training-run"),
    path("runs/<int:run_id>/cancel/", views.training_run_cancel, name="training-run-cancel"),
]
