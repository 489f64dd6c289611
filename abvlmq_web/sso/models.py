"""How an identity provider's claims give a user of AbVLM-Q a role and cohorts.

A program admin keeps one rule per group (or any claim's value) in the admin: a user whose
claims match no rule is refused at the door, with no account made. Several rules may match one
user: she takes the highest role among them (program admin, then instructor, then resident) and
every cohort they name.
"""

from __future__ import annotations

from django.db import models

from abvlmq_web.accounts.models import Cohort, Role

ANY_PROVIDER = "*"


class ClaimRule(models.Model):
    provider = models.CharField(
        max_length=100,
        default=ANY_PROVIDER,
        help_text="The provider's id as configured (e.g. 'hospital'), or * for every provider.",
    )
    claim = models.CharField(
        max_length=100,
        default="groups",
        help_text="The claim (OIDC) or attribute (SAML) to read, e.g. groups, roles.",
    )
    value = models.CharField(max_length=255, help_text="The value that grants the role.")
    role = models.CharField(max_length=20, choices=Role.choices)
    cohort = models.ForeignKey(
        Cohort,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claim_rules",
        help_text="The cohort the user joins (as a resident or an instructor), if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "claim", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "claim", "value"], name="sso_claim_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.claim} = {self.value} -> {self.get_role_display()}"
