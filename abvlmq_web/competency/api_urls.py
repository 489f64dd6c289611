from django.urls import path

from abvlmq_web.competency import apis

urlpatterns = [
    path(
        "competency/cohorts/<int:cohort_id>/",
        apis.CohortCompetencyApi.as_view(),
        name="api-competency-cohort",
    ),
    path(
        "competency/residents/<int:resident_id>/",
        apis.ResidentCompetencyApi.as_view(),
        name="api-competency-resident",
    ),
    path(
        "competency/residents/<int:resident_id>/signoffs/",
        apis.SignOffApi.as_view(),
        name="api-competency-signoff",
    ),
]
