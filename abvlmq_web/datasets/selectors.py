"""Reads: versions, their tables, the campaigns a version can be frozen from, runs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from abvlmq_web.annotation.models import Campaign
from abvlmq_web.datasets.models import DatasetVersion, TrainingRun
from trainer.datasets import SPLIT_NAMES


def versions() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("created_by").annotate(n_runs=Count("runs"))


def runs(version: DatasetVersion | None = None) -> QuerySet[TrainingRun]:
    rows = TrainingRun.objects.select_related("version", "created_by", "registered_model")
    return rows.filter(version=version) if version is not None else rows


@dataclass(frozen=True)
class CampaignChoice:
    campaign: Campaign
    final: int
    pending: int


def campaign_choices() -> list[CampaignChoice]:
    """Every campaign with how many of its scans are final (enter a version) and how many are
    not yet (left out: one reader's record, or waiting for the adjudicator)."""
    rows = Campaign.objects.annotate(
        final=Count("items", filter=Q(items__final_answer__isnull=False)),
        pending=Count("items", filter=Q(items__final_answer__isnull=True)),
    ).order_by("-created_at", "-id")
    return [CampaignChoice(c, c.final, c.pending) for c in rows]


def count_table(counts: dict, key: str) -> list[tuple[str, list[int], int]]:
    """(row name, [train, val, test], total) rows of a version's counts by plane or grade."""
    rows = counts.get(key) or {}
    return [
        (name, [row.get(s, 0) for s in SPLIT_NAMES], row.get("total", 0))
        for name, row in rows.items()
    ]


def run_payload(run: TrainingRun) -> dict:
    """What the run's page shows and polls."""
    model = run.registered_model
    return {
        "id": run.pk,
        "state": run.state,
        "finished": run.finished,
        "recipe": run.recipe,
        "version": run.version.name,
        "budget_min": run.budget_min,
        "step": run.step,
        "total_steps": run.total_steps,
        "progress": run.progress,
        "elapsed_s": run.elapsed_s,
        "seconds_left": run.seconds_left,
        "loss": run.loss_history[-1][1] if run.loss_history else None,
        "loss_history": run.loss_history,
        "attempts": run.attempts,
        "log_tail": run.log_tail,
        "failure_reason": run.failure_reason,
        "evaluation": run.evaluation,
        "model": {"id": model.pk, "name": model.name, "is_active": model.is_active}
        if model
        else None,
    }
