"""Reads of the receiving app."""

from __future__ import annotations

from django.db.models import QuerySet

from abvlmq_web.accounts.models import User
from abvlmq_web.receiving.models import InboxEntry, ScannerName


def inbox_for(*, user: User) -> QuerySet[InboxEntry]:
    """The program's unclaimed scans: every signed-in member sees them (only the de-identified
    image and the time received), so a resident can find her own."""
    if not user.is_authenticated or not user.is_active:
        return InboxEntry.objects.none()
    return InboxEntry.objects.filter(scan__owner__isnull=True).select_related("scan")


def scanner_names_of(*, resident: User) -> QuerySet[ScannerName]:
    return ScannerName.objects.filter(resident=resident)
