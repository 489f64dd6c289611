"""Reads: which rubric and model are active, a rubric by the version an analysis recorded,
a version's difference to the active one, and what a worker should load."""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from abvlmq_web.administration.models import ModelVersion, RubricVersion
from scoring.rubric import DEFAULT_RUBRIC_PATH, Rubric, default_rubric, rubric_from_text

# Rubric versions are content hashes: a parsed version never changes, so it may be cached.
_parsed: dict[str, Rubric] = {}
_parsed_lock = threading.Lock()


def _parse(row: RubricVersion) -> Rubric:
    with _parsed_lock:
        rubric = _parsed.get(row.version)
        if rubric is None:
            rubric = rubric_from_text(row.text, source=f"rubric version {row.version}")
            _parsed[row.version] = rubric
        return rubric


def rubric_versions() -> QuerySet[RubricVersion]:
    return RubricVersion.objects.select_related("created_by", "activated_by")


def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("created_by", "activated_by")


def active_rubric_version() -> RubricVersion | None:
    return RubricVersion.objects.filter(is_active=True).first()


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def active_rubric() -> Rubric:
    """The rubric new analyses are scored under: the active version, else the shipped default."""
    row = active_rubric_version()
    return _parse(row) if row is not None else default_rubric()


def rubric_for_version(version: str) -> Rubric:
    """The rubric an analysis recorded; the active one when that version is unknown here."""
    if version == default_rubric().version:
        return default_rubric()
    with _parsed_lock:
        cached = _parsed.get(version)
    if cached is not None:
        return cached
    row = RubricVersion.objects.filter(version=version).first()
    return _parse(row) if row is not None else active_rubric()


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


def _fmt(x: float) -> str:
    return f"{x:g}"


def _summary(old: Rubric, new: Rubric) -> list[str]:
    out: list[str] = []
    if old.max_score != new.max_score:
        out.append(f"max score {_fmt(old.max_score)} -> {_fmt(new.max_score)}")
    old_bands = {g.name: g.min for g in old.grades}
    new_bands = {g.name: g.min for g in new.grades}
    for name in sorted(set(old_bands) | set(new_bands)):
        a, b = old_bands.get(name), new_bands.get(name)
        if a is None:
            out.append(f"grade band {name} added (from {_fmt(b)})")
        elif b is None:
            out.append(f"grade band {name} removed")
        elif a != b:
            out.append(f"grade band {name} now starts at {_fmt(b)} (was {_fmt(a)})")
    for code in sorted(set(old.planes) - set(new.planes)):
        out.append(f"plane {code} removed")
    for code in sorted(set(new.planes) - set(old.planes)):
        out.append(f"plane {code} added ({new.planes[code].name})")
    for iid in sorted(set(old.items) - set(new.items)):
        out.append(f"item {iid} removed")
    for iid in sorted(set(new.items) - set(old.items)):
        out.append(f"item {iid} added (-{_fmt(new.items[iid].points)})")
    for iid in sorted(set(old.items) & set(new.items)):
        a, b = old.items[iid], new.items[iid]
        if a.points != b.points:
            out.append(f"item {iid}: -{_fmt(a.points)} -> -{_fmt(b.points)}")
        if a.condition != b.condition:
            out.append(f"item {iid}: condition reworded")
        if a.tip != b.tip:
            out.append(f"item {iid}: teaching tip reworded")
    return out


def rubric_diff(*, rubric_version: RubricVersion) -> RubricDiff:
    """How ``rubric_version`` differs from the active rubric (the shipped default if none)."""
    active_row = active_rubric_version()
    old_text = rubric_text(active_row)
    old = _parse(active_row) if active_row is not None else default_rubric()
    new = _parse(rubric_version)
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(),
            rubric_version.text.splitlines(),
            fromfile=f"active {old.version}",
            tofile=f"candidate {new.version}",
            lineterm="",
        )
    )
    return RubricDiff(against=old.version, changes=_summary(old, new), lines=lines)


@dataclass(frozen=True)
class Runtime:
    """What a worker should have loaded: model folders and rubric, with their identities."""

    model_dir: str
    adapter_dir: str | None
    rubric: Rubric
    model_version_id: int | None
    rubric_version_id: int | None


def worker_runtime() -> Runtime:
    """The active model and rubric; the settings' model and the shipped rubric when none."""
    model = active_model_version()
    rubric_row = active_rubric_version()
    if model is not None:
        model_dir, adapter_dir = model.base_path, model.adapter_path or None
    else:
        model_dir = str(settings.ABVLMQ_MODEL_DIR)
        adapter_dir = str(settings.ABVLMQ_ADAPTER_DIR) if settings.ABVLMQ_ADAPTER_DIR else None
    return Runtime(
        model_dir=model_dir,
        adapter_dir=adapter_dir,
        rubric=_parse(rubric_row) if rubric_row is not None else default_rubric(),
        model_version_id=model.pk if model else None,
        rubric_version_id=rubric_row.pk if rubric_row else None,
    )


def path_problems(path: str) -> str | None:
    """A warning (not an error: workers may run on other machines) when a folder is absent."""
    return None if Path(path).is_dir() else f"{path} is not a folder on this machine"


@dataclass(frozen=True)
class SettingsModel:
    """The model the settings name (``ABVLMQ_MODEL_DIR``, models/demo by default): in use
    whenever no registered model is active, and the row to roll back to."""

    model_dir: str
    adapter_dir: str | None
    in_use: bool


def settings_model() -> SettingsModel:
    adapter = settings.ABVLMQ_ADAPTER_DIR
    return SettingsModel(
        model_dir=str(settings.ABVLMQ_MODEL_DIR),
        adapter_dir=str(adapter) if adapter else None,
        in_use=active_model_version() is None,
    )


def previous_model() -> ModelVersion | None:
    """The model active before the current one, the one "Roll back" goes to: the registered
    model activated most recently that is not active now; None means the settings' model."""
    return (
        ModelVersion.objects.filter(is_active=False, activated_at__isnull=False)
        .order_by("-activated_at", "-id")
        .first()
    )
