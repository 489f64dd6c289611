"""Reads on competency: each resident's status per requirement, computed from her analyses as
reviewed (a correction in force counts over the AI's answer), and the audit log.

Status of one requirement "plane P: N scans at or above grade G, M of them verified":
- signed off: an instructor or admin signed it off (whatever the counts say since);
- met: at least N finished scans of P at or above G, each reviewed by a person (an instructor
  confirmed or corrected it); a set that allows AI-only evidence counts scans the AI alone
  assessed toward N and asks M of them to be reviewed;
- in progress: at least one finished scan of P, not met;
- not started: no finished scan of P.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.selectors import visible_cohorts, visible_users
from abvlmq_web.competency.models import (
    AuditLog,
    Requirement,
    RequirementSet,
    SignOff,
    SignOffRequest,
)
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.review.selectors import resident_results

NOT_STARTED, IN_PROGRESS, MET, SIGNED_OFF = "not started", "in progress", "met", "signed off"


@dataclass(frozen=True)
class CountedScan:
    scan_id: int
    analysis_id: int
    at: dt.datetime
    score: float | None
    grade: str
    qualifies: bool
    verified_by: str | None
    verified_at: dt.datetime | None
    model_id: str
    rubric_version: str
    image_name: str


@dataclass
class RequirementStatus:
    requirement: Requirement
    plane_name: str
    status: str
    scans: int  # finished scans of the plane
    qualifying: int  # of them at or above the grade, as evidence counts (verified only, unless
    # the set allows AI-only evidence)
    verified: int  # of the qualifying, reviewed by a person
    needed_verified: int  # how many must be reviewed: N, or M where AI-only evidence counts
    awaiting: int  # at or above the grade by the AI alone, waiting for an instructor's review
    ai_evidence: bool  # the set counts AI-only scans toward N
    first_at: dt.datetime | None
    last_at: dt.datetime | None
    met_on: dt.datetime | None
    signoff: SignOff | None
    counted: list[CountedScan] = field(default_factory=list)


def requirements_for(*, resident: User) -> QuerySet[Requirement]:
    return (
        Requirement.objects.filter(requirement_set__cohorts__residents=resident)
        .select_related("requirement_set")
        .distinct()
        .order_by("requirement_set__name", "plane")
    )


def requirement_sets() -> QuerySet[RequirementSet]:
    return RequirementSet.objects.prefetch_related("requirements", "cohorts")


def _plane_scans(resident: User) -> dict[str, list[CountedScan]]:
    by_plane: dict[str, list[CountedScan]] = {}
    for a, e in resident_results(resident):
        for plane in e.planes:
            by_plane.setdefault(plane, []).append(
                CountedScan(
                    scan_id=a.scan_id,
                    analysis_id=a.pk,
                    at=a.scan.created_at,
                    score=e.score,
                    grade=e.grade,
                    qualifies=False,
                    verified_by=e.verified_by,
                    verified_at=e.verified_at,
                    model_id=a.model_id,
                    rubric_version=a.rubric_version,
                    image_name=a.scan.image.name,
                )
            )
    return by_plane


def _status(req: Requirement, scans: list[CountedScan], signoff, plane_name) -> RequirementStatus:
    rubric = active_rubric()
    counted = [
        CountedScan(**{**s.__dict__, "qualifies": rubric.grade_at_least(s.grade, req.min_grade)})
        for s in scans
    ]
    above = [s for s in counted if s.qualifies]
    verified = [s for s in above if s.verified_by]
    ai_evidence = bool(req.requirement_set.allow_ai_evidence)
    qualifying = above if ai_evidence else verified
    needed = req.verified_count if ai_evidence else req.min_count
    met = len(qualifying) >= req.min_count and len(verified) >= needed
    met_on = None
    if met:
        moments = [qualifying[req.min_count - 1].at] if req.min_count else []
        if needed:
            moments.append(sorted(s.verified_at for s in verified)[needed - 1])
        met_on = max(moments) if moments else None
    if signoff is not None:
        status = SIGNED_OFF
    elif met:
        status = MET
    elif counted:
        status = IN_PROGRESS
    else:
        status = NOT_STARTED
    return RequirementStatus(
        requirement=req,
        plane_name=plane_name,
        status=status,
        scans=len(counted),
        qualifying=len(qualifying),
        verified=len(verified),
        needed_verified=needed,
        awaiting=len(above) - len(verified),
        ai_evidence=ai_evidence,
        first_at=counted[0].at if counted else None,
        last_at=counted[-1].at if counted else None,
        met_on=met_on,
        signoff=signoff,
        counted=counted,
    )


def resident_competency(*, resident: User) -> list[RequirementStatus]:
    rubric = active_rubric()
    by_plane = _plane_scans(resident)
    reqs = list(requirements_for(resident=resident))
    signoffs = {
        s.requirement_id: s
        for s in SignOff.objects.filter(resident=resident, requirement__in=reqs).select_related(
            "signed_by"
        )
    }
    return [
        _status(
            r,
            by_plane.get(r.plane, []),
            signoffs.get(r.pk),
            rubric.planes[r.plane].name if r.plane in rubric.planes else r.plane,
        )
        for r in reqs
    ]


def cohort_competency(*, cohort: Cohort) -> list[tuple[User, list[RequirementStatus]]]:
    residents = cohort.residents.order_by("last_name", "first_name", "username")
    return [(r, resident_competency(resident=r)) for r in residents]


# --------------------------------------------------------------------------- who may read


def exportable_cohort(*, user: User, cohort_id: int) -> Cohort | None:
    """A cohort whose records ``user`` may read and export: its instructors, program admins."""
    if not is_reviewer(user):
        return None
    return visible_cohorts(user=user).filter(pk=cohort_id).first()


def readable_resident(*, user: User, resident_id: int) -> User | None:
    """A resident whose record ``user`` may read: herself, her instructors, program admins."""
    return visible_users(user=user).filter(pk=resident_id, role="resident").first()


def audit_log() -> QuerySet[AuditLog]:
    return AuditLog.objects.select_related("actor", "cohort", "subject")


def signers_for(*, resident: User) -> QuerySet[User]:
    """The instructors a resident may ask for a sign-off: those of her cohorts."""
    return (
        User.objects.filter(role="instructor", instructed_cohorts__residents=resident)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def open_signoff_requests(*, resident: User | None = None, instructor: User | None = None):
    rows = SignOffRequest.objects.filter(status=SignOffRequest.Status.OPEN).select_related(
        "requirement", "requirement__requirement_set", "resident", "instructor"
    )
    if resident is not None:
        rows = rows.filter(resident=resident)
    if instructor is not None:
        rows = rows.filter(instructor=instructor)
    return rows
