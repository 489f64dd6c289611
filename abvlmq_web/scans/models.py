"""A scan (the de-identified image), its analysis, and the analysis' events as they streamed."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


def _image_path(instance: Scan, filename: str) -> str:
    # Never the uploaded file name: names like SMITH_JOHN.dcm identify a patient.
    return f"scans/{uuid.uuid4().hex}.png"


def _original_path(instance: Scan, filename: str) -> str:
    return f"originals/{uuid.uuid4().hex}.{instance.kind or 'bin'}"


class Scan(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="scans",
        null=True,
        blank=True,
        help_text="None while a scan received over DICOM waits in the inbox (receiving app)",
    )
    assignment = models.ForeignKey(
        "curriculum.Assignment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scans",
    )
    image = models.FileField(upload_to=_image_path, help_text="The de-identified RGB PNG")
    original = models.FileField(
        upload_to=_original_path,
        blank=True,
        help_text="The upload itself, only when ABVLMQ_KEEP_ORIGINALS is on (DICOM tags removed)",
    )
    kind = models.CharField(max_length=10)  # png, jpeg, bmp, dicom: sniffed from the bytes
    frames = models.PositiveIntegerField(default=1)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    intake = models.JSONField(default=dict, help_text="Technical, non-identifying facts only")
    is_ultrasound = models.BooleanField(default=True)
    notice = models.TextField(blank=True, help_text="What intake told the resident")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Scan {self.pk}"


class Analysis(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    scan = models.OneToOneField(Scan, on_delete=models.CASCADE, related_name="analysis")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    model_id = models.CharField(max_length=300, blank=True, help_text="Base model + adapter")
    rubric_version = models.CharField(max_length=100, blank=True)
    planes = models.JSONField(default=list)
    score = models.FloatField(null=True, blank=True)
    grade = models.CharField(max_length=40, blank=True)
    needs_review = models.BooleanField(default=False)
    abstained = models.BooleanField(
        default=False,
        help_text="The model declined: the image is unlike its training data (no grade given)",
    )
    ood_score = models.FloatField(
        null=True, blank=True, help_text="Out-of-distribution score (1 = typical training image)"
    )
    result = models.JSONField(default=dict, help_text="Assessment.to_dict() of the answer")
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The outbox (scans/analysis.py): when the task message was last handed to the broker
    # (null: not yet, or to be sent again), and the running worker's last sign of life.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "analyses"
        indexes = [models.Index(fields=["status", "enqueued_at"], name="analysis_status_sent")]

    def __str__(self) -> str:
        return f"Analysis of scan {self.scan_id} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class AnalysisEvent(models.Model):
    """One event of scoring.events, numbered within its analysis.

    (analysis, seq) is unique: a retried task that replays the same answer finds its events
    already there and stores none twice; the websocket dedupes by the same number.
    """

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=20)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["analysis", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["analysis", "seq"], name="unique_event_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.analysis_id}#{self.seq} {self.type}"

    def as_message(self) -> dict:
        return {"seq": self.seq, **self.payload}
