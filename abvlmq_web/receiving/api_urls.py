from django.urls import path

from abvlmq_web.receiving import apis

urlpatterns = [
    path("scans/<int:scan_id>/report.dcm", apis.ScanReportApi.as_view(), name="api-scan-sr"),
    path("scans/<int:scan_id>/image.dcm", apis.ScanImageDicomApi.as_view(), name="api-scan-dicom"),
    path("inbox/", apis.InboxListApi.as_view(), name="api-inbox"),
    path("inbox/<int:entry_id>/image/", apis.InboxImageApi.as_view(), name="api-inbox-image"),
    path("inbox/<int:entry_id>/claim/", apis.InboxClaimApi.as_view(), name="api-inbox-claim"),
    path("inbox/<int:entry_id>/assign/", apis.InboxAssignApi.as_view(), name="api-inbox-assign"),
    path("scanner-names/", apis.ScannerNameListApi.as_view(), name="api-scanner-names"),
    path(
        "scanner-names/<int:name_id>/",
        apis.ScannerNameDetailApi.as_view(),
        name="api-scanner-name",
    ),
]
