"""The pages: server-rendered shells; the scan page and the upload talk to the API and the
websocket from static/js (no build step)."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from abvlmq_web.accounts.selectors import visible_cohorts
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.progress.selectors.assignments import assignment_progress
from abvlmq_web.progress.selectors.teaching import scan_teaching
from abvlmq_web.review.selectors import reviewed_answer, with_reviewed
from abvlmq_web.scans.filters import ScanFilterForm, filtered_scans, page_of
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.selectors import queue_position, review_reasons, scans_for, status_text


@login_required
def home(request):
    user = request.user
    if not user.is_resident:
        return redirect("cohort")
    assignments = [
        (a, assignment_progress(assignment=a, resident=user)) for a in assignments_for(user=user)
    ]
    scans = with_reviewed(scans_for(user=user).filter(owner=user)[:12])
    return render(request, "scans/home.html", {"assignments": assignments, "scans": scans})


@login_required
def upload(request):
    assignments = assignments_for(user=request.user)
    selected = request.GET.get("assignment", "")
    return render(request, "scans/upload.html", {"assignments": assignments, "selected": selected})


@login_required
def scan_page(request, scan_id: int):
    scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
    analysis = getattr(scan, "analysis", None)
    reviewed = None
    if analysis is not None and analysis.status == Analysis.Status.DONE:
        reviewed = reviewed_answer(analysis=analysis)
    context = {
        "scan": scan,
        "reviewed": reviewed,
        "reviewed_json": json.dumps(reviewed) if reviewed else "",
        "status_text": status_text(analysis, reviewed) if analysis else "",
        # why the AI sent it to an instructor, in words (scoring.stream.mark_for_review)
        "review_reasons": review_reasons(analysis) if analysis and not reviewed else [],
        "queue_position": queue_position(analysis=analysis) if analysis else None,
        "teaching": scan_teaching(user=request.user, scan=scan),
    }
    return render(request, "scans/scan.html", context)


@login_required
def scan_panel(request, scan_id: int):
    """The scan page's teaching panel alone: the page swaps it in when a live analysis
    finishes, so what it shows is what a reload shows."""
    scan = get_object_or_404(scans_for(user=request.user), pk=scan_id)
    teaching = scan_teaching(user=request.user, scan=scan)
    return render(request, "_partials/scan_panel_fragment.html", {"teaching": teaching})


def _scan_list(request, scans, *, title: str, show_owner: bool):
    form = ScanFilterForm(request.GET or None, user=request.user)
    rows = filtered_scans(scans, form)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "scans/list.html",
        {
            "title": title,
            "form": form,
            "page": page_of(rows, request.GET.get("page")),
            "filtered": any(v for k, v in request.GET.items() if k != "page"),
            "query": query.urlencode(),
            "show_owner": show_owner,
            "cohorts": visible_cohorts(user=request.user),
        },
    )


@login_required
def cohort(request):
    user = request.user
    if user.is_resident:
        raise Http404("Residents have no cohort page.")
    return _scan_list(
        request, scans_for(user=user).exclude(owner=user), title="Cohort scans", show_owner=True
    )


@login_required
def my_scans(request):
    user = request.user
    return _scan_list(
        request, scans_for(user=user).filter(owner=user), title="My scans", show_owner=False
    )
