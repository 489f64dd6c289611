"""Writes: upload (or edit, which is an upload of the edited text) and activate a rubric
version; register and activate a model. Program admins only."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from PIL import Image

from abvlmq_web.accounts.models import User
from abvlmq_web.administration.models import Activatable, ModelVersion, RubricVersion
from abvlmq_web.core.audit import audit_record
from abvlmq_web.core.rubrics import active_rubric
from scoring.rubric import RubricError, rubric_from_text


def _require_admin(user: User) -> None:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins manage rubrics and models.")


@transaction.atomic
def rubric_version_create(
    *, user: User, text: str, note: str = "", name: str = ""
) -> RubricVersion:
    """Validate ``text`` with scoring's checker (the one behind ``python -m scoring rubric
    --check``) and store it, under ``name`` (the admin's; else the rubric file's own). The same
    content is the same version: uploading it again returns the stored one."""
    _require_admin(user)
    try:
        rubric = rubric_from_text(text, source="uploaded rubric")
    except RubricError as exc:
        raise ValidationError({"text": f"{exc.where}: {exc.problem}"}) from exc
    row, created = RubricVersion.objects.get_or_create(
        version=rubric.version,
        defaults={
            "name": name.strip()[:200] or rubric.name,
            "text": text,
            "note": note,
            "created_by": user,
        },
    )
    if created:
        audit_record(actor=user, action="rubric.upload", details={"version": row.version})
    return row


def rubric_version_rename(*, user: User, rubric_version: RubricVersion, name: str) -> RubricVersion:
    """The name every page shows beside the version (core.rubrics.rubric_label)."""
    _require_admin(user)
    if not name.strip():
        raise ValidationError({"name": "Give the version a name."})
    old, rubric_version.name = rubric_version.name, name.strip()[:200]
    rubric_version.save(update_fields=["name"])
    audit_record(
        actor=user,
        action="rubric.rename",
        details={"version": rubric_version.version, "from": old, "to": rubric_version.name},
    )
    return rubric_version


@transaction.atomic
def rubric_version_activate(*, user: User, rubric_version: RubricVersion) -> RubricVersion:
    """New analyses are scored under this version from the next task on; old ones keep theirs."""
    _require_admin(user)
    _activate(rubric_version, user=user)
    audit_record(actor=user, action="rubric.activate", details={"version": rubric_version.version})
    return rubric_version


def _activate(row: Activatable, *, user: User) -> None:
    """Make ``row`` the one active row of its table (the others are deactivated first)."""
    type(row).objects.filter(is_active=True).exclude(pk=row.pk).update(is_active=False)
    row.is_active = True
    row.activated_at = timezone.now()
    row.activated_by = user
    row.save(update_fields=["is_active", "activated_at", "activated_by"])


def _report(value: Any) -> dict:
    if value in (None, ""):
        return {}
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValidationError({"evaluation_report": f"not valid JSON ({exc})"}) from exc
    if not isinstance(value, dict):
        raise ValidationError({"evaluation_report": "must be a JSON object"})
    return value


PROBE_IMAGE = Path(__file__).parent / "data" / "probe_phantom.png"


def model_probe(*, base_path: str, adapter_path: str = "") -> dict:
    """Load the model as a worker would (the ``ABVLMQ_ENGINE`` class, the active rubric) and
    let it assess a phantom scan shipped with the app. Returns what it answered; raises a
    ValidationError saying what failed: a folder that is not there, a folder that does not
    load, or a model that loads but gives no plane and score for the phantom.

    It runs in the web process, on its CPU: seconds for the tiny demo model, longer for a 2B
    checkpoint. The folders must be reachable from the web machine as well as the workers.
    """
    errors = {}
    if not Path(base_path).is_dir():
        errors["base_path"] = f"{base_path} is not a folder on this machine."
    if adapter_path and not Path(adapter_path).is_dir():
        errors["adapter_path"] = f"{adapter_path} is not a folder on this machine."
    if errors:
        raise ValidationError(errors)
    module, _, name = settings.ABVLMQ_ENGINE.partition(":")
    engine_class = getattr(importlib.import_module(module), name)
    started = time.monotonic()
    try:
        engine = engine_class.load(
            base_path, adapter_dir=adapter_path or None, rubric=active_rubric(),
            **dict(settings.ABVLMQ_ENGINE_OPTIONS),
        )  # fmt: skip
    except Exception as exc:  # whatever a broken folder makes the loader raise
        raise ValidationError(
            {"base_path": f"The model in {base_path} does not load: {exc}"[:600]}
        ) from exc
    try:
        with Image.open(PROBE_IMAGE) as img:
            stream = engine.stream(img.convert("RGB"))
            events = list(stream)
        assessment = stream.assessment
    except Exception as exc:
        raise ValidationError(
            {"base_path": f"The model loaded but failed on a phantom scan: {exc}"[:600]}
        ) from exc
    if not assessment.planes or assessment.score is None:
        errors_seen = [e.get("message", "") for e in events if e.get("type") == "error"][:3]
        raise ValidationError(
            {
                "base_path": "The model loaded but gave no plane and score for a phantom scan"
                + (f": {'; '.join(errors_seen)}" if errors_seen else ".")
            }
        )
    return {
        "model_id": str(getattr(engine, "model_id", "")),
        "planes": list(assessment.planes),
        "score": assessment.score,
        "grade": assessment.grade,
        "structures": len(assessment.structures),
        "seconds": round(time.monotonic() - started, 2),
    }


def model_register(
    *,
    user: User,
    name: str,
    base_path: str,
    adapter_path: str = "",
    evaluation_report: Any = None,
    note: str = "",
) -> ModelVersion:
    """Register a model after checking it loads and answers a phantom (model_probe)."""
    _require_admin(user)
    errors = {}
    if not name.strip():
        errors["name"] = "Name the model."
    elif ModelVersion.objects.filter(name=name.strip()).exists():
        errors["name"] = "A model of that name is registered."
    if not base_path.strip():
        errors["base_path"] = "Give the base checkpoint folder."
    if errors:
        raise ValidationError(errors)
    report = _report(evaluation_report)
    probe = model_probe(base_path=base_path.strip(), adapter_path=adapter_path.strip())
    with transaction.atomic():
        model = ModelVersion.objects.create(
            name=name.strip(),
            base_path=base_path.strip(),
            adapter_path=adapter_path.strip(),
            evaluation_report=report,
            note=note,
            probe=probe,
            created_by=user,
        )
        audit_record(
            actor=user, action="model.register", details={"model": model.name, "probe": probe}
        )
    return model


@transaction.atomic
def model_activate(*, user: User, model: ModelVersion) -> ModelVersion:
    """Workers load it at their next task (they compare the active id with what they hold)."""
    _require_admin(user)
    previous = ModelVersion.objects.filter(is_active=True).exclude(pk=model.pk).first()
    _activate(model, user=user)
    audit_record(
        actor=user,
        action="model.activate",
        details={"model": model.name, "previous": previous.name if previous else "settings"},
    )
    return model


@transaction.atomic
def model_use_settings(*, user: User) -> None:
    """Roll back to the settings' model (``ABVLMQ_MODEL_DIR``, models/demo by default): no
    registered model is active any more."""
    _require_admin(user)
    previous = ModelVersion.objects.filter(is_active=True).first()
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    audit_record(
        actor=user,
        action="model.activate",
        details={"model": "settings", "previous": previous.name if previous else "settings"},
    )


@transaction.atomic
def model_delete(*, user: User, model: ModelVersion) -> None:
    """Take a model off the registry. Not the active one: activate another first. Analyses
    keep the model id they recorded."""
    _require_admin(user)
    if model.is_active:
        raise ValidationError("The active model cannot be deleted: activate another one first.")
    audit_record(
        actor=user,
        action="model.delete",
        details={"model": model.name, "base_path": model.base_path},
    )
    model.delete()


@transaction.atomic
def rubric_use_shipped(*, user: User) -> None:
    """Go back to the rubric shipped with the code: no stored version is active any more."""
    _require_admin(user)
    previous = RubricVersion.objects.filter(is_active=True).first()
    RubricVersion.objects.filter(is_active=True).update(is_active=False)
    audit_record(
        actor=user,
        action="rubric.activate",
        details={"version": "shipped", "previous": previous.version if previous else "shipped"},
    )
