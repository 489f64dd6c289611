"""A scan that came as a clip: the de-identified clip (H.264 MP4) and its assessed frames.

The scan itself stays an ordinary scan: its image is the chosen frame (the sample frame shown
until the analysis has chosen one) and its analysis holds that frame's assessment, so every
page, export and report that reads a scan reads a clip's best frame."""

from __future__ import annotations

import uuid

from django.db import models


def _video_path(instance: Clip, filename: str) -> str:
    return f"clips/{uuid.uuid4().hex}.mp4"


def _frame_path(instance: ClipFrame, filename: str) -> str:
    return f"clips/frames/{uuid.uuid4().hex}.png"


class Clip(models.Model):
    scan = models.OneToOneField("scans.Scan", on_delete=models.CASCADE, related_name="clip")
    video = models.FileField(upload_to=_video_path, help_text="De-identified, H.264 in MP4")
    frames = models.PositiveIntegerField()
    fps = models.FloatField()
    duration = models.FloatField(help_text="seconds")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"Clip of scan {self.scan_id}"


class ClipFrame(models.Model):
    """A sampled frame: its de-identified image and, once assessed, its assessment."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="sampled")
    index = models.PositiveIntegerField(help_text="0-based frame number in the clip")
    time = models.FloatField(help_text="seconds from the start")
    image = models.FileField(upload_to=_frame_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    result = models.JSONField(default=dict, blank=True, help_text="Assessment.to_dict()")
    score = models.FloatField(null=True, blank=True)
    grade = models.CharField(max_length=40, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    chosen = models.BooleanField(default=False)

    class Meta:
        ordering = ["clip", "index"]
        constraints = [
            models.UniqueConstraint(fields=["clip", "index"], name="unique_clip_frame"),
        ]

    def __str__(self) -> str:
        return f"Frame {self.index} of clip {self.clip_id}"
