"""The cohort heatmap and who falls behind.

Falling behind: an assignment due within 7 days (or overdue) and not complete, a skill decay
warning, or a mean level at least 2 points below the cohort's median.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.selectors import assignments_of
from abvlmq_web.progress.selectors.assignments import assignment_progress
from abvlmq_web.progress.selectors.planes import PlaneProgress, resident_planes

BEHIND_GAP, DUE_SOON_DAYS = 2.0, 7


@dataclass
class ResidentRow:
    resident: User
    planes: dict[str, PlaneProgress]
    behind: list[str]
    decays: list[str]

    @property
    def mean_level(self) -> float | None:
        levels = [p.level for p in self.planes.values() if p.level is not None]
        return sum(levels) / len(levels) if levels else None


@dataclass
class CohortProgress:
    cohort: Cohort
    planes: list[tuple[str, str]]  # (code, name) of the rubric's standard planes
    rows: list[ResidentRow]

    @property
    def behind_any(self) -> bool:
        return any(row.behind for row in self.rows)


def cohort_progress(*, cohort: Cohort, today: dt.date | None = None) -> CohortProgress:
    rubric = active_rubric()
    today = today or timezone.localdate()
    residents = list(cohort.residents.order_by("last_name", "first_name", "username"))
    rows = []
    for r in residents:
        assignments = list(assignments_of(cohort=cohort, resident=r))
        planes = {p.plane: p for p in resident_planes(resident=r)}
        behind, decays = [], []
        for a in assignments:
            if a.due_date and (a.due_date - today).days <= DUE_SOON_DAYS:
                progress = assignment_progress(assignment=a, resident=r)
                if not progress.complete:
                    when = "overdue" if a.due_date < today else f"due {a.due_date:%Y-%m-%d}"
                    behind.append(f"{a.title}: {progress.passed}/{progress.required}, {when}")
        for p in planes.values():
            if p.decay:
                decays.append(f"{p.plane}: {p.decay}")
        rows.append(ResidentRow(r, planes, behind, decays))
    levels = [row.mean_level for row in rows if row.mean_level is not None]
    if len(levels) >= 2:
        median = statistics.median(levels)
        for row in rows:
            if row.mean_level is not None and row.mean_level <= median - BEHIND_GAP:
                row.behind.append(
                    f"mean level {row.mean_level:.1f} against the cohort's median {median:.1f}"
                )
    for row in rows:
        row.behind.extend(f"skill decay on {d}" for d in row.decays)
    # the columns with scans first, most scanned first; the empty ones after, in rubric order
    planes = [(c, p.name) for c, p in rubric.planes.items() if p.standard]
    scans = {c: sum(row.planes[c].count for row in rows if c in row.planes) for c, _ in planes}
    planes.sort(key=lambda cp: (scans[cp[0]] == 0, -scans[cp[0]]))
    return CohortProgress(cohort, planes, rows)


def progress_cohorts(*, user: User) -> QuerySet[Cohort]:
    if not is_reviewer(user):
        return Cohort.objects.none()
    return visible_cohorts(user=user)
