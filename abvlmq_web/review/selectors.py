"""Reads on review: the queue, corrections in force, the agreement figures, what an analysis
counts as once reviewed. Everything is read through scans.selectors.scans_for (the cohort
rules); nothing here decides visibility by itself."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.core.constants import NOT_ULTRASOUND_MODEL
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import rubric_for_version
from abvlmq_web.review.assessments import ai_assessment, compare
from abvlmq_web.review.models import Correction, Dispute, ReviewPolicy
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import scans_for

DEFAULT_SAMPLING_RATE = 0.1


# --------------------------------------------------------------------------- sampling


def sample_point(analysis_id: int) -> float:
    """A fixed number in [0, 1) for each analysis: the same on every process and every day."""
    digest = hashlib.sha256(f"abvlmq-review-sample:{analysis_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 16**8


def sampling_rate() -> float:
    policy = ReviewPolicy.objects.filter(pk=1).first()
    return policy.sampling_rate if policy else DEFAULT_SAMPLING_RATE


def is_sampled(analysis_id: int, rate: float) -> bool:
    """Deterministic sampling: raising the rate only adds analyses, never swaps them."""
    return sample_point(analysis_id) < rate


# --------------------------------------------------------------------------- corrections


def reviewable_analyses(*, user: User) -> QuerySet[Analysis]:
    """Finished analyses of the residents ``user`` follows (never her own scans)."""
    if not is_reviewer(user):
        return Analysis.objects.none()
    return (
        Analysis.objects.filter(
            scan__in=scans_for(user=user).filter(owner__role="resident"),
            status=Analysis.Status.DONE,
        )
        .exclude(model_id=NOT_ULTRASOUND_MODEL)
        .select_related("scan", "scan__owner")
    )


def latest_corrections(analysis_ids: Iterable[int]) -> dict[int, Correction]:
    out: dict[int, Correction] = {}
    rows = (
        Correction.objects.filter(analysis_id__in=list(analysis_ids))
        .select_related("reviewer")
        .order_by("analysis_id", "-created_at", "-id")
    )
    for c in rows:
        out.setdefault(c.analysis_id, c)
    return out


def correction_in_force(*, analysis: Analysis) -> Correction | None:
    return (
        Correction.objects.filter(analysis=analysis)
        .select_related("reviewer")
        .order_by("-created_at", "-id")
        .first()
    )


def correction_history(*, analysis: Analysis) -> QuerySet[Correction]:
    return Correction.objects.filter(analysis=analysis).select_related("reviewer")


def open_dispute(*, analysis: Analysis) -> Dispute | None:
    return Dispute.objects.filter(analysis=analysis, status=Dispute.Status.OPEN).first()


@dataclass(frozen=True)
class Effective:
    """What an analysis counts as: the correction in force, else the AI's answer."""

    analysis_id: int
    planes: list[str]
    score: float | None
    grade: str
    corrected: bool
    verified_by: str | None  # reviewer's name when a person reviewed it
    verified_at: object | None


def effective_results(analyses: Iterable[Analysis]) -> dict[int, Effective]:
    analyses = list(analyses)
    corrections = latest_corrections(a.pk for a in analyses)
    out = {}
    for a in analyses:
        c = corrections.get(a.pk)
        if c is not None:
            out[a.pk] = Effective(
                a.pk, list(c.planes), c.score, c.grade, not c.confirmed,
                c.reviewer.display_name, c.created_at,
            )  # fmt: skip
        else:
            out[a.pk] = Effective(a.pk, list(a.planes or []), a.score, a.grade, False, None, None)
    return out


def resident_results(resident: User) -> list[tuple[Analysis, Effective]]:
    """The resident's assessed scans, oldest first, each with its result as reviewed (a
    correction in force counts over the AI's answer). Non-ultrasound uploads are left out, and
    so are scans the model declined to assess, until a person has assessed them."""
    analyses = list(
        Analysis.objects.filter(scan__owner=resident, status=Analysis.Status.DONE)
        .exclude(model_id=NOT_ULTRASOUND_MODEL)
        .select_related("scan")
        .order_by("scan__created_at", "id")
    )
    effective = effective_results(analyses)
    return [
        (a, effective[a.pk])
        for a in analyses
        if not a.abstained or effective[a.pk].verified_by is not None
    ]


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class QueueItem:
    analysis: Analysis
    reasons: tuple[str, ...]  # "disputed", "the model could not assess it", "flagged by ...", ...
    dispute: Dispute | None


