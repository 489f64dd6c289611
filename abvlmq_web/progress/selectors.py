"""Reads on progress: a resident's planes, trends, learning curves and skill decay; the
cohort's heatmap and who falls behind; self-assessment accuracy; practice assignments.

Every score here is the scan's assessment as reviewed: an instructor's correction in force
counts over the AI's answer (review.selectors.effective_results).

Methods, stated once:
- level on a plane: the mean of the last 3 scores (fewer when fewer exist), graded by the
  active rubric's bands;
- learning curve: least-squares fit of score = a + b ln(n) over the plane's scans in order
  (n = 1, 2, ...; the classic log-linear learning curve); "consistently Excellent" means the
  mean of the last 3 scores at or above the Excellent band. With a fitted curve rising (b > 0),
  the estimate is the number of further scans until the fitted score reaches the band, plus 2
  so that three scans in a row are there; none when it does not rise or needs more than 500;
  at least 3 scans are needed for a fit;
- skill decay: at least 6 scans on a plane, and the mean of the last 3 is at least 1.5 points
  below the mean of the (up to 5) scans before them;
- falling behind: an assignment due within 7 days (or overdue) and not complete, a skill
  decay warning, or a mean level at least 2 points below the cohort's median.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.core.constants import NOT_ULTRASOUND_MODEL
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.selectors import assignment_progress, assignments_of
from abvlmq_web.progress.models import LearnerPreference, PracticeAssignment, SelfAssessment
from abvlmq_web.review.selectors import effective_results, resident_results
from abvlmq_web.scans.models import Analysis

LEVEL_WINDOW = 3
DECAY_MIN_SCANS, DECAY_RECENT, DECAY_BEFORE, DECAY_DROP = 6, 3, 5, 1.5
BEHIND_GAP, DUE_SOON_DAYS, MAX_ESTIMATE = 2.0, 7, 500


@dataclass(frozen=True)
class Point:
    analysis_id: int
    scan_id: int
    at: dt.datetime
    score: float
    grade: str


@dataclass
class PlaneProgress:
    plane: str
    name: str
    points: list[Point] = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        return [p.score for p in self.points]

    @property
    def count(self) -> int:
        return len(self.points)

    @property
    def best(self) -> float | None:
        return max(self.scores) if self.points else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.points else None

    @property
    def last_grade(self) -> str:
        return self.points[-1].grade if self.points else ""

    @property
    def level(self) -> float | None:
        recent = self.scores[-LEVEL_WINDOW:]
        return sum(recent) / len(recent) if recent else None

    @property
    def level_grade(self) -> str:
        return active_rubric().grade(self.level) if self.level is not None else ""

    @property
    def rolling(self) -> list[float]:
        s = self.scores
        return [
            sum(s[max(0, i - LEVEL_WINDOW + 1) : i + 1]) / min(i + 1, LEVEL_WINDOW)
            for i in range(len(s))
        ]

    @property
    def estimate(self) -> LearningEstimate:
        return learning_estimate(self.scores)

    @property
    def decay(self) -> str | None:
        return skill_decay(self.scores)


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class LearningEstimate:
    a: float | None  # intercept of score = a + b ln(n)
    b: float | None  # slope per ln(scan number)
    scans_to_excellent: int | None  # further scans; 0 when already consistently Excellent
    reached: bool
    note: str


def excellent_threshold() -> float:
    return active_rubric().grades[-1].min


def fit_log_curve(scores: list[float]) -> tuple[float, float] | None:
    n = len(scores)
    if n < 3:
        return None
    xs = [math.log(i) for i in range(1, n + 1)]
    mx, my = sum(xs) / n, sum(scores) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, scores, strict=True)) / sxx
    return my - b * mx, b


def learning_estimate(scores: list[float]) -> LearningEstimate:
    target = excellent_threshold()
    recent = scores[-LEVEL_WINDOW:]
    if len(recent) == LEVEL_WINDOW and sum(recent) / LEVEL_WINDOW >= target:
        return LearningEstimate(None, None, 0, True, "consistently Excellent")
    fit = fit_log_curve(scores)
    if fit is None:
        return LearningEstimate(None, None, None, False, "needs at least 3 scans")
    a, b = fit
    if b <= 0:
        return LearningEstimate(a, b, None, False, "not improving yet")
    exponent = (target - a) / b
    if exponent > math.log(10 * MAX_ESTIMATE):  # far beyond the horizon: no number to give
        return LearningEstimate(a, b, None, False, f"more than {MAX_ESTIMATE} scans at this rate")
    remaining = max(1, math.ceil(math.exp(exponent)) + LEVEL_WINDOW - 1 - len(scores))
    if remaining > MAX_ESTIMATE:
        return LearningEstimate(a, b, None, False, f"more than {MAX_ESTIMATE} scans at this rate")
    return LearningEstimate(a, b, remaining, False, f"about {remaining} more scans")


def skill_decay(scores: list[float]) -> str | None:
    if len(scores) < DECAY_MIN_SCANS:
        return None
    recent = scores[-DECAY_RECENT:]
    before = scores[-DECAY_RECENT - DECAY_BEFORE : -DECAY_RECENT]
    was, now = sum(before) / len(before), sum(recent) / len(recent)
    if was - now >= DECAY_DROP:
        return f"recent scores fell from {was:.1f} to {now:.1f}"
    return None


# --------------------------------------------------------------------------- a resident


def _scored(resident: User) -> list[tuple[Analysis, object]]:
    return [(a, e) for a, e in resident_results(resident) if e.score is not None]


def resident_planes(*, resident: User) -> list[PlaneProgress]:
    """One row per standard plane she has scanned, in the rubric's order."""
    rubric = active_rubric()
    by_plane: dict[str, PlaneProgress] = {}
    for a, e in _scored(resident):
        for plane in e.planes:
            if plane not in rubric.planes or not rubric.planes[plane].standard:
                continue
            row = by_plane.setdefault(plane, PlaneProgress(plane, rubric.planes[plane].name))
            row.points.append(Point(a.pk, a.scan_id, a.scan.created_at, e.score, e.grade))
    return [by_plane[c] for c in rubric.planes if c in by_plane]


