"""Review of the AI's assessments: corrections stored beside the answer, disputes, sampling.

A Correction never touches the Analysis: it holds the reviewer's whole assessment (planes,
boxes on the 0-1000 grid, deduction items with reasons) and the score the rubric gives it.
An analysis may be corrected more than once; the latest correction is the one in force and
the earlier ones are its history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Correction(models.Model):
    analysis = models.ForeignKey(
        "scans.Analysis", on_delete=models.CASCADE, related_name="corrections"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrections"
    )
    planes = models.JSONField(default=list)
    structures = models.JSONField(default=list, help_text='[{"id": ..., "box": [x1,y1,x2,y2]}]')
    deductions = models.JSONField(
        default=list, help_text='[{"item": ..., "reason": ..., "box": [..] or null}]'
    )
    score = models.FloatField()
    grade = models.CharField(max_length=40)
    rubric_version = models.CharField(max_length=100, help_text="The rubric that scored it")
    confirmed = models.BooleanField(
        help_text="Nothing changed from the AI's answer (planes, deductions and boxes): the "
        "reviewer confirms it; any change is a correction"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["analysis", "-created_at"])]

    def __str__(self) -> str:
        return f"Correction of analysis {self.analysis_id} by {self.reviewer_id}"


class Dispute(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    analysis = models.ForeignKey(
        "scans.Analysis", on_delete=models.CASCADE, related_name="disputes"
    )
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="disputes"
    )
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["analysis"],
                condition=models.Q(status="open"),
                name="one_open_dispute",
            )
        ]

    def __str__(self) -> str:
        return f"Dispute of analysis {self.analysis_id} ({self.status})"


class ReviewPolicy(models.Model):
    """The program's sampling rate: this share of all finished analyses goes to review even
    when nothing flagged them. One row (pk 1)."""

    sampling_rate = models.FloatField(default=0.1, help_text="0 to 1")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "review policy"

    def __str__(self) -> str:
        return f"Sampling {self.sampling_rate:.0%}"
