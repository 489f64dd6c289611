"""Competency pages: status per resident and plane, sign-off, exports, requirement sets,
the audit log. Cohort pages and exports: that cohort's instructors and program admins; a
resident's page and packet: she, her instructors, program admins. Everyone else: 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.competency import selectors
from abvlmq_web.competency.models import Requirement, RequirementSet, SignOff
from abvlmq_web.competency.services import (
    export_cohort,
    export_resident_packet,
    requirement_set_from_template,
    requirement_set_save,
    signoff_create,
    signoff_request,
    signoff_undo,
)
from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.core.rubrics import active_rubric

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _cohort(request, cohort_id: int):
    cohort = selectors.exportable_cohort(user=request.user, cohort_id=cohort_id)
    if cohort is None:
        raise Http404("No such cohort.")
    return cohort


def _resident(request, resident_id: int):
    resident = selectors.readable_resident(user=request.user, resident_id=resident_id)
    if resident is None:
        raise Http404("No such resident.")
    return resident


@login_required
def index(request):
    if request.user.is_resident:
        return redirect("competency-resident", resident_id=request.user.pk)
    return render(
        request,
        "competency/index.html",
        {
            "cohorts": visible_cohorts(user=request.user),
            "requests": selectors.open_signoff_requests(instructor=request.user),
        },
    )


@login_required
def cohort_page(request, cohort_id: int):
    cohort = _cohort(request, cohort_id)
    return render(
        request,
        "competency/cohort.html",
        {"cohort": cohort, "table": selectors.cohort_competency(cohort=cohort)},
    )


@login_required
def cohort_export(request, cohort_id: int, fmt: str):
    cohort = _cohort(request, cohort_id)
    if fmt not in CONTENT_TYPES:
        raise Http404()
    data = export_cohort(user=request.user, cohort=cohort, fmt=fmt)
    response = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="competency-cohort-{cohort.pk}.{fmt}"'
    return response


@login_required
def resident_page(request, resident_id: int):
    resident = _resident(request, resident_id)
    return render(
        request,
        "competency/resident.html",
        {
            "resident": resident,
            "statuses": selectors.resident_competency(resident=resident),
            "can_sign": not request.user.is_resident,
            "is_self": request.user.pk == resident.pk,
            "signers": selectors.signers_for(resident=resident),
            "requests": {
                r.requirement_id: r for r in selectors.open_signoff_requests(resident=resident)
            },
        },
    )


@login_required
def resident_packet(request, resident_id: int):
    resident = _resident(request, resident_id)
    pdf = export_resident_packet(user=request.user, resident=resident)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="competency-{resident.username}.pdf"'
    return response


@login_required
def signoff(request, resident_id: int, requirement_id: int):
    """Attest a requirement: the first step shows what is attested (the set, its terms, the
    counted scans); the second, with ``confirm``, signs it off."""
    resident = _resident(request, resident_id)
    requirement = get_object_or_404(Requirement, pk=requirement_id)
    if request.user.is_resident:
        raise Http404()
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            signoff_create(
                user=request.user, resident=resident, requirement=requirement,
                note=request.POST.get("note", ""),
            )  # fmt: skip
            messages.success(request, f"{requirement.plane} signed off.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("competency-resident", resident_id=resident.pk)
    status = next(
        (s for s in selectors.resident_competency(resident=resident)
         if s.requirement.pk == requirement.pk),
        None,
    )  # fmt: skip
    if status is None:
        raise Http404("This requirement does not apply to the resident.")
    request_row = selectors.open_signoff_requests(resident=resident).filter(requirement=requirement)
    return render(
        request,
        "competency/attest.html",
        {
            "resident": resident,
            "s": status,
            "request_row": request_row.first(),
        },
    )


@login_required
@require_POST
def signoff_request_view(request, requirement_id: int):
    requirement = get_object_or_404(Requirement, pk=requirement_id)
    instructor = (
        selectors.signers_for(resident=request.user)
        .filter(pk=request.POST.get("instructor") or 0)
        .first()
    )
    try:
        if instructor is None:
            raise ValidationError({"instructor": "Choose one of your instructors."})
        signoff_request(
            resident=request.user, requirement=requirement, instructor=instructor,
            message=request.POST.get("message", ""),
        )  # fmt: skip
        messages.success(
            request, f"Asked {instructor.display_name} to sign off {requirement.plane}."
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("competency-resident", resident_id=request.user.pk)


@login_required
def signoff_undo_view(request, signoff_id: int):
    row = get_object_or_404(
        SignOff.objects.select_related("requirement", "resident"), pk=signoff_id
    )
    resident = _resident(request, row.resident_id)
    if request.user.is_resident:
        raise Http404()
    error = ""
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            signoff_undo(user=request.user, signoff=row, reason=request.POST.get("reason", ""))
            messages.success(
                request, f"Sign-off of {row.requirement.plane} taken back; the audit log keeps it."
            )
            return redirect("competency-resident", resident_id=resident.pk)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            return redirect("competency-resident", resident_id=resident.pk)
    return render(
        request, "competency/undo.html", {"row": row, "resident": resident, "error": error}
    )


# --------------------------------------------------------------------------- admin pages


@login_required
def requirement_sets(request):
    require_program_admin(request.user)
    cohorts = list(visible_cohorts(user=request.user).order_by("name"))
    if request.method == "POST":
        chosen = request.POST.get("cohort", "").strip()
        cohort = next((c for c in cohorts if str(c.pk) == chosen), None)
        try:
            if chosen and cohort is None:
                raise ValidationError({"cohort": "No such cohort."})
            s = requirement_set_from_template(
                user=request.user, template="acep_style", cohorts=[cohort] if cohort else []
            )
            where = f"applied to {cohort.name}" if cohort else "applied to no cohort yet"
            messages.success(
                request, f"Created {s.name}, {where}; edit it to your program's numbers."
            )
            return redirect("competency-set", set_id=s.pk)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
    return render(
        request,
        "competency/sets.html",
        {"sets": selectors.requirement_sets(), "cohorts": cohorts},
    )


@login_required
def requirement_set_edit(request, set_id: int | None = None):
    """One row per standard plane: leave N empty for no requirement on that plane."""
    require_program_admin(request.user)
    rubric = active_rubric()
    instance = get_object_or_404(RequirementSet, pk=set_id) if set_id else None
    current = {r.plane: r for r in instance.requirements.all()} if instance else {}
    errors: list[str] = []
    if request.method == "POST":
        rows = []
        for code in rubric.standard_planes:
            count = request.POST.get(f"{code}-min_count", "").strip()
            if count:
                rows.append(
                    {
                        "plane": code,
                        "min_count": count,
                        "min_grade": request.POST.get(f"{code}-min_grade", ""),
                        "verified_count": request.POST.get(f"{code}-verified_count") or 0,
                    }
                )
        cohorts = list(
            visible_cohorts(user=request.user).filter(pk__in=request.POST.getlist("cohorts"))
        )
        try:
            saved = requirement_set_save(
                user=request.user, name=request.POST.get("name", ""),
                description=request.POST.get("description", ""), requirements=rows,
                cohorts=cohorts, requirement_set=instance,
                allow_ai_evidence=bool(request.POST.get("allow_ai_evidence")),
            )  # fmt: skip
            messages.success(request, "Requirement set saved.")
            return redirect("competency-set", set_id=saved.pk)
        except ValidationError as exc:
            errors = exc.messages
    planes = [
        (code, rubric.planes[code].name, current.get(code)) for code in rubric.standard_planes
    ]
    return render(
        request,
        "competency/set_edit.html",
        {
            "instance": instance,
            "planes": planes,
            "grades": rubric.grade_names(),
            "cohorts": visible_cohorts(user=request.user),
            "chosen": set(instance.cohorts.values_list("pk", flat=True)) if instance else set(),
            "errors": errors,
        },
    )


@login_required
def audit(request):
    require_program_admin(request.user)
    return render(request, "competency/audit.html", {"rows": selectors.audit_log()[:500]})
