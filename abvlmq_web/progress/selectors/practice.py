"""Practice assignments an instructor set a resident (a plane, a count, a minimum grade)."""

from __future__ import annotations

from dataclasses import dataclass

from abvlmq_web.accounts.models import User
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.progress.models import PracticeAssignment
from abvlmq_web.progress.selectors.planes import scored_results


@dataclass(frozen=True)
class PracticeProgress:
    practice: PracticeAssignment
    passed: int

    @property
    def complete(self) -> bool:
        return self.passed >= self.practice.scan_count


def practice_assignments(*, resident: User) -> list[PracticeProgress]:
    rubric = active_rubric()
    scored = scored_results(resident)
    out = []
    for p in PracticeAssignment.objects.filter(resident=resident):
        passed = sum(
            1
            for a, e in scored
            if a.scan.created_at >= p.created_at
            and p.plane in e.planes
            and rubric.grade_at_least(e.grade, p.min_grade)
        )
        out.append(PracticeProgress(p, passed))
    return out
