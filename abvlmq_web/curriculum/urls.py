from django.urls import path

from abvlmq_web.curriculum import views

urlpatterns = [
    path("", views.assignment_list, name="assignments"),
    path("new/", views.assignment_edit, name="assignment-new"),
    path("<int:assignment_id>/edit/", views.assignment_edit, name="assignment-edit"),
]
