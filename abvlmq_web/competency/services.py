"""Writes on competency: requirement sets (edited as data), sign-offs, the audit log, and
the exports, each of which writes an audit-log row."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from abvlmq_web.accounts.models import Cohort, User
from abvlmq_web.accounts.selectors import visible_users
from abvlmq_web.competency.models import (
    Requirement,
    RequirementSet,
    SignOff,
    SignOffRequest,
)
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.notifications.models import Kind
from abvlmq_web.notifications.services import notify

TEMPLATES_DIR = Path(__file__).parent / "data"


def _check_rows(rows: list[dict]) -> list[dict]:
    rubric = active_rubric()
    errors, clean, seen = [], [], set()
    for n, row in enumerate(rows, start=1):
        plane = str(row.get("plane", "")).strip()
        where = f"row {n} ({plane or '?'})"
        try:
            count = int(row.get("min_count"))
            verified = int(row.get("verified_count") or 0)
        except (TypeError, ValueError):
            errors.append(f"{where}: counts must be whole numbers")
            continue
        grade = str(row.get("min_grade", "")).strip()
        if plane not in rubric.planes or not rubric.planes[plane].standard:
            errors.append(f"{where}: not a standard plane of the active rubric")
        elif plane in seen:
            errors.append(f"{where}: plane listed twice")
        if grade not in rubric.grade_names():
            errors.append(f"{where}: grade must be one of {', '.join(rubric.grade_names())}")
        if count < 1 or verified < 0 or verified > count:
            errors.append(f"{where}: need N >= 1 and 0 <= M <= N")
        seen.add(plane)
        clean.append(
            {"plane": plane, "min_count": count, "min_grade": grade, "verified_count": verified}
        )
    if errors:
        raise ValidationError({"requirements": errors})
    return clean


def _require_admin(user: User) -> None:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins edit requirement sets.")


@transaction.atomic
def requirement_set_save(
    *,
    user: User,
    name: str,
    requirements: list[dict],
    description: str = "",
    cohorts: list[Cohort] | None = None,
    requirement_set: RequirementSet | None = None,
    allow_ai_evidence: bool | None = None,
) -> RequirementSet:
    """Create or edit a set. Rows are matched by plane: edited in place (so sign-offs stay
    attached); a plane dropped from the set is refused while it carries sign-offs."""
    _require_admin(user)
    rows = _check_rows(requirements)
    if not name.strip():
        raise ValidationError({"name": "Name the set."})
    clash = RequirementSet.objects.filter(name=name.strip())
    if requirement_set is not None:
        clash = clash.exclude(pk=requirement_set.pk)
    if clash.exists():
        raise ValidationError({"name": "A set of that name exists."})
    if requirement_set is None:
        requirement_set = RequirementSet.objects.create(
            name=name.strip(), description=description, created_by=user
        )
    else:
        requirement_set.name, requirement_set.description = name.strip(), description
        requirement_set.save()
    if allow_ai_evidence is not None and allow_ai_evidence != requirement_set.allow_ai_evidence:
        requirement_set.allow_ai_evidence = allow_ai_evidence
        requirement_set.save(update_fields=["allow_ai_evidence"])
    keep = {r["plane"] for r in rows}
    dropped = requirement_set.requirements.exclude(plane__in=keep)
    if SignOff.objects.filter(requirement__in=dropped).exists():
        raise ValidationError({"requirements": ["A plane with sign-offs cannot be dropped."]})
    dropped.delete()
    for r in rows:
        Requirement.objects.update_or_create(
            requirement_set=requirement_set, plane=r["plane"], defaults=r
        )
    if cohorts is not None:
        requirement_set.cohorts.set(cohorts)
    audit_record(
        actor=user,
        action="requirements.save",
        details={
            "set": requirement_set.name,
            "requirements": rows,
            "allow_ai_evidence": requirement_set.allow_ai_evidence,
        },
    )
    return requirement_set


def requirement_template(name: str = "acep_style") -> dict:
    path = TEMPLATES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValidationError({"template": f"No template {name!r}."})
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@transaction.atomic
def requirement_set_from_template(
    *, user: User, template: str = "acep_style", cohorts: list[Cohort] | None = None
) -> RequirementSet:
    data = requirement_template(template)
    return requirement_set_save(
        user=user,
        name=data["name"],
        description=data.get("description", ""),
        requirements=data["requirements"],
        cohorts=cohorts,
    )


def _status_of(resident: User, requirement: Requirement):
    from abvlmq_web.competency.selectors import resident_competency

    return next(
        (s for s in resident_competency(resident=resident) if s.requirement.pk == requirement.pk),
        None,
    )


def _require_signer(user: User, resident: User) -> None:
    if not is_reviewer(user):
        raise PermissionDenied("Only instructors and program admins sign off.")
    if not visible_users(user=user).filter(pk=resident.pk).exists():
        raise PermissionDenied("You do not instruct this resident.")


@transaction.atomic
def signoff_create(
    *, user: User, resident: User, requirement: Requirement, note: str = ""
) -> SignOff:
    """An instructor of the resident (or a program admin) attests a met requirement. The
    sign-off records who, when, and what was attested: the requirement set (id, name, when it
    last changed), the requirement's terms and the counts at that moment. An open request
    for it is closed as attested."""
    from abvlmq_web.competency.selectors import MET

    _require_signer(user, resident)
    status = _status_of(resident, requirement)
    if status is None:
        raise ValidationError({"requirement": "This requirement does not apply to the resident."})
    if status.status != MET:
        raise ValidationError(
            {"requirement": f"Only a met requirement can be signed off (it is {status.status})."}
        )
    req_set = requirement.requirement_set
    attested = {
        "requirement_set": {
            "id": req_set.pk,
            "name": req_set.name,
            "updated_at": req_set.updated_at.isoformat(),
        },
        "requirement": {
            "id": requirement.pk,
            "plane": requirement.plane,
            "min_count": requirement.min_count,
            "min_grade": requirement.min_grade,
            "verified_count": requirement.verified_count,
        },
        "counts": {
            "scans": status.scans,
            "qualifying": status.qualifying,
            "verified": status.verified,
        },
    }
    signoff = SignOff.objects.create(
        requirement=requirement,
        resident=resident,
        signed_by=user,
        signer_name=user.display_name,
        note=note.strip(),
        attested=attested,
    )
    closed = SignOffRequest.objects.filter(
        requirement=requirement, resident=resident, status=SignOffRequest.Status.OPEN
    ).update(status=SignOffRequest.Status.ATTESTED, closed_at=timezone.now())
    audit_record(
        actor=user,
        action="signoff",
        subject=resident,
        details={
            "plane": requirement.plane,
            "set": req_set.name,
            "set_id": req_set.pk,
            "requested": bool(closed),
            "counts": attested["counts"],
        },
    )
    notify(
        user=resident, kind=Kind.SIGNOFF, url=reverse("competency-resident", args=[resident.pk]),
        text=f"{user.display_name} signed off {requirement.plane} ({req_set.name}).",
    )  # fmt: skip
    return signoff


@transaction.atomic
def signoff_undo(*, user: User, signoff: SignOff, reason: str) -> None:
    """Take a sign-off back: the signer or a program admin, with a reason. The sign-off goes
    (the requirement is "met" again) and the audit log keeps what it was and why it went."""
    if not (user.pk == signoff.signed_by_id or user.is_program_admin):
        raise PermissionDenied("Only whoever signed it, or a program admin, undoes a sign-off.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the sign-off is taken back."})
    audit_record(
        actor=user,
        action="signoff.undo",
        subject=signoff.resident,
        details={
            "plane": signoff.requirement.plane,
            "set": signoff.requirement.requirement_set.name,
            "signed_by": signoff.signer_name,
            "signed_at": signoff.signed_at.isoformat(),
            "attested": signoff.attested,
            "reason": reason.strip(),
        },
    )
    notify(
        user=signoff.resident, kind=Kind.SIGNOFF,
        url=reverse("competency-resident", args=[signoff.resident_id]),
        text=f"{user.display_name} took back the sign-off of {signoff.requirement.plane}: "
        f"{reason.strip()}",
    )  # fmt: skip
    signoff.delete()


@transaction.atomic
def signoff_request(
    *, resident: User, requirement: Requirement, instructor: User, message: str = ""
) -> SignOffRequest:
    """A resident asks one of her instructors, by name, to attest a requirement she has met."""
    from abvlmq_web.competency.selectors import MET, signers_for

    if not resident.is_resident:
        raise PermissionDenied("Only residents request a sign-off.")
    status = _status_of(resident, requirement)
    if status is None:
        raise ValidationError({"requirement": "This requirement does not apply to you."})
    if status.status != MET:
        raise ValidationError(
            {"requirement": f"Only a met requirement can be signed off (it is {status.status})."}
        )
    if not signers_for(resident=resident).filter(pk=instructor.pk).exists():
        raise ValidationError({"instructor": "Choose one of your instructors."})
    if SignOffRequest.objects.filter(
        requirement=requirement, resident=resident, status=SignOffRequest.Status.OPEN
    ).exists():
        raise ValidationError({"requirement": "You have already asked for this sign-off."})
    row = SignOffRequest.objects.create(
        requirement=requirement, resident=resident, instructor=instructor, message=message.strip()
    )
    audit_record(
        actor=resident,
        action="signoff.request",
        subject=resident,
        details={"plane": requirement.plane, "instructor": instructor.display_name},
    )
    notify(
        user=instructor, kind=Kind.SIGNOFF_REQUEST,
        url=reverse("competency-signoff", args=[resident.pk, requirement.pk]),
        text=f"{resident.display_name} asks you to sign off {requirement.plane} "
        f"({requirement.requirement_set.name}).",
    )  # fmt: skip
    return row


# --------------------------------------------------------------------------- exports


@transaction.atomic
def export_cohort(*, user: User, cohort: Cohort, fmt: str) -> bytes:
    """The cohort's competency table as CSV or XLSX; audited."""
    from abvlmq_web.competency import exports
    from abvlmq_web.competency.selectors import cohort_competency

    rows = exports.cohort_rows(cohort, cohort_competency(cohort=cohort))
    data = exports.to_csv(rows) if fmt == "csv" else exports.to_xlsx(rows, title=cohort.name)
    audit_record(actor=user, action=f"export.{fmt}", cohort=cohort, details={"rows": len(rows)})
    return data


@transaction.atomic
def export_cohort_json(*, user: User, cohort: Cohort) -> dict:
    from abvlmq_web.competency import exports
    from abvlmq_web.competency.selectors import cohort_competency

    data = exports.cohort_json(cohort, cohort_competency(cohort=cohort))
    audit_record(actor=user, action="export.json", cohort=cohort)
    return data


@transaction.atomic
def export_resident_packet(*, user: User, resident: User) -> bytes:
    """The resident's PDF packet; audited."""
    from abvlmq_web.competency import exports
    from abvlmq_web.competency.selectors import resident_competency

    statuses = resident_competency(resident=resident)
    pdf = exports.resident_pdf(resident, statuses, exported_by=user)
    audit_record(
        actor=user, action="export.pdf", subject=resident, details={"requirements": len(statuses)}
    )
    return pdf
