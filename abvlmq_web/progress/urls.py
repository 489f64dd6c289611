from django.urls import path

from abvlmq_web.progress import views

urlpatterns = [
    path("progress/", views.my_progress, name="progress"),
    path(
        "progress/residents/<int:resident_id>/", views.resident_progress, name="progress-resident"
    ),
    path("progress/cohorts/", views.cohorts, name="progress-cohorts"),
    path("progress/cohorts/<int:cohort_id>/", views.cohort_progress, name="progress-cohort"),
    path("progress/preference/", views.preference, name="progress-preference"),
    path("progress/practice/", views.practice, name="progress-practice"),
    path("remediation/<str:item_id>/", views.remediation, name="remediation"),
    path("examples/", views.examples, name="examples"),
    path("examples/<int:scan_id>/image/", views.example_image, name="example-image"),
    path("examples/<int:scan_id>/publish/", views.publish, name="example-publish"),
]
