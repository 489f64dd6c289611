"""Writes on review: corrections (beside the AI's answer, never over it), disputes, the
program's sampling rate, and the corrections export (which is audited)."""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.rubrics import rubric_for_version
from abvlmq_web.notifications.models import Kind
from abvlmq_web.notifications.services import notify
from abvlmq_web.review.assessments import (
    ai_assessment,
    as_record,
    assessment_of,
    clean_answer,
    compare,
)
from abvlmq_web.review.models import Correction, Dispute, ReviewPolicy
from abvlmq_web.review.selectors import corrections_in_force, reviewable_analyses
from abvlmq_web.scans.models import Analysis


@transaction.atomic
def correction_create(
    *,
    reviewer: User,
    analysis: Analysis,
    planes: list[str],
    structures: list[dict],
    deductions: list[dict],
    note: str = "",
) -> Correction:
    """Store a reviewer's whole assessment of ``analysis`` beside the AI's.

    Scored by the rubric the analysis was scored under, so AI and reviewer are compared on the
    same scale (the active rubric only when that version is not known here). Validated by the
    annotation record check (``scoring.records.check_record``), the one the trainer's data
    passes too, so every correction is valid training data. Resolves an open
    dispute on the analysis.
    """
    if not reviewable_analyses(user=reviewer).filter(pk=analysis.pk).exists():
        raise PermissionDenied("You do not review this resident's scans.")
    rubric = rubric_for_version(analysis.rubric_version)
    scan = analysis.scan
    assessment, clean_structures = clean_answer(
        rubric=rubric,
        planes=list(planes),
        structures=structures,
        deductions=deductions,
        image=scan.image.name,
        width=scan.width,
        height=scan.height,
    )
    ai = ai_assessment(analysis)
    cmp = compare(
        ai.planes,
        [d.item for d in ai.deductions],
        planes,
        [d.item for d in assessment.deductions],
        rubric=rubric,
        ai_boxes={s.id: s.box for s in ai.structures},
        boxes={s["id"]: s["box"] for s in clean_structures},
    )
    correction = Correction.objects.create(
        analysis=analysis,
        reviewer=reviewer,
        planes=list(assessment.planes),
        structures=clean_structures,
        deductions=[
            {"item": d.item, "reason": d.reason, "box": list(d.box) if d.box else None}
            for d in assessment.deductions
        ],
        score=assessment.score,
        grade=assessment.grade,
        rubric_version=rubric.version,
        confirmed=cmp.confirmed,
        note=note.strip(),
    )
    answered = Dispute.objects.filter(analysis=analysis, status=Dispute.Status.OPEN).update(
        status=Dispute.Status.RESOLVED, resolved_at=timezone.now(), resolved_by=reviewer
    )
    verb = "confirmed" if correction.confirmed else "corrected"
    result = f"{' + '.join(correction.planes)}, {correction.score:g} {correction.grade}"
    if analysis.abstained:  # the AI declined it: the instructor's is the scan's assessment
        verb = "assessed"
    elif not correction.confirmed:  # what changed, in the rubric's words
        result += f" ({cmp.summary(rubric)})"
    notify(
        user=scan.owner,
        kind=Kind.DISPUTE_ANSWERED if answered else Kind.REVIEWED,
        text=(f"{reviewer.display_name} answered your dispute of scan #{scan.pk}: {verb}, {result}."
              if answered else f"{reviewer.display_name} {verb} scan #{scan.pk}: {result}."),
        url=reverse("scan", args=[scan.pk]),
    )  # fmt: skip
    return correction


@transaction.atomic
def correction_confirm(*, reviewer: User, analysis: Analysis, note: str = "") -> Correction:
    """The reviewer agrees with the AI: a correction identical to its answer."""
    ai = ai_assessment(analysis)
    return correction_create(
        reviewer=reviewer,
        analysis=analysis,
        planes=ai.planes,
        structures=[{"id": s.id, "box": list(s.box)} for s in ai.structures],
        deductions=[
            {"item": d.item, "reason": d.reason, "box": list(d.box) if d.box else None}
            for d in ai.deductions
        ],
        note=note,
    )


@transaction.atomic
def dispute_open(*, resident: User, analysis: Analysis, reason: str) -> Dispute:
    if analysis.scan.owner_id != resident.pk:
        raise PermissionDenied("Only the resident who scanned it disputes a score.")
    if analysis.status != Analysis.Status.DONE:
        raise ValidationError({"analysis": "Wait for the assessment to finish."})
    if not reason.strip():
        raise ValidationError({"reason": "Say what you disagree with."})
    if Dispute.objects.filter(analysis=analysis, status=Dispute.Status.OPEN).exists():
        raise ValidationError({"analysis": "This assessment is already disputed."})
    return Dispute.objects.create(analysis=analysis, resident=resident, reason=reason.strip())


@transaction.atomic
def sampling_rate_set(*, user: User, rate: float) -> ReviewPolicy:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins set the sampling rate.")
    if not 0 <= rate <= 1:
        raise ValidationError({"sampling_rate": "Between 0 and 1."})
    policy, _ = ReviewPolicy.objects.update_or_create(
        pk=1, defaults={"sampling_rate": rate, "updated_by": user}
    )
    audit_record(actor=user, action="review.sampling_rate", details={"rate": rate})
    return policy


@transaction.atomic
def corrections_export(*, user: User, cohort: Cohort | None = None) -> str:
    """Corrections in force as annotation JSONL (scoring.records), one image a line; image
    paths are relative to the media folder. The export is written to the audit log."""
    lines = []
    for c in corrections_in_force(user=user, cohort=cohort):
        scan = c.analysis.scan
        rubric = rubric_for_version(c.rubric_version)
        assessment = assessment_of(
            planes=c.planes, structures=c.structures, deductions=c.deductions, rubric=rubric
        )
        meta = {
            "source": "instructor_correction",
            "scan_id": scan.pk,
            "analysis_id": c.analysis_id,
            "correction_id": c.pk,
            "reviewer": c.reviewer.username,
            "corrected_at": c.created_at.isoformat(),
            "rubric_version": c.rubric_version,
            "ai_model_id": c.analysis.model_id,
            "confirmed": c.confirmed,
        }
        record = as_record(
            assessment, image=scan.image.name, width=scan.width, height=scan.height, meta=meta
        )
        lines.append(json.dumps(record, ensure_ascii=False))
    audit_record(
        actor=user,
        action="export.corrections_jsonl",
        cohort=cohort,
        details={"records": len(lines)},
    )
    return "".join(line + "\n" for line in lines)
