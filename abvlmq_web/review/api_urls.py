from django.urls import path

from abvlmq_web.review import apis

urlpatterns = [
    path(
        "analyses/<int:analysis_id>/corrections/",
        apis.CorrectionListApi.as_view(),
        name="api-corrections",
    ),
    path(
        "analyses/<int:analysis_id>/corrections/confirm/",
        apis.CorrectionConfirmApi.as_view(),
        name="api-correction-confirm",
    ),
    path("analyses/<int:analysis_id>/disputes/", apis.DisputeApi.as_view(), name="api-disputes"),
    path("review/queue/", apis.QueueApi.as_view(), name="api-review-queue"),
    path("review/agreement/", apis.AgreementApi.as_view(), name="api-review-agreement"),
    path(
        "review/corrections.jsonl",
        apis.CorrectionsExportApi.as_view(),
        name="api-corrections-export",
    ),
]
