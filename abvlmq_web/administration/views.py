"""Rubric and model administration pages (program admins only; 404 for everyone else)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from abvlmq_web.administration import selectors
from abvlmq_web.administration.models import ModelVersion, RubricVersion
from abvlmq_web.administration.services import (
    model_activate,
    model_delete,
    model_register,
    model_use_settings,
    rubric_use_shipped,
    rubric_version_activate,
    rubric_version_create,
    rubric_version_rename,
)
from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.core.rubrics import (
    active_model_version,
    active_rubric,
    active_rubric_version,
    worker_runtime,
)


@login_required
def rubrics(request):
    """List, and upload a new version (pasted text or a file)."""
    require_program_admin(request.user)
    errors: list[str] = []
    text = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("text", "")
        try:
            row = rubric_version_create(
                user=request.user,
                text=text,
                note=request.POST.get("note", ""),
                name=request.POST.get("name", ""),
            )
            messages.success(
                request, f"Rubric version {row.version} stored; check its diff, then activate it."
            )
            return redirect("admin-rubric", rubric_id=row.pk)
        except ValidationError as exc:
            errors = exc.messages
    active = active_rubric_version()
    return render(
        request,
        "administration/rubrics.html",
        {
            "versions": selectors.rubric_versions(),
            "active": active,
            "active_version": active_rubric().version,
            "text": text or selectors.rubric_text(active),
            "errors": errors,
        },
    )


@login_required
def rubric_detail(request, rubric_id: int):
    """A version, its difference to the active one; a POST renames it."""
    require_program_admin(request.user)
    row = get_object_or_404(RubricVersion, pk=rubric_id)
    if request.method == "POST":
        try:
            rubric_version_rename(
                user=request.user, rubric_version=row, name=request.POST.get("name", "")
            )
            messages.success(request, f"Rubric version {row.version} is now called {row.name}.")
            return redirect("admin-rubric", rubric_id=row.pk)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return render(
        request,
        "administration/rubric.html",
        {"row": row, "diff": selectors.rubric_diff(rubric_version=row)},
    )


def _confirmed(request) -> bool:
    """A change that matters takes two steps: the first POST (or a GET) shows what it will do,
    the second, with ``confirm``, does it."""
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def _confirm_page(request, *, title: str, consequences: list[str], cancel: str, action: str):
    return render(
        request,
        "administration/confirm.html",
        {"title": title, "consequences": consequences, "cancel": cancel, "action": action},
    )


@login_required
def rubric_activate(request, rubric_id: int):
    require_program_admin(request.user)
    row = get_object_or_404(RubricVersion, pk=rubric_id)
    if not _confirmed(request):
        diff = selectors.rubric_diff(rubric_version=row)
        return _confirm_page(
            request,
            title=f"Activate rubric {row.version}?",
            consequences=[
                "Workers score every new analysis with it from their next task.",
                "Analyses already scored keep the version they were scored under.",
                *(f"Change: {c}" for c in diff.changes[:12]),
            ],
            cancel=reverse("admin-rubric", args=[row.pk]),
            action="Activate this rubric",
        )
    rubric_version_activate(user=request.user, rubric_version=row)
    messages.success(
        request, f"Rubric {row.version} is active: workers score with it from their next task."
    )
    return redirect("admin-rubric", rubric_id=row.pk)


@login_required
def rubric_shipped(request):
    require_program_admin(request.user)
    if not _confirmed(request):
        return _confirm_page(
            request,
            title="Go back to the shipped rubric?",
            consequences=[
                "Workers score new analyses with the rubric shipped with the code.",
                "Stored versions stay stored; any of them can be activated again.",
            ],
            cancel=reverse("admin-rubrics"),
            action="Use the shipped rubric",
        )
    rubric_use_shipped(user=request.user)
    messages.success(request, "The shipped rubric is in use again.")
    return redirect("admin-rubrics")


@login_required
def models(request):
    require_program_admin(request.user)
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
            p = model.probe
            messages.success(
                request,
                f"Model {model.name} registered: it loaded and named a phantom scan "
                f"{' + '.join(p['planes'])}, {p['score']:g} {p['grade']}.",
            )
            return redirect("admin-models")
        except ValidationError as exc:
            errors = exc.messages
    rows = [
        (
            m,
            json.dumps(m.evaluation_report, indent=1)[:2000] if m.evaluation_report else "",
            selectors.model_evaluation(m),
        )
        for m in selectors.model_versions()
    ]
    return render(
        request,
        "administration/models.html",
        {
            "rows": rows,
            "errors": errors,
            "form": form,
            "runtime": worker_runtime(),
            "builtin": selectors.settings_model(),
            "previous": selectors.previous_model(),
        },
    )


@login_required
def model_activate_view(request, model_id: int):
    require_program_admin(request.user)
    model = get_object_or_404(ModelVersion, pk=model_id)
    if not _confirmed(request):
        current = active_model_version()
        return _confirm_page(
            request,
            title=f"Activate {model.name}?",
            consequences=[
                f"Workers load {model.base_path}"
                + (f" + {model.adapter_path}" if model.adapter_path else "")
                + " at their next task.",
                f"It replaces {current.name if current else 'the settings model'}, which stays "
                "listed: roll back to it at any time.",
            ],
            cancel=reverse("admin-models"),
            action=f"Activate {model.name}",
        )
    model_activate(user=request.user, model=model)
    messages.success(request, f"{model.name} is active: workers load it at their next task.")
    return redirect("admin-models")


@login_required
def model_settings_view(request):
    """Roll back to the settings' model (models/demo by default)."""
    require_program_admin(request.user)
    builtin = selectors.settings_model()
    if not _confirmed(request):
        return _confirm_page(
            request,
            title="Use the settings' model?",
            consequences=[f"Workers load {builtin.model_dir} at their next task."],
            cancel=reverse("admin-models"),
            action="Use the settings' model",
        )
    model_use_settings(user=request.user)
    messages.success(request, f"Workers load {builtin.model_dir} from their next task.")
    return redirect("admin-models")


@login_required
def model_delete_view(request, model_id: int):
    require_program_admin(request.user)
    model = get_object_or_404(ModelVersion, pk=model_id)
    if not _confirmed(request):
        return _confirm_page(
            request,
            title=f"Delete {model.name} from the registry?",
            consequences=[
                "It is no longer offered for activation; its folder on disk is not touched.",
                "Analyses it scored keep its model id.",
            ],
            cancel=reverse("admin-models"),
            action=f"Delete {model.name}",
        )
    try:
        model_delete(user=request.user, model=model)
        messages.success(request, f"{model.name} deleted from the registry.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("admin-models")
