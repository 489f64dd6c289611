"""Writes on progress: a self-assessment (or the choice to skip it), the preference to
self-assess first, one-click practice assignments, teaching examples, and the reminders of
assignments due soon."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_cohorts, visible_users
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.notifications.models import Kind, Notification
from abvlmq_web.notifications.services import notify
from abvlmq_web.progress.models import (
    LearnerPreference,
    PracticeAssignment,
    SelfAssessment,
    TeachingExample,
)
from abvlmq_web.progress.selectors.assignments import assignment_progress
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import scans_for

REMIND_DUE_DAYS = 3  # the default of settings.ABVLMQ_REMIND_DUE_DAYS


@transaction.atomic
def self_assessment_submit(
    *, resident: User, analysis: Analysis, planes: list[str] | None = None,
    score: float | None = None, skipped: bool = False,
) -> SelfAssessment:  # fmt: skip
    """Her own plane and score, given once, before she sees the AI's (or her choice to skip)."""
    if analysis.scan.owner_id != resident.pk:
        raise PermissionDenied("Only the resident who scanned it assesses herself.")
    if SelfAssessment.objects.filter(analysis=analysis).exists():
        raise ValidationError({"analysis": "You have already given your assessment."})
    if skipped:
        return SelfAssessment.objects.create(analysis=analysis, resident=resident, skipped=True)
    rubric = active_rubric()
    planes = [p for p in (planes or []) if p]
    errors = {}
    problems = rubric.check_planes(planes)
    if problems:
        errors["planes"] = "; ".join(problems)
    if score is None or not 0 <= float(score) <= rubric.max_score:
        errors["score"] = f"A score from 0 to {rubric.max_score:g}."
    if errors:
        raise ValidationError(errors)
    return SelfAssessment.objects.create(
        analysis=analysis, resident=resident, planes=planes, score=float(score)
    )


@transaction.atomic
def preference_set(*, user: User, self_assess_first: bool) -> LearnerPreference:
    pref, _ = LearnerPreference.objects.update_or_create(
        user=user, defaults={"self_assess_first": self_assess_first}
    )
    return pref


@transaction.atomic
def practice_assign(
    *, user: User, resident: User, plane: str, reason_item: str = "",
    scan_count: int = 3, min_grade: str | None = None,
) -> PracticeAssignment:  # fmt: skip
    """A resident sets it for herself; her instructor (or an admin) for her."""
    if not visible_users(user=user).filter(pk=resident.pk, role="resident").exists():
        raise PermissionDenied("You cannot set practice for this resident.")
    rubric = active_rubric()
    if plane not in rubric.planes or not rubric.planes[plane].standard:
        raise ValidationError({"plane": "Not a standard plane of the rubric."})
    grade = min_grade or rubric.grades[-1].name
    if grade not in rubric.grade_names():
        raise ValidationError({"min_grade": "Not a grade of the rubric."})
    return PracticeAssignment.objects.create(
        resident=resident,
        plane=plane,
        scan_count=max(1, scan_count),
        min_grade=grade,
        reason_item=reason_item,
        created_by=user,
    )


@transaction.atomic
def example_publish(*, user: User, scan, plane: str, cohort=None):
    """Put a scan up as a teaching example of ``plane`` for ``cohort`` (all when None: admins)."""
    if not is_reviewer(user):
        raise PermissionDenied("Only instructors publish examples.")
    if not scans_for(user=user).filter(pk=scan.pk).exists():
        raise PermissionDenied("You cannot see this scan.")
    if cohort is None and not user.is_program_admin:
        raise ValidationError({"cohort": "Choose one of your cohorts."})
    if cohort is not None and not visible_cohorts(user=user).filter(pk=cohort.pk).exists():
        raise PermissionDenied("You do not instruct this cohort.")
    if plane not in active_rubric().planes:
        raise ValidationError({"plane": "Not a plane of the rubric."})
    example, _ = TeachingExample.objects.get_or_create(
        scan=scan, plane=plane, cohort=cohort, defaults={"published_by": user}
    )
    return example


def remind_due_assignments(*, today: dt.date | None = None) -> int:
    """Each resident with an assignment due within ``ABVLMQ_REMIND_DUE_DAYS`` (and not
    complete) is told once. The sweeper's beat runs it daily (progress/tasks.py); ``manage.py
    remind_due`` runs it by hand; it is idempotent."""
    today = today or timezone.localdate()
    sent = 0
    days = getattr(settings, "ABVLMQ_REMIND_DUE_DAYS", REMIND_DUE_DAYS)
    due = Assignment.objects.filter(
        due_date__gte=today, due_date__lte=today + dt.timedelta(days=days)
    ).select_related("cohort", "resident")
    for a in due:
        residents = [a.resident] if a.resident_id else list(a.cohort.residents.all())
        for r in residents:
            p = assignment_progress(assignment=a, resident=r)
            if p.complete:
                continue
            before = Notification.objects.filter(user=r, key=f"due:{a.pk}").exists()
            notify(
                user=r, kind=Kind.ASSIGNMENT_DUE, key=f"due:{a.pk}", url="/",
                text=f"“{a.title}” is due {a.due_date:%Y-%m-%d}: {p.passed} of {p.required} done.",
            )  # fmt: skip
            sent += not before
    return sent
