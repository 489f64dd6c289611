"""Names residents use on the scanner, and received scans that no name matched (the inbox).

A received scan is an ordinary ``scans.Scan`` from the moment it arrives (the same intake as an
upload made it); one that no registered name matched has no owner yet and an ``InboxEntry``
until a resident claims it or an instructor assigns it. Nothing here holds a patient's or an
operator's name from a DICOM header: ``ScannerName`` is what the resident typed on her profile.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ScannerName(models.Model):
    """A name a resident enters on the scanner (Operators' or Performing Physician's Name)."""

    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scanner_names"
    )
    name = models.CharField(max_length=200, help_text="As the resident typed it")
    key = models.CharField(
        max_length=200, unique=True, help_text="matching.name_key(name): one resident a name"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resident", "name"]

    def __str__(self) -> str:
        return self.name


class InboxEntry(models.Model):
    """A received scan waiting for its resident. Only the de-identified image and the time
    received are shown; ``source`` says how it came (C-STORE or STOW-RS), not from whom."""

    class Source(models.TextChoices):
        C_STORE = "c-store", "DICOM C-STORE"
        STOW_RS = "stow-rs", "DICOMweb STOW-RS"

    scan = models.OneToOneField("scans.Scan", on_delete=models.CASCADE, related_name="inbox")
    source = models.CharField(max_length=10, choices=Source.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "inbox entries"

    def __str__(self) -> str:
        return f"Inbox {self.pk} (scan {self.scan_id})"