def review_queue(*, user: User, cohort: Cohort | None = None) -> list[QueueItem]:
    """What needs a person: open disputes (whatever was reviewed before), and analyses not yet
    reviewed that the model flagged or the sampling rate picked. Disputes first, oldest first."""
    analyses = reviewable_analyses(user=user)
    if cohort is not None:
        analyses = analyses.filter(scan__owner__cohorts=cohort)
    disputes = {
        d.analysis_id: d
        for d in Dispute.objects.filter(analysis__in=analyses, status=Dispute.Status.OPEN)
    }
    reviewed = set(
        Correction.objects.filter(analysis__in=analyses).values_list("analysis_id", flat=True)
    )
    rate = sampling_rate()
    items: list[QueueItem] = []
    for a in analyses.order_by("finished_at", "id"):
        reasons = []
        if a.pk in disputes:
            reasons.append("disputed")
        elif a.pk in reviewed:
            continue
        if a.abstained:
            reasons.append("the model could not assess it")
        elif a.needs_review:
            why = (a.result or {}).get("review_reasons") or []
            reasons.append("flagged by the model" + (f": {why[0]}" if why else ""))
        if is_sampled(a.pk, rate):
            reasons.append("sampled")
        if reasons:
            items.append(QueueItem(a, tuple(reasons), disputes.get(a.pk)))
    items.sort(key=lambda i: 0 if i.dispute else 1)  # stable: oldest first within each
    return items


# --------------------------------------------------------------------------- agreement


@dataclass
class Tally:
    reviewed: int = 0
    confirmed: int = 0
    planes_agree: int = 0
    grades_agree: int = 0
    score_diff: float = 0.0

    def add(self, *, confirmed: bool, planes_agree: bool, grade_agree: bool, diff: float):
        self.reviewed += 1
        self.confirmed += confirmed
        self.planes_agree += planes_agree
        self.grades_agree += grade_agree
        self.score_diff += diff

    @property
    def confirm_rate(self) -> float | None:
        return self.confirmed / self.reviewed if self.reviewed else None

    @property
    def plane_rate(self) -> float | None:
        return self.planes_agree / self.reviewed if self.reviewed else None

    @property
    def grade_rate(self) -> float | None:
        return self.grades_agree / self.reviewed if self.reviewed else None

    @property
    def mean_abs_score_diff(self) -> float | None:
        return self.score_diff / self.reviewed if self.reviewed else None


@dataclass
class ItemTally:
    kept: int = 0  # the AI flagged it and the reviewer kept it
    removed: int = 0  # the AI flagged it, the reviewer struck it (a false deduction)
    added: int = 0  # the reviewer added it (the AI missed it)

    @property
    def agreement(self) -> float | None:
        """Share of this item's uses on which AI and reviewer agreed: kept / all."""
        total = self.kept + self.removed + self.added
        return self.kept / total if total else None


@dataclass
class Agreement:
    overall: Tally = field(default_factory=Tally)
    by_plane: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_item: dict[str, ItemTally] = field(default_factory=lambda: defaultdict(ItemTally))
    by_reviewer: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_month: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))


def agreement_of(corrections: Iterable[Correction]) -> Agreement:
    """Agreement figures over corrections in force (one per analysis). Per plane is keyed by
    the AI's plane label, the one the resident was shown."""
    out = Agreement()
    for c in corrections:
        ai = ai_assessment(c.analysis)
        cmp = compare(
            ai.planes,
            [d.item for d in ai.deductions],
            c.planes,
            [d["item"] for d in c.deductions],
            rubric=rubric_for_version(c.rubric_version),
            ai_boxes={s.id: s.box for s in ai.structures},
            boxes={s["id"]: s["box"] for s in c.structures},
        )
        diff = abs((ai.score or 0.0) - c.score)
        grade_agree = (ai.grade or "") == c.grade
        for tally in (
            out.overall,
            out.by_plane["+".join(ai.planes) or "?"],
            out.by_reviewer[c.reviewer.display_name],
            out.by_month[c.created_at.strftime("%Y-%m")],
        ):
            tally.add(
                confirmed=cmp.confirmed,
                planes_agree=cmp.planes_agree,
                grade_agree=grade_agree,
                diff=diff,
            )
        for iid in cmp.kept:
            out.by_item[iid].kept += 1
        for iid in cmp.removed:
            out.by_item[iid].removed += 1
        for iid in cmp.added:
            out.by_item[iid].added += 1
    out.by_plane = dict(sorted(out.by_plane.items()))
    out.by_item = dict(sorted(out.by_item.items()))
    out.by_reviewer = dict(sorted(out.by_reviewer.items()))
    out.by_month = dict(sorted(out.by_month.items()))
    return out


