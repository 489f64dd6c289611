from django.urls import path

from abvlmq_web.scans import views

urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("scans/<int:scan_id>/", views.scan_page, name="scan"),
    path("scans/<int:scan_id>/panel/", views.scan_panel, name="scan-panel"),
    path("cohort/", views.cohort, name="cohort"),
    path("scans/", views.my_scans, name="my-scans"),
]
