"""Rubric and model administration pages (program admins only; 404 for everyone else)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from abvlmq_web.administration import selectors
from abvlmq_web.administration.models import ModelVersion, RubricVersion
from abvlmq_web.administration.services import (
    model_activate,
    model_register,
    rubric_version_activate,
    rubric_version_create,
)


def _admin(request) -> None:
    if not request.user.is_program_admin:
        raise Http404()


@login_required
def rubrics(request):
    """List, and upload a new version (pasted text or a file)."""
    _admin(request)
    errors: list[str] = []
    text = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("text", "")
        try:
            row = rubric_version_create(
                user=request.user, text=text, note=request.POST.get("note", "")
            )
            messages.success(
                request, f"Rubric version {row.version} stored; check its diff, then activate it."
            )
            return redirect("admin-rubric", rubric_id=row.pk)
        except ValidationError as exc:
            errors = exc.messages
    active = selectors.active_rubric_version()
    return render(
        request,
        "administration/rubrics.html",
        {
            "versions": selectors.rubric_versions(),
            "active": active,
            "active_version": selectors.active_rubric().version,
            "text": text or selectors.rubric_text(active),
            "errors": errors,
        },
    )


@login_required
def rubric_detail(request, rubric_id: int):
    _admin(request)
    row = get_object_or_404(RubricVersion, pk=rubric_id)
    return render(
        request,
        "administration/rubric.html",
        {"row": row, "diff": selectors.rubric_diff(rubric_version=row)},
    )


@login_required
@require_POST
def rubric_activate(request, rubric_id: int):
    _admin(request)
    row = get_object_or_404(RubricVersion, pk=rubric_id)
    rubric_version_activate(user=request.user, rubric_version=row)
    messages.success(
        request, f"Rubric {row.version} is active: workers score with it from their next task."
    )
    return redirect("admin-rubric", rubric_id=row.pk)


@login_required
def models(request):
    _admin(request)
    errors: list[str] = []
    form = {}
    if request.method == "POST":
        form = request.POST
        report = request.FILES.get("report")
        report_text = (
            report.read().decode("utf-8", "replace") if report else form.get("report_text", "")
        )
        try:
            model = model_register(
                user=request.user, name=form.get("name", ""), base_path=form.get("base_path", ""),
                adapter_path=form.get("adapter_path", ""), evaluation_report=report_text,
                note=form.get("note", ""),
            )  # fmt: skip
            for path in filter(None, (model.base_path, model.adapter_path)):
                warning = selectors.path_problems(path)
                if warning:
                    messages.warning(request, f"{warning}: make sure the workers have it.")
            messages.success(request, f"Model {model.name} registered.")
            return redirect("admin-models")
        except ValidationError as exc:
            errors = exc.messages
    rows = [
        (m, json.dumps(m.evaluation_report, indent=1)[:2000] if m.evaluation_report else "")
        for m in selectors.model_versions()
    ]
    return render(
        request,
        "administration/models.html",
        {"rows": rows, "errors": errors, "form": form, "runtime": selectors.worker_runtime()},
    )


@login_required
@require_POST
def model_activate_view(request, model_id: int):
    _admin(request)
    model = get_object_or_404(ModelVersion, pk=model_id)
    model_activate(user=request.user, model=model)
    messages.success(request, f"{model.name} is active: workers load it at their next task.")
    return redirect("admin-models")
