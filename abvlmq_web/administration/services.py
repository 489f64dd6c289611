"""Writes: upload (or edit, which is an upload of the edited text) and activate a rubric
version; register and activate a model. Program admins only."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from abvlmq_web.accounts.models import User
from abvlmq_web.administration.models import Activatable, ModelVersion, RubricVersion
from abvlmq_web.competency.services import audit_record
from scoring.rubric import RubricError, rubric_from_text


def _require_admin(user: User) -> None:
    if not user.is_program_admin:
        raise PermissionDenied("Only program admins manage rubrics and models.")


@transaction.atomic
def rubric_version_create(*, user: User, text: str, note: str = "") -> RubricVersion:
    """Validate ``text`` with scoring's checker (the one behind ``python -m scoring rubric
    --check``) and store it. The same content is the same version: uploading it again returns
    the stored one."""
    _require_admin(user)
    try:
        rubric = rubric_from_text(text, source="uploaded rubric")
    except RubricError as exc:
        raise ValidationError({"text": f"{exc.where}: {exc.problem}"}) from exc
    row, created = RubricVersion.objects.get_or_create(
        version=rubric.version,
        defaults={"name": rubric.name, "text": text, "note": note, "created_by": user},
    )
    if created:
        audit_record(actor=user, action="rubric.upload", details={"version": row.version})
    return row


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


@transaction.atomic
def model_register(
    *,
    user: User,
    name: str,
    base_path: str,
    adapter_path: str = "",
    evaluation_report: Any = None,
    note: str = "",
) -> ModelVersion:
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
    model = ModelVersion.objects.create(
        name=name.strip(),
        base_path=base_path.strip(),
        adapter_path=adapter_path.strip(),
        evaluation_report=_report(evaluation_report),
        note=note,
        created_by=user,
    )
    audit_record(actor=user, action="model.register", details={"model": model.name})
    return model


@transaction.atomic
def model_activate(*, user: User, model: ModelVersion) -> ModelVersion:
    """Workers load it at their next task (they compare the active id with what they hold)."""
    _require_admin(user)
    _activate(model, user=user)
    audit_record(actor=user, action="model.activate", details={"model": model.name})
    return model
