"""Writes on assignments."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.notifications.models import Kind
from abvlmq_web.notifications.services import notify


def _check(
    *,
    user: User,
    cohort: Cohort,
    resident: User | None,
    title: str,
    target_planes: list[str],
    scan_count: int,
    min_grade: str,
) -> None:
    if not is_reviewer(user):
        raise PermissionDenied("Only instructors and program admins set assignments.")
    if not visible_cohorts(user=user).filter(pk=cohort.pk).exists():
        raise PermissionDenied("You do not instruct this cohort.")
    rubric = active_rubric()
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = "Give the assignment a title."
    unknown = [p for p in target_planes if p not in rubric.planes]
    if not target_planes or unknown:
        errors["target_planes"] = (
            f"Unknown plane code(s) {', '.join(unknown)}." if unknown else "Name a plane."
        )
    if min_grade not in rubric.grade_names():
        errors["min_grade"] = f"Choose one of {', '.join(rubric.grade_names())}."
    if scan_count < 1:
        errors["scan_count"] = "At least one scan."
    if resident is not None and not cohort.residents.filter(pk=resident.pk).exists():
        errors["resident"] = f"{resident.display_name} is not a resident of {cohort.name}."
    if errors:
        raise ValidationError(errors)


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
    resident: User | None = None,
) -> Assignment:
    """An assignment for a cohort, or for one resident of it when ``resident`` is given."""
    _check(
        user=created_by, cohort=cohort, resident=resident, title=title,
        target_planes=target_planes, scan_count=scan_count, min_grade=min_grade,
    )  # fmt: skip
    assignment = Assignment.objects.create(
        cohort=cohort,
        resident=resident,
        title=title.strip(),
        instructions=instructions,
        target_planes=list(target_planes),
        scan_count=scan_count,
        min_grade=min_grade,
        due_date=due_date,
        created_by=created_by,
    )
    due = f", due {due_date:%Y-%m-%d}" if due_date else ""
    for r in [resident] if resident is not None else cohort.residents.all():
        notify(
            user=r, kind=Kind.ASSIGNMENT, url="/",
            text=f"New assignment “{assignment.title}”: {scan_count} × "
            f"{', '.join(target_planes)} at {min_grade} or better{due}.",
        )  # fmt: skip
    return assignment


@transaction.atomic
def assignment_update(
    *,
    user: User,
    assignment: Assignment,
    cohort: Cohort,
    title: str,
    target_planes: list[str],
    scan_count: int,
    min_grade: str,
    due_date: dt.date | None,
    instructions: str = "",
    resident: User | None = None,
) -> Assignment:
    """Change an assignment; the user must instruct both its cohort and the new one."""
    if not visible_cohorts(user=user).filter(pk=assignment.cohort_id).exists():
        raise PermissionDenied("You do not instruct this cohort.")
    _check(
        user=user, cohort=cohort, resident=resident, title=title,
        target_planes=target_planes, scan_count=scan_count, min_grade=min_grade,
    )  # fmt: skip
    assignment.cohort, assignment.resident = cohort, resident
    assignment.title, assignment.instructions = title.strip(), instructions
    assignment.target_planes, assignment.scan_count = list(target_planes), scan_count
    assignment.min_grade, assignment.due_date = min_grade, due_date
    assignment.save()
    return assignment
