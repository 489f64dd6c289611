"""Notifications: what happened that a user should know (a correction, a dispute answered, a
sign-off, a request, an assignment set or due, an annotation campaign that names one, a
scan sent to one's adjudication), shown in the app and sent by email, each kind
on each channel switched off by the user if she wants."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Kind(models.TextChoices):
    REVIEWED = "reviewed", "An instructor reviewed one of my scans"
    DISPUTE_ANSWERED = "dispute_answered", "A dispute of mine was answered"
    SIGNOFF = "signoff", "A requirement of mine was signed off, or a sign-off taken back"
    SIGNOFF_REQUEST = "signoff_request", "A resident asks me for a sign-off"
    ASSIGNMENT = "assignment", "A new assignment for me"
    ASSIGNMENT_DUE = "assignment_due", "An assignment of mine is due soon"
    CAMPAIGN = "campaign", "An annotation campaign names me as a reader or its adjudicator"
    ADJUDICATION = "adjudication", "A campaign's scan waits for my adjudication"


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    text = models.CharField(max_length=500)
    url = models.CharField(max_length=300, blank=True)
    key = models.CharField(
        max_length=200, blank=True, help_text="Set for reminders: one per user and key, ever"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"], condition=~models.Q(key=""), name="one_reminder_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.text}"


class Preference(models.Model):
    """A kind a user switched off, on one channel. No row: on."""

    class Channel(models.TextChoices):
        APP = "app"
        EMAIL = "email"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_offs"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "channel"], name="one_pref_row")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind} off by {self.channel}"
