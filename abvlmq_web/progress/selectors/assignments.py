"""How far a resident has got on an assignment, and how far its residents have got.

Counted on each scan as reviewed: an instructor's correction in force counts over the AI's
grade and plane (review.selectors.effective_results). It lives here, above curriculum, scans
and review, because it reads all three (curriculum only defines assignments).
"""

from __future__ import annotations

from dataclasses import dataclass

from abvlmq_web.accounts.models import User
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.models import Assignment
from abvlmq_web.review.selectors import effective_results
from abvlmq_web.scans.models import Analysis, Scan


@dataclass(frozen=True)
class Progress:
    submitted: int  # scans uploaded for the assignment
    passed: int  # assessed scans of a target plane at or above the minimum grade
    required: int

    @property
    def complete(self) -> bool:
        return self.passed >= self.required


def assignment_progress(*, assignment: Assignment, resident: User) -> Progress:
    scans = Scan.objects.filter(assignment=assignment, owner=resident)
    done = Analysis.objects.filter(scan__in=scans, status=Analysis.Status.DONE)
    targets = set(assignment.target_planes)
    rubric = active_rubric()
    passed = sum(
        1
        for e in effective_results(done).values()
        if targets & set(e.planes) and rubric.grade_at_least(e.grade, assignment.min_grade)
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
