"""Reads on assignments: who sees which, and how far a resident has got."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from abvlmq_web.accounts.models import User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.curriculum.models import Assignment
from scoring.rubric import default_rubric


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


@dataclass(frozen=True)
class Progress:
    submitted: int  # scans uploaded for the assignment
    passed: int  # assessed scans of a target plane at or above the minimum grade
    required: int

    @property
    def complete(self) -> bool:
        return self.passed >= self.required


def grade_at_least(grade: str | None, minimum: str) -> bool:
    names = default_rubric().grade_names()  # lowest band first
    return grade in names and names.index(grade) >= names.index(minimum)


def assignment_progress(*, assignment: Assignment, resident: User) -> Progress:
    """Counted on each scan as reviewed: an instructor's correction in force counts over the
    AI's grade and plane (review.selectors.effective_results)."""
    # Imported here: scans and review depend on curriculum, not the other way round.
    from abvlmq_web.review.selectors import effective_results
    from abvlmq_web.scans.models import Analysis, Scan

    scans = Scan.objects.filter(assignment=assignment, owner=resident)
    done = Analysis.objects.filter(scan__in=scans, status=Analysis.Status.DONE)
    targets = set(assignment.target_planes)
    passed = sum(
        1
        for e in effective_results(done).values()
        if targets & set(e.planes) and grade_at_least(e.grade, assignment.min_grade)
    )
    return Progress(submitted=scans.count(), passed=passed, required=assignment.scan_count)


@dataclass(frozen=True)
class Completion:
    residents: int  # residents the assignment is for
    complete: int  # of them, done
    submitted: int  # scans uploaded for it, all residents


def assignment_completion(*, assignment: Assignment) -> Completion:
    """How far the residents it is for have got, each counted as reviewed."""
    if assignment.resident_id is not None:
        residents = [assignment.resident]
    else:
        residents = list(assignment.cohort.residents.all())
    progress = [assignment_progress(assignment=assignment, resident=r) for r in residents]
    return Completion(
        residents=len(residents),
        complete=sum(p.complete for p in progress),
        submitted=sum(p.submitted for p in progress),
    )
