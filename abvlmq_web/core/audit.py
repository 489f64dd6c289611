"""The audit log's one writer: every app that records who did what calls ``audit_record``.

The ``AuditLog`` table belongs to the competency app (its pages read it); core reaches it by
app label so that apps below competency (review) can write to it without importing upwards.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps


def audit_record(
    *,
    actor,
    action: str,
    cohort=None,
    subject=None,
    details: dict[str, Any] | None = None,
):
    """Write one ``competency.AuditLog`` row (``actor``, ``subject``: users; ``cohort``)."""
    return apps.get_model("competency", "AuditLog").objects.create(
        actor=actor,
        actor_name=actor.display_name,
        action=action,
        cohort=cohort,
        subject=subject,
        details=dict(details or {}),
    )
