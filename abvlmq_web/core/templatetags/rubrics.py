"""``{{ version|rubric_name }}``: a rubric version as it reads wherever it is shown, with the name
an admin gave it (core.rubrics.rubric_label); ``{{ model_id|model_name }}``: the model an
analysis recorded, by its name in the registry (core.rubrics.model_label);
``{% load rubrics %}``."""

from __future__ import annotations

from django import template

from abvlmq_web.core.rubrics import model_label, rubric_label

register = template.Library()


@register.filter
def rubric_name(version: str) -> str:
    return rubric_label(version or "")


@register.filter
def model_name(model_id: str) -> str:
    return model_label(model_id or "")
