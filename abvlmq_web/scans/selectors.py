"""Reads on scans, always through the cohort rules of accounts.selectors."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_users
from abvlmq_web.scans.models import Analysis, AnalysisEvent, Scan


def scans_for(*, user: User) -> QuerySet[Scan]:
    """The scans ``user`` may see: her own, her cohorts' (instructor), all (program admin)."""
    return Scan.objects.filter(owner__in=visible_users(user=user)).select_related(
        "analysis", "owner", "assignment"
    )


def visible_analysis(user: User, analysis_id: int) -> Analysis:
    """The analysis of a scan ``user`` may see; 404 otherwise (outsiders learn nothing)."""
    return get_object_or_404(
        Analysis.objects.select_related("scan", "scan__owner").filter(
            scan__in=scans_for(user=user)
        ),
        pk=analysis_id,
    )


def scan_visible(*, user: User, scan_id: int) -> bool:
    return scans_for(user=user).filter(pk=scan_id).exists()


def scan_events(*, scan_id: int, after: int = 0, before: int | None = None) -> list[dict]:
    """The saved events of a scan's analysis as websocket messages, in order."""
    events = AnalysisEvent.objects.filter(analysis__scan_id=scan_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    return [e.as_message() for e in events.order_by("seq")]


def queue_position(*, analysis: Analysis) -> int | None:
    """How many analyses wait or run ahead of this queued one (0: it is next); None once it
    has started. Counted over every user's scans: the worker takes them in order."""
    if analysis.status != Analysis.Status.QUEUED:
        return None
    return (
        Analysis.objects.filter(
            status__in=[Analysis.Status.QUEUED, Analysis.Status.RUNNING],
            created_at__lte=analysis.created_at,
        )
        .exclude(pk=analysis.pk)
        .exclude(status=Analysis.Status.QUEUED, created_at=analysis.created_at, pk__gt=analysis.pk)
        .count()
    )


def review_reasons(analysis: Analysis) -> list[str]:
    """Why the AI sent this scan to an instructor, in words (empty when it did not)."""
    if analysis.status != Analysis.Status.DONE or not analysis.needs_review:
        return []
    reasons = (analysis.result or {}).get("review_reasons") or []
    return [str(r) for r in reasons if isinstance(r, str)][:4]


def status_text(analysis: Analysis, reviewed: dict | None = None) -> str:
    """The status pill of the scan page, the same on a reload as after a live finish."""
    if reviewed is not None:
        verb = "confirmed" if reviewed["confirmed"] else "corrected"
        if getattr(analysis, "abstained", False):
            verb = "assessed"  # the AI declined it: the instructor's is the only assessment
        return f"{verb} by {reviewed['reviewer']}"
    if analysis.status == Analysis.Status.DONE and getattr(analysis, "abstained", False):
        return "not assessed · sent to an instructor"
    if analysis.status == Analysis.Status.DONE and analysis.needs_review:
        return "done · needs instructor review"
    return analysis.status
