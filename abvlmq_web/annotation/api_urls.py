from django.urls import path

from abvlmq_web.annotation import apis

urlpatterns = [
    path("annotation/campaigns/", apis.CampaignListApi.as_view(), name="api-annotation-campaigns"),
    path(
        "annotation/campaigns/import/",
        apis.CampaignImportApi.as_view(),
        name="api-annotation-import",
    ),
    path(
        "annotation/campaigns/<int:campaign_id>/",
        apis.CampaignDetailApi.as_view(),
        name="api-annotation-campaign",
    ),
    path(
        "annotation/campaigns/<int:campaign_id>/queue/",
        apis.QueueApi.as_view(),
        name="api-annotation-queue",
    ),
    path(
        "annotation/campaigns/<int:campaign_id>/close/",
        apis.CampaignCloseApi.as_view(),
        name="api-annotation-close",
    ),
    path("annotation/items/<int:item_id>/", apis.ItemApi.as_view(), name="api-annotation-item"),
    path(
        "annotation/items/<int:item_id>/image/",
        apis.ItemImageApi.as_view(),
        name="api-annotation-image",
    ),
    path(
        "annotation/items/<int:item_id>/record/",
        apis.MyRecordApi.as_view(),
        name="api-annotation-record",
    ),
    path(
        "annotation/items/<int:item_id>/records/",
        apis.ItemRecordsApi.as_view(),
        name="api-annotation-records",
    ),
    path(
        "annotation/items/<int:item_id>/adjudication/",
        apis.AdjudicationApi.as_view(),
        name="api-annotation-adjudication",
    ),
    path(
        "annotation/records/<int:record_id>/",
        apis.RecordApi.as_view(),
        name="api-annotation-record-detail",
    ),
]
