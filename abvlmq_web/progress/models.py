"""What a resident says about her own scan before she sees the AI's, her preference for that,
and personal practice assignments (one click from a deduction's remediation)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SelfAssessment(models.Model):
    analysis = models.OneToOneField(
        "scans.Analysis", on_delete=models.CASCADE, related_name="self_assessment"
    )
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="self_assessments"
    )
    skipped = models.BooleanField(default=False, help_text="She chose to see the AI's answer")
    planes = models.JSONField(default=list)
    score = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Self-assessment of analysis {self.analysis_id}"


class LearnerPreference(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="learner_preference"
    )
    self_assess_first = models.BooleanField(
        default=False, help_text="Hide the AI's answer until I have given mine"
    )

    def __str__(self) -> str:
        return f"Preferences of {self.user_id}"


class PracticeAssignment(models.Model):
    """N more scans of one plane at or above a grade, for one resident."""

    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_assignments"
    )
    plane = models.CharField(max_length=8)
    scan_count = models.PositiveIntegerField(default=3)
    min_grade = models.CharField(max_length=40, default="Excellent")
    reason_item = models.CharField(max_length=100, blank=True, help_text="The deduction behind it")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Practice {self.plane} x{self.scan_count} for {self.resident_id}"


class TeachingExample(models.Model):
    """A scan an instructor put up as an example of its plane: shown to the residents of the
    cohort it is published to (every cohort when published by a program admin to none)."""

    scan = models.ForeignKey("scans.Scan", on_delete=models.CASCADE, related_name="+")
    plane = models.CharField(max_length=8)
    cohort = models.ForeignKey(
        "accounts.Cohort", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "plane", "cohort"], name="one_example")
        ]

    def __str__(self) -> str:
        return f"Example of {self.plane}: scan {self.scan_id}"
