from django.urls import path

from abvlmq_web.annotation import views

urlpatterns = [
    path("", views.campaigns, name="annotation"),
    path("new/", views.campaign_new, name="annotation-new"),
    path("<int:campaign_id>/", views.campaign, name="annotation-campaign"),
    path("<int:campaign_id>/close/", views.campaign_close, name="annotation-close"),
    path("scans/<int:item_id>/read/", views.read, name="annotation-read"),
    path("scans/<int:item_id>/adjudicate/", views.adjudicate, name="annotation-adjudicate"),
]
