from django.urls import path

from abvlmq_web.datasets import apis

urlpatterns = [
    path("dataset-versions/", apis.VersionListApi.as_view(), name="api-dataset-versions"),
    path(
        "dataset-versions/<int:version_id>/",
        apis.VersionDetailApi.as_view(),
        name="api-dataset-version",
    ),
    path(
        "dataset-versions/<int:version_id>/export/",
        apis.VersionExportApi.as_view(),
        name="api-dataset-export",
    ),
    path(
        "dataset-versions/<int:version_id>/runs/",
        apis.RunListApi.as_view(),
        name="api-dataset-runs",
    ),
    path("training-runs/<int:run_id>/", apis.RunDetailApi.as_view(), name="api-training-run"),
    path(
        "training-runs/<int:run_id>/cancel/",
        apis.RunCancelApi.as_view(),
        name="api-training-run-cancel",
    ),
]