@dataclass(frozen=True)
class SelfAccuracy:
    count: int
    plane_rate: float | None
    grade_rate: float | None
    mean_abs_error: float | None
    bias: float | None  # mean of self minus reference: > 0 she rates herself too high
    rows: list[dict]


def self_assessment_accuracy(*, resident: User) -> SelfAccuracy:
    """Her self-assessments against the assessment as reviewed (correction, else the AI)."""
    rubric = active_rubric()
    rows_qs = (
        SelfAssessment.objects.filter(resident=resident, skipped=False)
        .select_related("analysis")
        .filter(analysis__status=Analysis.Status.DONE)
        .order_by("created_at")
    )
    selfs = list(rows_qs)
    effective = effective_results(s.analysis for s in selfs)
    rows = []
    for s in selfs:
        e = effective[s.analysis_id]
        if e.score is None or s.score is None:
            continue
        rows.append(
            {
                "scan_id": s.analysis.scan_id,
                "at": s.created_at,
                "self_planes": s.planes,
                "planes": e.planes,
                "self_score": s.score,
                "score": e.score,
                "plane_ok": set(s.planes) == set(e.planes),
                "grade_ok": rubric.grade(s.score) == e.grade,
                "error": s.score - e.score,
            }
        )
    n = len(rows)
    if not n:
        return SelfAccuracy(0, None, None, None, None, [])
    return SelfAccuracy(
        count=n,
        plane_rate=sum(r["plane_ok"] for r in rows) / n,
        grade_rate=sum(r["grade_ok"] for r in rows) / n,
        mean_abs_error=sum(abs(r["error"]) for r in rows) / n,
        bias=sum(r["error"] for r in rows) / n,
        rows=rows,
    )


def self_assessment_of(*, analysis: Analysis) -> SelfAssessment | None:
    return SelfAssessment.objects.filter(analysis=analysis).first()


def self_assess_first(*, user: User) -> bool:
    pref = LearnerPreference.objects.filter(user=user).first()
    return bool(pref and pref.self_assess_first)


def score_concealed(*, user: User, analysis: Analysis) -> bool:
    """The resident asked to self-assess first and has not yet: her own score stays hidden
    (page and API alike) until she does. A failed analysis has nothing to hide."""
    return (
        user.is_authenticated
        and user.is_resident
        and analysis.scan.owner_id == user.pk
        and analysis.status != Analysis.Status.FAILED
        and self_assess_first(user=user)
        and self_assessment_of(analysis=analysis) is None
    )


