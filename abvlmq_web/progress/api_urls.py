from django.urls import path

from abvlmq_web.progress import apis

urlpatterns = [
    path(
        "analyses/<int:analysis_id>/self-assessment/",
        apis.SelfAssessmentApi.as_view(),
        name="api-self-assessment",
    ),
    path("practice/", apis.PracticeApi.as_view(), name="api-practice"),
    path(
        "progress/residents/<int:resident_id>/",
        apis.ResidentProgressApi.as_view(),
        name="api-progress-resident",
    ),
]
