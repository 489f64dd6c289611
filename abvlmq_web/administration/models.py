"""Rubric versions and registered models: what the workers score with.

At most one of each is active. Nothing here is ever edited in place once analyses may point
at it: a rubric version is named by the content hash scoring computes (editing = a new
version), and an analysis keeps the version string it was scored under.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Activatable(models.Model):
    """Who added a version and when, and whether it is the one in force (at most one is)."""

    is_active = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class RubricVersion(Activatable):
    version = models.CharField(max_length=100, unique=True, help_text="scoring's content hash")
    name = models.CharField(max_length=200)
    text = models.TextField(help_text="The rubric YAML, exactly as uploaded")
    note = models.TextField(blank=True)

    class Meta(Activatable.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_rubric"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"


class ModelVersion(Activatable):
    """A model a worker can load: a base checkpoint, optionally a LoRA adapter, its report."""

    name = models.CharField(max_length=200, unique=True)
    base_path = models.CharField(max_length=500, help_text="Qwen2-VL checkpoint folder")
    adapter_path = models.CharField(max_length=500, blank=True, help_text="LoRA adapter folder")
    evaluation_report = models.JSONField(
        default=dict, blank=True, help_text="trainer's evaluation report (JSON)"
    )
    note = models.TextField(blank=True)
    probe = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the registration check found: the model loaded and its probe answer",
    )

    class Meta(Activatable.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        return self.name