def corrections_in_force(*, user: User, cohort: Cohort | None = None) -> list[Correction]:
    analyses = reviewable_analyses(user=user)
    if cohort is not None:
        analyses = analyses.filter(scan__owner__cohorts=cohort)
    latest = latest_corrections(analyses.values_list("pk", flat=True))
    rows = Correction.objects.filter(pk__in=[c.pk for c in latest.values()]).select_related(
        "reviewer", "analysis", "analysis__scan", "analysis__scan__owner"
    )
    return list(rows.order_by("created_at", "id"))


def agreement(*, user: User, cohort: Cohort | None = None) -> Agreement:
    return agreement_of(corrections_in_force(user=user, cohort=cohort))


# --------------------------------------------------------------------------- the headline


def reviewed_answer(*, analysis: Analysis) -> dict | None:
    """The correction in force shaped like the events the scan page draws (so the page draws
    it as it draws the AI's answer), with who reviewed it and what changed from the AI's answer.
    None when no person has reviewed the analysis."""
    c = correction_in_force(analysis=analysis)
    if c is None:
        return None
    rubric = rubric_for_version(c.rubric_version)
    ai = ai_assessment(analysis)
    ai_items = [d.item for d in ai.deductions]
    cmp = compare(
        ai.planes,
        ai_items,
        c.planes,
        [d["item"] for d in c.deductions],
        rubric=rubric,
        ai_boxes={s.id: s.box for s in ai.structures},
        boxes={s["id"]: s["box"] for s in c.structures},
    )

    def condition(item_id: str) -> str:
        item = rubric.items.get(item_id)
        return item.condition if item else item_id

    ai_reasons = {d.item: d.reason for d in ai.deductions}
    deductions = []
    for n, d in enumerate(c.deductions, start=1):
        item = rubric.items.get(d["item"])
        deductions.append(
            {
                "type": "deduction",
                "index": n,
                "item": d["item"],
                "points": item.points if item else 0.0,
                "condition": item.condition if item else d["item"],
                "reason": d.get("reason") or "",
                # whose words the reason is: the model's, kept by the reviewer, or hers
                "reason_by": "Model"
                if (d.get("reason") or "") == ai_reasons.get(d["item"])
                else c.reviewer.display_name,
                "tip": item.tip if item else "",
                "structure": item.structure if item else None,
                "box": d.get("box"),
                "added": d["item"] in cmp.added,
            }
        )
    names = {sid: s.name for sid, s in rubric.structures.items()}
    return {
        "reviewer": c.reviewer.display_name,
        # from what changed, not the stored flag: a correction saved before boxes counted
        # (issue 32) reads as the correction it was
        "confirmed": cmp.confirmed and not analysis.abstained,
        "summary": "assessed it from scratch (the AI declined it)"
        if analysis.abstained
        else cmp.summary(rubric),
        "at": c.created_at.isoformat(),
        "note": c.note,
        "rubric_version": c.rubric_version,
        "structures": [
            {
                "type": "structure",
                "structure": s["id"],
                "name": names.get(s["id"], s["id"]),
                "box": s["box"],
            }
            for s in c.structures
        ],
        "plane": {
            "type": "plane",
            "planes": list(c.planes),
            "names": [rubric.planes[p].name if p in rubric.planes else p for p in c.planes],
        },
        "deductions": deductions,
        "score": {
            "type": "score",
            "score": c.score,
            "grade": c.grade,
            "rubric_version": c.rubric_version,
        },
        "changes": {
            "planes_agree": cmp.planes_agree,
            "ai_planes": list(ai.planes),
            "removed": [{"item": i, "condition": condition(i)} for i in cmp.removed],
            "dropped": [{"item": i, "condition": condition(i)} for i in cmp.dropped],
            "boxes": {
                "added": list(cmp.boxes_added),
                "moved": list(cmp.boxes_moved),
                "removed": list(cmp.boxes_removed),
                "dropped": list(cmp.boxes_dropped),
            },
            "added": [{"item": i, "condition": condition(i)} for i in cmp.added],
            "ai_score": ai.score,
            "ai_grade": ai.grade or "",
        },
    }


def with_reviewed(scans: Iterable) -> list:
    """``scans`` as a list, each carrying ``reviewed``: its Effective result (the correction in
    force, else the AI's answer), or None while it has no finished analysis. Every list of
    scans shows this, never the AI's answer alone."""
    scans = list(scans)
    analyses = [
        s.analysis
        for s in scans
        if getattr(s, "analysis", None) is not None and s.analysis.status == Analysis.Status.DONE
    ]
    effective = effective_results(analyses)
    for s in scans:
        a = getattr(s, "analysis", None)
        s.reviewed = effective.get(a.pk) if a is not None else None
    return scans
