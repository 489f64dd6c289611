from django.urls import path

from abvlmq_web.competency import views

urlpatterns = [
    path("", views.index, name="competency"),
    path("cohorts/<int:cohort_id>/", views.cohort_page, name="competency-cohort"),
    path(
        "cohorts/<int:cohort_id>/export.<str:fmt>",
        views.cohort_export,
        name="competency-cohort-export",
    ),
    path("residents/<int:resident_id>/", views.resident_page, name="competency-resident"),
    path("residents/<int:resident_id>/packet.pdf", views.resident_packet, name="competency-packet"),
    path(
        "residents/<int:resident_id>/signoff/<int:requirement_id>/",
        views.signoff,
        name="competency-signoff",
    ),
    path(
        "requests/<int:requirement_id>/",
        views.signoff_request_view,
        name="competency-signoff-request",
    ),
    path("signoffs/<int:signoff_id>/undo/", views.signoff_undo_view, name="competency-undo"),
    path("requirements/", views.requirement_sets, name="competency-sets"),
    path("requirements/new/", views.requirement_set_edit, name="competency-set-new"),
    path("requirements/<int:set_id>/", views.requirement_set_edit, name="competency-set"),
    path("audit/", views.audit, name="competency-audit"),
]
