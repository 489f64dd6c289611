"""Dataset versions and training runs: pages for program admins (404 for everyone else)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render

from abvlmq_web.core.permissions import require_program_admin
from abvlmq_web.datasets import selectors
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from abvlmq_web.datasets.services import DEFAULT_SEED, version_freeze, version_zip
from abvlmq_web.datasets.training import RECIPES, run_cancel, run_start
from trainer.datasets import ExportError


def _int(value, default=None):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value):
    try:
        return float(value) if str(value).strip() else None
    except (TypeError, ValueError):
        return float("nan")  # refused by the service with its message


@login_required
def datasets(request):
    """The versions, and the form that freezes a new one from chosen campaigns."""
    require_program_admin(request.user)
    errors: list[str] = []
    form = {}
    if request.method == "POST":
        form = request.POST
        try:
            version = version_freeze(
                user=request.user,
                name=form.get("name", ""),
                campaign_ids=[c for c in (_int(v) for v in form.getlist("campaigns")) if c],
                seed=_int(form.get("seed"), DEFAULT_SEED),
            )
            messages.success(
                request,
                f"Version {version.name} frozen: {version.counts['scans']} scans, "
                f"hash {version.content_hash[:12]}.",
            )
            return redirect("dataset", version_id=version.pk)
        except ValidationError as exc:
            errors = exc.messages
    return render(
        request,
        "datasets/list.html",
        {
            "versions": selectors.versions(),
            "choices": selectors.campaign_choices(),
            "errors": errors,
            "form": form,
            "chosen": {str(c) for c in form.getlist("campaigns")} if form else set(),
            "default_seed": DEFAULT_SEED,
        },
    )


@login_required
def dataset(request, version_id: int):
    require_program_admin(request.user)
    version = get_object_or_404(DatasetVersion.objects.select_related("created_by"), pk=version_id)
    return _dataset_page(request, version)


def _dataset_page(request, version, errors=(), form=None):
    return render(
        request,
        "datasets/version.html",
        {
            "version": version,
            "planes": selectors.count_table(version.counts, "planes"),
            "grades": selectors.count_table(version.counts, "grades"),
            "splits": version.counts.get("splits", {}),
            "runs": selectors.runs(version),
            "recipes": RECIPES,
            "errors": list(errors),
            "form": form or {},
        },
    )


@login_required
def dataset_export(request, version_id: int):
    """The version's export as one zip, streamed from the file built once per version."""
    require_program_admin(request.user)
    version = get_object_or_404(DatasetVersion, pk=version_id)
    try:
        path = version_zip(version)
    except ExportError as exc:
        messages.error(request, f"The export could not be written: {exc}")
        return redirect("dataset", version_id=version.pk)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@login_required
def run_create(request, version_id: int):
    require_program_admin(request.user)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    version = get_object_or_404(DatasetVersion, pk=version_id)
    form = request.POST
    try:
        run = run_start(
            user=request.user,
            version=version,
            recipe=form.get("recipe", ""),
            budget_min=_float(form.get("budget_min", "")),
            base_path=form.get("base_path", ""),
            overrides=form.get("overrides", ""),
        )
    except ValidationError as exc:
        return _dataset_page(request, version, exc.messages, form)
    messages.success(request, f"Run {run.pk} queued on the training queue.")
    return redirect("training-run", run_id=run.pk)


@login_required
def training_run(request, run_id: int):
    require_program_admin(request.user)
    run = get_object_or_404(TrainingRun.objects.select_related("version"), pk=run_id)
    return render(
        request,
        "datasets/run.html",
        {"run": run, "payload": selectors.run_payload(run), "recipe": RECIPES.get(run.recipe)},
    )


@login_required
def training_run_cancel(request, run_id: int):
    require_program_admin(request.user)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    run = get_object_or_404(TrainingRun, pk=run_id)
    try:
        run_cancel(user=request.user, run=run)
        messages.success(request, f"Run {run.pk} is being cancelled.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("training-run", run_id=run.pk)
