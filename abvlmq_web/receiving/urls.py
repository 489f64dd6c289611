from django.urls import path

from abvlmq_web.receiving import views

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:entry_id>/claim/", views.inbox_claim_view, name="inbox-claim"),
    path("<int:entry_id>/assign/", views.inbox_assign_view, name="inbox-assign"),
    path("names/", views.scanner_names, name="scanner-names"),
]
