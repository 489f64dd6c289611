"""Celery tasks of the datasets app: a training run (queue ``training``, routed in settings)
and the sweep that sends again the runs whose worker died (the maintenance queue's beat).

The run's message is acknowledged on receipt (``acks_late=False``, against the project's
default): a run outlasts the broker's visibility timeout, so a late acknowledgement would have
the broker hand a live run to a second worker. A lost worker is found by the run's heartbeat
instead (training.training_sweep), and the run resumes from its saved state.
"""

from __future__ import annotations

from celery import shared_task

from abvlmq_web.datasets.training import run_execute, training_sweep


@shared_task(ignore_result=True, acks_late=False, time_limit=None, soft_time_limit=None)
def run_training(run_id: int) -> None:
    run_execute(run_id)


@shared_task(ignore_result=True)
def sweep_training() -> list[int]:
    return training_sweep()
