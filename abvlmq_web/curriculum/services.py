"""Writes on assignments."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.curriculum.models import Assignment
from scoring.rubric import default_rubric


@transaction.atomic
def assignment_create(
    *,
    created_by: User,
    cohort: Cohort,
    title: str,
    target_planes: list[str],
    scan_count: int = 1,
    min_grade: str,
    due_date: dt.date | None = None,
    instructions: str = "",
) -> Assignment:
    if not (created_by.is_instructor or created_by.is_program_admin):
        raise PermissionDenied("Only instructors and program admins set assignments.")
    if not visible_cohorts(user=created_by).filter(pk=cohort.pk).exists():
        raise PermissionDenied("You do not instruct this cohort.")
    rubric = default_rubric()
    errors: dict[str, str] = {}
    unknown = [p for p in target_planes if p not in rubric.planes]
    if not target_planes or unknown:
        errors["target_planes"] = (
            f"Unknown plane code(s) {', '.join(unknown)}." if unknown else "Name a plane."
        )
    if min_grade not in rubric.grade_names():
        errors["min_grade"] = f"Choose one of {', '.join(rubric.grade_names())}."
    if scan_count < 1:
        errors["scan_count"] = "At least one scan."
    if errors:
        raise ValidationError(errors)
    return Assignment.objects.create(
        cohort=cohort,
        title=title,
        instructions=instructions,
        target_planes=list(target_planes),
        scan_count=scan_count,
        min_grade=min_grade,
        due_date=due_date,
        created_by=created_by,
    )
