"""Reads on the registry: rubric versions and models, a version's difference to the active one,
the settings' model. Which rubric and model are in force: abvlmq_web.core.rubrics."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from abvlmq_web.administration.models import ModelVersion, RubricVersion
from abvlmq_web.core.rubrics import active_model_version, active_rubric_version, parsed_rubric
from scoring.rubric import DEFAULT_RUBRIC_PATH, default_rubric
from scoring.rubric_diff import rubric_changes


def rubric_versions() -> QuerySet[RubricVersion]:
    return RubricVersion.objects.select_related("created_by", "activated_by")


def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("created_by", "activated_by")


def rubric_text(row: RubricVersion | None) -> str:
    return row.text if row is not None else DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")


@dataclass(frozen=True)
class RubricDiff:
    against: str  # version string of the rubric compared against
    changes: list[str] = field(default_factory=list)  # plain-language summary
    lines: list[str] = field(default_factory=list)  # unified diff of the YAML

    @property
    def identical(self) -> bool:
        return not self.changes and not self.lines


def rubric_diff(*, rubric_version: RubricVersion) -> RubricDiff:
    """How ``rubric_version`` differs from the active rubric (the shipped default if none)."""
    active_row = active_rubric_version()
    old_text = rubric_text(active_row)
    old = parsed_rubric(active_row) if active_row is not None else default_rubric()
    new = parsed_rubric(rubric_version)
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(),
            rubric_version.text.splitlines(),
            fromfile=f"active {old.version}",
            tofile=f"candidate {new.version}",
            lineterm="",
        )
    )
    return RubricDiff(against=old.version, changes=rubric_changes(old, new), lines=lines)


@dataclass(frozen=True)
class SettingsModel:
    """The model the settings name (``ABVLMQ_MODEL_DIR``, models/demo by default): in use
    whenever no registered model is active, and the row to roll back to."""

    model_dir: str
    adapter_dir: str | None
    in_use: bool
    evaluation: str = ""  # evaluation_summary of its eval/report.json


def settings_model() -> SettingsModel:
    adapter = settings.ABVLMQ_ADAPTER_DIR
    return SettingsModel(
        model_dir=str(settings.ABVLMQ_MODEL_DIR),
        adapter_dir=str(adapter) if adapter else None,
        in_use=active_model_version() is None,
        evaluation=evaluation_summary(read_evaluation(adapter, settings.ABVLMQ_MODEL_DIR)),
    )


def read_evaluation(*folders) -> dict:
    """The trainer's evaluation report beside a checkpoint (``eval/report.json``, as
    ``make demo-model`` writes it) of the first folder that has one; {} when none does or it
    cannot be read."""
    import json

    for folder in folders:
        if not folder:
            continue
        path = Path(folder) / "eval" / "report.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return data
    return {}


def evaluation_summary(report: dict) -> str:
    """A line of the headline figures of an evaluation report: planes, boxes, grades, targets."""
    if not report:
        return ""

    def pct(*path: str) -> str | None:
        node = report
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return f"{100 * node:.1f} %" if isinstance(node, int | float) else None

    parts = []
    if (plane := pct("planes", "label_accuracy")) is not None:
        parts.append(f"plane {plane}")
    p, r = pct("detection", "precision"), pct("detection", "recall")
    if p is not None and r is not None:
        parts.append(f"boxes P {p} R {r}")
    if (grade := pct("grades", "accuracy")) is not None:
        parts.append(f"grades {grade}")
    targets = report.get("targets")
    if isinstance(targets, list) and targets:
        met = sum(1 for t in targets if isinstance(t, dict) and t.get("met"))
        parts.append(f"{met} of {len(targets)} targets met")
    n = report.get("n_images")
    if parts and isinstance(n, int):
        parts.append(f"on {n} test images")
    return " · ".join(parts)


def model_evaluation(model: ModelVersion) -> str:
    """A registered model's evaluation: its uploaded report, else the one beside its folders."""
    return evaluation_summary(
        model.evaluation_report or read_evaluation(model.adapter_path, model.base_path)
    )


def previous_model() -> ModelVersion | None:
    """The model active before the current one, the one "Roll back" goes to: the registered
    model activated most recently that is not active now; None means the settings' model."""
    return (
        ModelVersion.objects.filter(is_active=False, activated_at__isnull=False)
        .order_by("-activated_at", "-id")
        .first()
    )