@dataclass(frozen=True)
class PracticeProgress:
    practice: PracticeAssignment
    passed: int

    @property
    def complete(self) -> bool:
        return self.passed >= self.practice.scan_count


def practice_assignments(*, resident: User) -> list[PracticeProgress]:
    rubric = active_rubric()
    names = rubric.grade_names()
    scored = _scored(resident)
    out = []
    for p in PracticeAssignment.objects.filter(resident=resident):
        need = names.index(p.min_grade) if p.min_grade in names else len(names)
        passed = sum(
            1
            for a, e in scored
            if a.scan.created_at >= p.created_at
            and p.plane in e.planes
            and e.grade in names
            and names.index(e.grade) >= need
        )
        out.append(PracticeProgress(p, passed))
    return out


# --------------------------------------------------------------------------- a cohort


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
    return CohortProgress(
        cohort, [(c, p.name) for c, p in rubric.planes.items() if p.standard], rows
    )


def progress_cohorts(*, user: User) -> QuerySet[Cohort]:
    from abvlmq_web.accounts.selectors import visible_cohorts

    if not (user.is_instructor or user.is_program_admin):
        return Cohort.objects.none()
    return visible_cohorts(user=user)


# --------------------------------------------------------------------------- remediation


@dataclass(frozen=True)
class Example:
    scan_id: int
    width: int
    height: int
    score: float | None
    grade: str
    structures: list[dict]  # {"id", "name", "box" (0-1000)}
    published: bool


def _structures_of(analysis: Analysis) -> list[dict]:
    from abvlmq_web.review.selectors import latest_corrections

    rubric = active_rubric()
    c = latest_corrections([analysis.pk]).get(analysis.pk)
    raw = c.structures if c else (analysis.result or {}).get("structures", [])
    return [
        {
            "id": s["id"],
            "name": rubric.structures[s["id"]].name if s["id"] in rubric.structures else s["id"],
            "box": s["box"],
            "w": s["box"][2] - s["box"][0],
            "h": s["box"][3] - s["box"][1],
        }
        for s in raw
    ]


def published_examples(*, user: User):
    from django.db.models import Q

    from abvlmq_web.accounts.selectors import visible_cohorts
    from abvlmq_web.progress.models import TeachingExample

    return TeachingExample.objects.filter(
        Q(cohort__isnull=True) | Q(cohort__in=visible_cohorts(user=user))
    ).select_related("scan", "scan__analysis")


def example_image_visible(*, user: User, scan_id: int) -> bool:
    from abvlmq_web.scans.selectors import scan_visible

    return (
        scan_visible(user=user, scan_id=scan_id)
        or published_examples(user=user).filter(scan_id=scan_id).exists()
    )


def excellent_example(*, user: User, plane: str, exclude_scan: int | None = None) -> Example | None:
    """An example of ``plane`` assessed Excellent (as reviewed): a published one first, else
    the best of the scans ``user`` may see."""
    from abvlmq_web.scans.selectors import scans_for

    top = active_rubric().grades[-1].name
    candidates: list[tuple[bool, Analysis]] = [
        (True, e.scan.analysis) for e in published_examples(user=user).filter(plane=plane)
    ]
    own = (
        Analysis.objects.filter(scan__in=scans_for(user=user), status=Analysis.Status.DONE)
        .exclude(model_id=NOT_ULTRASOUND_MODEL)
        .select_related("scan")
        .order_by("-score", "-id")[:200]
    )
    candidates += [(False, a) for a in own]
    effective = effective_results(a for _, a in candidates)
    ranked = [
        (published, a) for published, a in candidates
        if a.scan_id != exclude_scan and plane in effective[a.pk].planes
        and effective[a.pk].grade == top
    ]  # fmt: skip
    if not ranked:
        return None
    ranked.sort(key=lambda pa: (not pa[0], -(effective[pa[1].pk].score or 0)))
    published, a = ranked[0]
    e = effective[a.pk]
    return Example(
        a.scan_id, a.scan.width, a.scan.height, e.score, e.grade, _structures_of(a), published
    )
