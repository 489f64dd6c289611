"""Dataset versions (frozen final records of annotation campaigns) and training runs on them.

A :class:`DatasetVersion` is written once, with its items, in one transaction, and never
changed: ``save`` refuses an update and the queryset refuses ``update``/``delete``, so no
page, API or command has an update path; a scan in a version cannot be deleted
(``on_delete=PROTECT``). Its items hold the answer as frozen (a snapshot, not a reference to
the campaign's record, which an adjudicator could still change), the annotation record the
export writes and the sha256 of the image, which the export checks again.

A :class:`TrainingRun` trains a model on a version's train split (``trainer fit``), on the
Celery queue ``training``; its progress (step, loss history, time left, log tail) is written
by the worker as the run goes, and its end registers the new model in administration's
registry with its evaluation beside the active model's.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FrozenError(RuntimeError):
    """A dataset version or its items cannot be changed once frozen."""


class FrozenQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise FrozenError("A dataset version is frozen: nothing in it can be changed.")

    def delete(self):
        raise FrozenError("A dataset version is frozen: it cannot be deleted.")


class Frozen(models.Model):
    objects = FrozenQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise FrozenError("A dataset version is frozen: nothing in it can be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise FrozenError("A dataset version is frozen: it cannot be deleted.")


class DatasetVersion(Frozen):
    name = models.CharField(max_length=200, unique=True)
    content_hash = models.CharField(
        max_length=64, help_text="sha256 of the records, answers, image bytes and splits"
    )
    seed = models.IntegerField(help_text="The split's seed")
    counts = models.JSONField(
        default=dict, help_text="Scans per split, and per plane and grade within each split"
    )
    campaigns = models.JSONField(
        default=list, help_text="The campaigns whose final records it froze: [{id, name}]"
    )
    rubric_version = models.CharField(max_length=100, help_text="The rubric its records pass")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_hash[:12]})"


class DatasetItem(Frozen):
    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="items")
    scan = models.ForeignKey("scans.Scan", on_delete=models.PROTECT, related_name="+")
    split = models.CharField(max_length=5, choices=Split.choices)
    plane_key = models.CharField(max_length=100, help_text="The stratum: its planes, sorted")
    answer = models.JSONField(help_text="The final answer as frozen (0-1000 grid)")
    record = models.JSONField(help_text="The annotation record the export writes (pixels)")
    image_sha256 = models.CharField(max_length=64)
    campaign_scan_id = models.BigIntegerField(help_text="Where it came from (annotation)")
    campaign_id = models.BigIntegerField()

    class Meta:
        ordering = ["version", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "scan"], name="one_item_per_scan")
        ]

    def __str__(self) -> str:
        return f"Scan {self.scan_id} in {self.version_id} ({self.split})"


class TrainingRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        EVALUATING = "evaluating"
        CANCELLING = "cancelling"
        CANCELLED = "cancelled"
        FAILED = "failed"
        DONE = "done"

    FINISHED = (State.CANCELLED, State.FAILED, State.DONE)

    version = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="runs")
    recipe = models.CharField(max_length=40, help_text="demo or paper_lora_2b")
    config = models.JSONField(help_text="The resolved, validated trainer config (FitConfig)")
    budget_min = models.FloatField(
        null=True, blank=True, help_text="CPU minutes (demo) or wall minutes; null: epochs"
    )
    base_model = models.CharField(max_length=500, help_text="The checkpoint it starts from")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(null=True, blank=True)
    progress = models.FloatField(default=0.0, help_text="0..1 of the budget or the steps")
    elapsed_s = models.FloatField(default=0.0, help_text="Training seconds (the run's clock)")
    seconds_left = models.FloatField(null=True, blank=True)
    loss_history = models.JSONField(default=list, help_text="[[step, loss], ...]")
    log_tail = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Sessions: 2 = resumed once")
    out_dir = models.CharField(max_length=500, help_text="The run folder (trainer's out)")
    model_dir = models.CharField(max_length=500, blank=True, help_text="The trained model")
    evaluation = models.JSONField(
        default=dict, blank=True, help_text="The new model's and the active one's figures"
    )
    registered_model = models.ForeignKey(
        "administration.ModelVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    failure_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Run {self.pk} on {self.version_id} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED
