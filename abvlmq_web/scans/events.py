"""The worker's one way to reach browsers: push a numbered event to a scan's channel group
(and, between events, how far a clip's assessment has got: ``push_progress``).

Payloads are the TypedDicts of ``scoring.events``; on the wire a message is ``{"seq": n,
**event}``. Saving comes first (services), pushing second, so a page that connects late
reads from the database what it missed.
"""

from __future__ import annotations

import logging
import re
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from scoring.events import Event

log = logging.getLogger(__name__)


def scan_group(scan_id: int) -> str:
    return f"scan.{scan_id}"


def push_event(*, scan_id: int, seq: int, event: Event | dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "scan.event", "seq": seq, "event": dict(event)}
    try:
        async_to_sync(layer.group_send)(scan_group(scan_id), message)
    except Exception:  # the event is saved; a page that reconnects gets it from the database
        log.warning("could not push event %s of scan %s", seq, scan_id, exc_info=True)


def push_progress(*, scan_id: int, stage: str, done: int, total: int) -> None:
    """How far the analysis has got (a clip's frames: ``stage`` "assess", ``done`` of
    ``total`` assessed), for the pages open on the scan now. Not an event: neither saved nor
    numbered (a page that connects later hears the next one, or the answer); never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "scan.progress", "stage": stage, "done": done, "total": total}
    try:
        async_to_sync(layer.group_send)(scan_group(scan_id), message)
    except Exception:
        log.warning("could not push progress of scan %s", scan_id, exc_info=True)


# --------------------------------------------------------------------------- upload progress

UPLOAD_KEY = re.compile(r"^[A-Za-z0-9-]{16,64}$")  # the page's random key for one upload


def upload_group(*, user_id: int, key: str) -> str:
    """One user's one upload: the key alone is not enough to listen (another user's page with
    the same key joins another group)."""
    return f"upload.{user_id}.{key}"


class UploadProgress:
    """Intake's progress on a clip, pushed to the uploader's page while the upload request is
    still running (frames de-identified of all, then the encoding): at most every 0.3 s and at
    the last frame, never raising (progress is a courtesy; the upload goes on without it)."""

    def __init__(self, *, user_id: int, key: str, every_s: float = 0.3) -> None:
        self.group = upload_group(user_id=user_id, key=key)
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == "deidentify" and done < total and now - self._last < self.every_s:
            return
        self._last = now
        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": "upload.progress", "stage": stage, "done": done, "total": total}
        try:
            async_to_sync(layer.group_send)(self.group, message)
        except Exception:
            log.warning("could not push upload progress to %s", self.group, exc_info=True)
