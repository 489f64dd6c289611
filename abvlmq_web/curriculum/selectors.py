"""Reads on assignments: who sees which. How far a resident has got on one reads scans and
reviews, so it lives above them: progress.selectors.assignments."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.curriculum.models import Assignment


def assignments_for(*, user: User) -> QuerySet[Assignment]:
    """Assignments of the cohorts ``user`` belongs to (resident: the cohort's and her own) or
    instructs (instructor: all of them)."""
    rows = Assignment.objects.filter(cohort__in=visible_cohorts(user=user))
    if user.is_resident:
        rows = rows.filter(Q(resident__isnull=True) | Q(resident=user))
    return rows.select_related("cohort", "resident")


def assignments_of(*, cohort, resident: User) -> QuerySet[Assignment]:
    """What ``resident`` must do in ``cohort``: the cohort's assignments and her own."""
    return Assignment.objects.filter(cohort=cohort).filter(
        Q(resident__isnull=True) | Q(resident=resident)
    )
