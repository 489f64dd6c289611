from django.urls import path

from abvlmq_web.administration import apis

urlpatterns = [
    path("rubrics/", apis.RubricListApi.as_view(), name="api-rubrics"),
    path("rubrics/<int:rubric_id>/", apis.RubricDetailApi.as_view(), name="api-rubric"),
    path(
        "rubrics/<int:rubric_id>/activate/",
        apis.RubricActivateApi.as_view(),
        name="api-rubric-activate",
    ),
    path("models/", apis.ModelListApi.as_view(), name="api-models"),
    path(
        "models/<int:model_id>/activate/",
        apis.ModelActivateApi.as_view(),
        name="api-model-activate",
    ),
]
