"""Which rubric and model are in force: the one way every app chooses a rubric.

- ``active_rubric()``: what new analyses are scored under, and what pages, requirement sets and
  assignments are checked against: the active version, else the shipped default.
- ``rubric_for_version(version)``: the rubric an analysis or a correction recorded.
- ``worker_runtime()``: the model and rubric a worker should have loaded.
- ``model_label(model_id)``: the model an analysis recorded, by the registry's name.

The rows live in the administration app (``RubricVersion``, ``ModelVersion``, which admins
upload and activate). Core sits below every app, so it reaches those tables by app label
(``apps.get_model``) instead of importing administration: the layering test
(tests/test_layers.py) sees no import upwards, and no model moved (no migration, no data).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings

from scoring.rubric import Rubric, default_rubric, rubric_from_text

# Rubric versions are content hashes: a parsed version never changes, so it may be cached.
_parsed: dict[str, Rubric] = {}
_parsed_lock = threading.Lock()


def _rubric_versions():
    return apps.get_model("administration", "RubricVersion").objects


def _model_versions():
    return apps.get_model("administration", "ModelVersion").objects


def parsed_rubric(row) -> Rubric:
    """The rubric of a ``RubricVersion`` row, parsed once per process."""
    with _parsed_lock:
        rubric = _parsed.get(row.version)
        if rubric is None:
            rubric = rubric_from_text(row.text, source=f"rubric version {row.version}")
            _parsed[row.version] = rubric
        return rubric


def active_rubric_version():
    """The active ``RubricVersion`` row; None while the shipped default is in force."""
    return _rubric_versions().filter(is_active=True).first()


def active_model_version():
    """The active ``ModelVersion`` row; None while the settings' model is in use."""
    return _model_versions().filter(is_active=True).first()


def active_rubric() -> Rubric:
    """The rubric new analyses are scored under: the active version, else the shipped default."""
    row = active_rubric_version()
    return parsed_rubric(row) if row is not None else default_rubric()


SHIPPED_NAME = "shipped rubric"


def rubric_label(version: str) -> str:
    """How a rubric version reads wherever it is shown: the name an admin gave it, with the
    version; the shipped default's as "shipped rubric"; an unknown version alone."""
    if not version:
        return ""
    if version == default_rubric().version:
        return f"{SHIPPED_NAME} ({version})"
    name = _rubric_versions().filter(version=version).values_list("name", flat=True).first()
    return f"{name} ({version})" if name else version


def rubric_for_version(version: str) -> Rubric:
    """The rubric an analysis recorded; the active one when that version is unknown here."""
    if version == default_rubric().version:
        return default_rubric()
    with _parsed_lock:
        cached = _parsed.get(version)
    if cached is not None:
        return cached
    row = _rubric_versions().filter(version=version).first()
    return parsed_rubric(row) if row is not None else active_rubric()


def registered_model_name(model_id: str) -> str:
    """The registry's name of the model an analysis recorded (``model_id``, the engine's
    identity of its weights): the registered version whose registration probe reported that
    identity (the active one first, then the latest); "" for a model the registry does not
    hold (the settings' model, a deleted version)."""
    if not model_id:
        return ""
    rows = _model_versions().filter(probe__model_id=model_id).order_by("-is_active", "-pk")
    return rows.values_list("name", flat=True).first() or ""


def model_label(model_id: str) -> str:
    """How the model of an analysis reads wherever it is shown: the registry's name with the
    identity (``v2 · run 3 (demo) (final@1a2b3c)``), else the identity alone."""
    name = registered_model_name(model_id)
    return f"{name} ({model_id})" if name else model_id


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
        rubric=parsed_rubric(rubric_row) if rubric_row is not None else default_rubric(),
        model_version_id=model.pk if model else None,
        rubric_version_id=rubric_row.pk if rubric_row else None,
    )
