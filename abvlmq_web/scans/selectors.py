"""Reads on scans, always through the cohort rules of accounts.selectors."""

from __future__ import annotations

from django.db.models import QuerySet

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_users
from abvlmq_web.scans.models import AnalysisEvent, Scan


def scans_for(*, user: User) -> QuerySet[Scan]:
    """The scans ``user`` may see: her own, her cohorts' (instructor), all (program admin)."""
    return Scan.objects.filter(owner__in=visible_users(user=user)).select_related(
        "analysis", "owner", "assignment"
    )


def scan_visible(*, user: User, scan_id: int) -> bool:
    return scans_for(user=user).filter(pk=scan_id).exists()


def scan_events(*, scan_id: int, after: int = 0, before: int | None = None) -> list[dict]:
    """The saved events of a scan's analysis as websocket messages, in order."""
    events = AnalysisEvent.objects.filter(analysis__scan_id=scan_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [e.as_message() for e in events.order_by("seq")]
