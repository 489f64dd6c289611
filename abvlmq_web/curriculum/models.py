"""Assignments: what a cohort must scan, how many, how well, by when."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Assignment(models.Model):
    cohort = models.ForeignKey(
        "accounts.Cohort", on_delete=models.CASCADE, related_name="assignments"
    )
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="own_assignments",
        help_text="Set for one resident of the cohort only; empty: the whole cohort",
    )
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    target_planes = models.JSONField(default=list, help_text="Rubric plane codes, e.g. ['GB']")
    scan_count = models.PositiveIntegerField(default=1)
    min_grade = models.CharField(max_length=40, help_text="A rubric grade name, e.g. Good")
    due_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_date", "id"]

    def __str__(self) -> str:
        return self.title
