"""Self-assessment: how well a resident rates her own scans, and whether her score stays
concealed until she has rated it."""

from __future__ import annotations

from dataclasses import dataclass

from abvlmq_web.accounts.models import User
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.progress.models import LearnerPreference, SelfAssessment
from abvlmq_web.review.selectors import effective_results
from abvlmq_web.scans.models import Analysis


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
