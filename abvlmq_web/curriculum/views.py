"""Instructors' assignment pages: the list with each assignment's completion, create, edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from abvlmq_web.core.permissions import is_reviewer
from abvlmq_web.curriculum.forms import AssignmentForm
from abvlmq_web.curriculum.selectors import assignments_for
from abvlmq_web.curriculum.services import assignment_create, assignment_update
from abvlmq_web.progress.selectors.assignments import assignment_completion


def _require_instructor(user) -> None:
    if not is_reviewer(user):
        raise Http404("Residents have no assignment pages.")


@login_required
def assignment_list(request):
    _require_instructor(request.user)
    rows = [
        (a, assignment_completion(assignment=a))
        for a in assignments_for(user=request.user).order_by("due_date", "id")
    ]
    return render(request, "curriculum/list.html", {"rows": rows})


def _save(request, form: AssignmentForm, assignment=None):
    data = dict(form.cleaned_data)
    try:
        if assignment is None:
            return assignment_create(created_by=request.user, **data)
        return assignment_update(user=request.user, assignment=assignment, **data)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    except PermissionDenied as exc:
        form.add_error(None, str(exc))
    return None


@login_required
def assignment_edit(request, assignment_id: int | None = None):
    _require_instructor(request.user)
    assignment = None
    if assignment_id is not None:
        assignment = get_object_or_404(assignments_for(user=request.user), pk=assignment_id)
    if request.method == "POST":
        form = AssignmentForm(request.POST, user=request.user)
        if form.is_valid():
            saved = _save(request, form, assignment)
            if saved is not None:
                verb = "Saved" if assignment else "Created"
                messages.success(request, f"{verb} “{saved.title}”.")
                return redirect("assignments")
    else:
        initial = {}
        if assignment is not None:
            initial = {
                f: getattr(assignment, f)
                for f in ("title", "cohort", "resident", "target_planes", "min_grade",
                          "scan_count", "due_date", "instructions")
            }  # fmt: skip
        form = AssignmentForm(initial=initial, user=request.user)
    return render(request, "curriculum/edit.html", {"form": form, "assignment": assignment})
