"""The worker's one way to reach browsers: push a numbered event to a scan's channel group.

Payloads are the TypedDicts of ``scoring.events``; on the wire a message is ``{"seq": n,
**event}``. Saving comes first (services), pushing second, so a page that connects late
reads from the database what it missed.
"""

from __future__ import annotations

import logging

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
