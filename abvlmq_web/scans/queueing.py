"""The durable queue: the database is the outbox, the broker only carries a copy.

An analysis is ``queued`` in the database from the upload's commit on, whether or not the broker
took its message. Three pieces keep every accepted upload moving:

- ``analyses_dispatch`` hands queued analyses that have no message out yet to the broker, at
  most ``ABVLMQ_QUEUE_SHARE`` of one user in flight at a time, users taken by their oldest
  waiting scan: one resident's burst of fifty waits behind her own share, not in front of the
  cohort. A broker that does not answer leaves them unsent (the upload still answers 201).
- ``heartbeat`` marks a running analysis alive every ``ABVLMQ_HEARTBEAT_INTERVAL`` seconds from
  a thread of the worker that runs it.
- ``analyses_sweep`` (Celery beat, every ``ABVLMQ_SWEEP_INTERVAL`` s) puts back in the outbox
  what is stuck: ``running`` with no heartbeat for ``ABVLMQ_HEARTBEAT_STALE_AFTER`` s (its
  worker died), ``queued`` with a message sent longer than ``ABVLMQ_RESEND_QUEUED_AFTER`` s ago
  (the broker may have lost it), then dispatches.

A message sent twice is harmless: ``services.analysis_start`` does nothing for a finished
analysis and events are stored once by their sequence number.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Min, Q
from django.utils import timezone

from abvlmq_web.scans.models import Analysis

log = logging.getLogger(__name__)

QUEUED, RUNNING = Analysis.Status.QUEUED, Analysis.Status.RUNNING


def in_flight(*, owner_id: int) -> int:
    """How many of the user's analyses the broker or a worker holds now."""
    return Analysis.objects.filter(
        Q(status=RUNNING) | Q(status=QUEUED, enqueued_at__isnull=False), scan__owner_id=owner_id
    ).count()


def pending(*, owner_id: int) -> int:
    """How many of the user's analyses are not finished (the upload quota counts these)."""
    return Analysis.objects.filter(scan__owner_id=owner_id, status__in=[QUEUED, RUNNING]).count()


def _send(analysis_id: int) -> bool:
    """Claim the analysis (so two dispatchers never both send it), then send its message.
    False when the broker refused: the claim is undone and the sweeper tries again."""
    from abvlmq_web.scans.tasks import run_analysis  # tasks import services, which import us

    claimed = Analysis.objects.filter(
        pk=analysis_id, status=QUEUED, enqueued_at__isnull=True
    ).update(enqueued_at=timezone.now())
    if not claimed:
        return True
    try:
        run_analysis.delay(analysis_id)
    except Exception as exc:  # kombu OperationalError, redis ConnectionError, ...
        log.warning(
            "broker refused analysis %s (%s); it stays queued for the sweeper", analysis_id, exc
        )
        Analysis.objects.filter(pk=analysis_id).update(enqueued_at=None)
        return False
    return True


def analyses_dispatch(*, owner_id: int | None = None) -> int:
    """Send unsent queued analyses within each user's share; returns how many were sent."""
    share = settings.ABVLMQ_QUEUE_SHARE
    unsent = Analysis.objects.filter(status=QUEUED, enqueued_at__isnull=True)
    if owner_id is not None:
        unsent = unsent.filter(scan__owner_id=owner_id)
    owners = (
        unsent.values("scan__owner_id")
        .annotate(first=Min("created_at"))
        .order_by("first")
        .values_list("scan__owner_id", flat=True)
    )
    sent = 0
    for owner in list(owners):
        free = share - in_flight(owner_id=owner)
        if free <= 0:
            continue
        ids = list(
            unsent.filter(scan__owner_id=owner)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:free]
        )
        for analysis_id in ids:
            if not _send(analysis_id):
                return sent  # the broker is down: no point trying the rest now
            sent += 1
    return sent


@dataclass(frozen=True)
class SweepReport:
    revived: int  # running, but its worker stopped beating
    resent: int  # queued, its message sent long ago and maybe lost
    sent: int  # messages handed to the broker by this sweep


def analyses_sweep(*, now: datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ABVLMQ_HEARTBEAT_STALE_AFTER)
    revived = Analysis.objects.filter(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale),
        status=RUNNING,
    ).update(status=QUEUED, enqueued_at=None)
    resent = Analysis.objects.filter(
        status=QUEUED,
        enqueued_at__lt=now - timedelta(seconds=settings.ABVLMQ_RESEND_QUEUED_AFTER),
    ).update(enqueued_at=None)
    if revived or resent:
        log.warning(
            "sweep: %s running analyses lost their worker, %s queued resent", revived, resent
        )
    return SweepReport(revived=revived, resent=resent, sent=analyses_dispatch())


def analysis_beat(*, analysis_id: int) -> None:
    Analysis.objects.filter(pk=analysis_id, status=RUNNING).update(heartbeat_at=timezone.now())


@contextmanager
def heartbeat(*, analysis_id: int) -> Iterator[None]:
    """Beat for the analysis from a thread while the body runs (the model may go quiet for long
    stretches, a thread does not)."""
    interval = settings.ABVLMQ_HEARTBEAT_INTERVAL
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    analysis_beat(analysis_id=analysis_id)
                except Exception as exc:  # a database hiccup: the next beat tries again
                    log.warning("heartbeat of analysis %s failed: %s", analysis_id, exc)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{analysis_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
