"""Competency records: requirement sets as data, sign-offs, and the audit log of exports.

A requirement reads "for plane P: N scans at or above grade G, of which M verified by an
instructor". A set applies to the cohorts it names; a resident answers to the sets of her
cohorts. Status is computed (selectors), never stored; only the sign-off is a fact.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RequirementSet(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, help_text="e.g. the guideline it mirrors")
    allow_ai_evidence = models.BooleanField(
        default=False,
        help_text="Scans only the AI assessed count toward N (by default only scans an "
        "instructor confirmed or corrected do); pages and exports say so on every row",
    )
    cohorts = models.ManyToManyField("accounts.Cohort", related_name="requirement_sets", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Requirement(models.Model):
    requirement_set = models.ForeignKey(
        RequirementSet, on_delete=models.CASCADE, related_name="requirements"
    )
    plane = models.CharField(max_length=8, help_text="Rubric plane code, e.g. GB")
    min_count = models.PositiveIntegerField(help_text="N: scans at or above min_grade")
    min_grade = models.CharField(max_length=40, help_text="A rubric grade name, e.g. Good")
    verified_count = models.PositiveIntegerField(
        default=0, help_text="M: how many of the N an instructor reviewed"
    )

    class Meta:
        ordering = ["requirement_set", "plane"]
        constraints = [
            models.UniqueConstraint(fields=["requirement_set", "plane"], name="one_rule_per_plane"),
            models.CheckConstraint(
                condition=models.Q(verified_count__lte=models.F("min_count")),
                name="verified_within_count",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.plane}: {self.min_count} >= {self.min_grade} ({self.verified_count} verified)"
        )


class SignOff(models.Model):
    requirement = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="signoffs")
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signoffs"
    )
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signer_name = models.CharField(max_length=200, help_text="As signed, kept if the user goes")
    signed_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)
    attested = models.JSONField(
        default=dict,
        blank=True,
        help_text="What was attested: the requirement set (id, name, last change) and the "
        "requirement's terms, with the counts at the time",
    )

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(fields=["requirement", "resident"], name="one_signoff")
        ]

    def __str__(self) -> str:
        return f"{self.requirement} signed off by {self.signer_name}"


class SignOffRequest(models.Model):
    """A resident asks a named instructor to attest a requirement she has met."""

    class Status(models.TextChoices):
        OPEN = "open"
        ATTESTED = "attested"
        WITHDRAWN = "withdrawn"

    requirement = models.ForeignKey(
        Requirement, on_delete=models.CASCADE, related_name="signoff_requests"
    )
    resident = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signoff_requests"
    )
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signoff_requests_to_me"
    )
    message = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["requirement", "resident"],
                condition=models.Q(status="open"),
                name="one_open_signoff_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.resident_id} asks {self.instructor_id} to sign off {self.requirement}"


class AuditLog(models.Model):
    """Who exported or changed what, when. Append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name = models.CharField(max_length=200)
    action = models.CharField(
        max_length=60
    )  # e.g. export.pdf, export.csv, signoff, rubric.activate
    cohort = models.ForeignKey(
        "accounts.Cohort", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The resident the record is about",
    )
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"
