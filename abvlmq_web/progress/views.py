"""Progress pages: a resident's own, a resident seen by her instructor, the cohort; the
remediation page of a deduction item; publishing teaching examples; the preference."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from abvlmq_web.accounts.selectors import visible_cohorts, visible_users
from abvlmq_web.core.rubrics import active_rubric
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.progress.charts import score_chart
from abvlmq_web.progress.selectors import cohort as cohort_selectors
from abvlmq_web.progress.selectors.assignments import assignment_progress
from abvlmq_web.progress.selectors.cohort import progress_cohorts
from abvlmq_web.progress.selectors.examples import (
    example_image_visible,
    example_library,
    excellent_example,
)
from abvlmq_web.progress.selectors.planes import resident_planes
from abvlmq_web.progress.selectors.practice import practice_assignments
from abvlmq_web.progress.selectors.self_assessment import (
    self_assess_first,
    self_assessment_accuracy,
)
from abvlmq_web.progress.services import example_publish, practice_assign, preference_set
from abvlmq_web.review.selectors import effective_results
from abvlmq_web.scans.models import Scan
from abvlmq_web.scans.selectors import scans_for


def _resident_context(user, resident) -> dict:
    rubric = active_rubric()
    planes = resident_planes(resident=resident)
    charts = []
    for p in planes:
        fit = (p.estimate.a, p.estimate.b) if p.estimate.b is not None else None
        charts.append(
            (
                p,
                score_chart(
                    [(f"{pt.at:%Y-%m-%d} scan #{pt.scan_id}", pt.score) for pt in p.points],
                    rubric=rubric,
                    rolling=p.rolling,
                    fit=fit,
                    title=f"{p.plane} scores",
                ),
            )
        )
    assignments = [
        (a, assignment_progress(assignment=a, resident=resident))
        for a in assignments_for(user=resident)
    ]
    return {
        "resident": resident,
        "planes": planes,
        "charts": charts,
        "assignments": assignments,
        "practice": practice_assignments(resident=resident),
        "accuracy": self_assessment_accuracy(resident=resident),
        "self_first": self_assess_first(user=resident),
        "is_self": user.pk == resident.pk,
    }


@login_required
def my_progress(request):
    if not request.user.is_resident:
        return redirect("progress-cohorts")
    return render(request, "progress/resident.html", _resident_context(request.user, request.user))


@login_required
def resident_progress(request, resident_id: int):
    resident = get_object_or_404(
        visible_users(user=request.user).filter(role="resident"), pk=resident_id
    )
    return render(request, "progress/resident.html", _resident_context(request.user, resident))


@login_required
def cohorts(request):
    items = progress_cohorts(user=request.user)
    if request.user.is_resident:
        raise Http404()
    return render(request, "progress/cohorts.html", {"cohorts": items})


@login_required
def cohort_progress(request, cohort_id: int):
    cohort = get_object_or_404(progress_cohorts(user=request.user), pk=cohort_id)
    rubric = active_rubric()
    data = cohort_selectors.cohort_progress(cohort=cohort)
    curves = []
    for row in data.rows:
        for p in row.planes.values():
            fit = (p.estimate.a, p.estimate.b) if p.estimate.b is not None else None
            chart = score_chart(
                [(f"scan #{pt.scan_id}", pt.score) for pt in p.points], rubric=rubric,
                rolling=p.rolling, fit=fit, title=f"{row.resident.display_name} {p.plane}",
                width=300, height=140, css_class="curve",
            )  # fmt: skip
            curves.append((row.resident, p, chart))
    grades = rubric.grades
    bands = [
        (g.name, g.min, grades[i + 1].min if i + 1 < len(grades) else rubric.max_score)
        for i, g in enumerate(grades)
    ]
    return render(request, "progress/cohort.html", {"data": data, "curves": curves, "bands": bands})


@login_required
@require_POST
def preference(request):
    preference_set(
        user=request.user, self_assess_first=request.POST.get("self_assess_first") == "on"
    )
    messages.success(request, "Saved.")
    return redirect("progress")


@login_required
@require_POST
def practice(request):
    resident = get_object_or_404(
        visible_users(user=request.user).filter(role="resident"),
        pk=request.POST.get("resident") or request.user.pk,
    )
    try:
        p = practice_assign(
            user=request.user, resident=resident, plane=request.POST.get("plane", ""),
            reason_item=request.POST.get("item", ""),
        )  # fmt: skip
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = "progress"  # never off-site: next= comes from the form, or from anyone
        return redirect(back)
    messages.success(
        request, f"Practice set: {p.scan_count} scans of {p.plane} at {p.min_grade} or better."
    )
    if resident.pk == request.user.pk:
        return redirect("progress")
    return redirect("progress-resident", resident_id=resident.pk)


@login_required
def remediation(request, item_id: str):
    """One deduction item: its teaching tip, an Excellent example of its plane with the boxes
    drawn, and a one-click practice assignment for that plane."""
    rubric = active_rubric()
    item = rubric.items.get(item_id)
    if item is None:
        raise Http404("No such deduction item.")
    scan = None
    scan_id = request.GET.get("scan", "")
    if scan_id.isdigit():
        scan = (
            scans_for(user=request.user).filter(pk=int(scan_id)).select_related("analysis").first()
        )
    planes = [item.plane] if item.plane else []
    if not planes and scan is not None:
        planes = [
            p
            for p in (scan.analysis.planes or [])
            if p in rubric.planes and rubric.planes[p].standard
        ]
    plane = planes[0] if planes else None
    example = (
        excellent_example(user=request.user, plane=plane, exclude_scan=scan.pk if scan else None)
        if plane
        else None
    )
    owner = scan.owner if scan is not None else (request.user if request.user.is_resident else None)
    return render(
        request,
        "progress/remediation.html",
        {
            "item": item,
            "plane": rubric.planes[plane] if plane else None,
            "structures": [rubric.structures[s].name for s in rubric.planes[plane].structures]
            if plane
            else [],
            "example": example,
            "scan": scan,
            "owner": owner,
        },
    )


@login_required
def example_image(request, scan_id: int):
    if not example_image_visible(user=request.user, scan_id=scan_id):
        raise Http404()
    scan = get_object_or_404(Scan, pk=scan_id)
    return FileResponse(scan.image.open("rb"), content_type="image/png")


@login_required
@require_POST
def publish(request, scan_id: int):
    scan = get_object_or_404(scans_for(user=request.user).select_related("analysis"), pk=scan_id)
    cohort = None
    if request.POST.get("cohort"):
        cohort = get_object_or_404(visible_cohorts(user=request.user), pk=request.POST["cohort"])
    planes = effective_results([scan.analysis])[scan.analysis.pk].planes
    try:
        for plane in planes:
            example_publish(user=request.user, scan=scan, plane=plane, cohort=cohort)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Published as an example of {', '.join(planes)}.")
    return redirect("scan", scan_id=scan.pk)


@login_required
def examples(request):
    """The example library: per plane, the Excellent scans instructors published."""
    return render(
        request, "progress/examples.html", {"library": example_library(user=request.user)}
    )
