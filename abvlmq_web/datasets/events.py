"""A training run's progress pushed to the pages open on it: the channel group
``training.<id>``, one message per change (the worker's progress, every ``POLL_S`` seconds while
it trains; a state change, the evaluation, the end), each the whole of what the run's page shows
(``selectors.run_payload``). The database stays the record: a page that connects reads the run
first, and one without a socket polls the API."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from abvlmq_web.datasets.models import TrainingRun
from abvlmq_web.datasets.selectors import run_payload, runs

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"training.{run_id}"


def push_run(run: TrainingRun | int) -> None:
    """Send the run as it stands now to its group; never raises (the page also polls)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if not isinstance(run, TrainingRun):
            run = runs().get(pk=run)
        message = {"type": "training.progress", "run": run_payload(run)}
        async_to_sync(layer.group_send)(run_group(run.pk), message)
    except Exception:
        log.warning("could not push the progress of training run %s", run, exc_info=True)
