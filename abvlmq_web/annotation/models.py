"""Annotation campaigns: each scan read by two readers independently, then agreed or adjudicated.

An *answer* (``ReaderRecord.answer``, ``CampaignScan.final_answer``) is one JSON object in the
shape review stores a correction in (``review.Correction``: planes, boxes on the 0-1000 grid,
deductions with reasons, the rubric's score and grade)::

    {"planes": ["GB"],
     "structures": [{"id": "gallbladder", "box": [300, 420, 640, 610]}, ...],
     "deductions": [{"item": "ATT.mild", "reason": "...", "box": null}, ...],
     "score": 8.0, "grade": "Excellent", "rubric_version": "r-..."}

It passes review's validation (``review.assessments.clean_answer``: every key structure boxed or
deducted, then the annotation record check the trainer's data passes), so a final answer is
valid training data as it stands.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Start(models.TextChoices):
    """What a reader's editor opens with."""

    MODEL = "model", "the model's answer"
    BLANK = "blank", "a blank image"


class Campaign(models.Model):
    class Source(models.TextChoices):
        ARCHIVE = "archive", "scans already in the archive"
        IMPORT = "import", "imported files"

    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    readers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="reading_campaigns",
        help_text="Exactly two: each reads every scan of the campaign, independently",
    )
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudicating_campaigns"
    )
    start_from = models.CharField(max_length=10, choices=Start.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    source_detail = models.JSONField(
        default=dict, help_text="The archive filter used, or what the import held (counts)"
    )
    rubric_version = models.CharField(
        max_length=100, help_text="The rubric readers score by (the one in force at creation)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class CampaignScan(models.Model):
    class State(models.TextChoices):
        READING = "reading", "being read"
        AGREED = "agreed", "agreed"
        DISPUTED = "disputed", "waiting for the adjudicator"
        ADJUDICATED = "adjudicated", "adjudicated"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    scan = models.ForeignKey("scans.Scan", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=12, choices=State.choices, default=State.READING)
    final_answer = models.JSONField(
        null=True, blank=True, help_text="The consensus or adjudicated answer; null until then"
    )
    final_at = models.DateTimeField(null=True, blank=True)
    adjudicated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    comparison = models.JSONField(
        default=dict, help_text="How the two records compared (annotation.agreement.compare)"
    )

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "scan"], name="one_scan_per_campaign")
        ]

    def __str__(self) -> str:
        return f"Scan {self.scan_id} in campaign {self.campaign_id} ({self.state})"


class ReaderRecord(models.Model):
    campaign_scan = models.ForeignKey(
        CampaignScan, on_delete=models.CASCADE, related_name="records"
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reader_records"
    )
    started_from = models.CharField(max_length=10, choices=Start.choices)
    started_model = models.CharField(
        max_length=300, blank=True, help_text="The model whose answer the editor opened with"
    )
    answer = models.JSONField(
        null=True, blank=True, help_text="The reader's answer; null until she submits it"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign_scan", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign_scan", "reader"], name="one_record_per_reader"
            )
        ]

    def __str__(self) -> str:
        return f"Record of {self.reader_id} on {self.campaign_scan_id}"

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None
