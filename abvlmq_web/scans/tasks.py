"""Celery tasks of the scans app: thin, by id, retry policy in the decorator; each calls one
function of scans/analysis.py (which takes ``run_analysis`` from Celery's registry by name,
RUN_ANALYSIS_TASK, instead of importing this module back)."""

from __future__ import annotations

from dataclasses import asdict

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from abvlmq_web.scans.analysis import analyses_sweep, analysis_fail, analysis_run


class AnalysisTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """All tries failed (or time ran out): the analysis ends as failed, with the reason."""
        analysis_id = args[0] if args else kwargs["analysis_id"]
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"The model took longer than {settings.ABVLMQ_TASK_TIME_LIMIT} s."
        else:
            reason = f"The model could not assess this scan: {type(exc).__name__}: {exc}"
        analysis_fail(analysis_id=analysis_id, reason=reason)


@shared_task(
    base=AnalysisTask,
    acks_late=True,  # a worker that dies mid-analysis leaves the message to be redelivered
    reject_on_worker_lost=True,  # ... also when only its pool process dies
    autoretry_for=(Exception,),
    dont_autoretry_for=(SoftTimeLimitExceeded,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=settings.ABVLMQ_TASK_MAX_ATTEMPTS - 1,
    soft_time_limit=settings.ABVLMQ_TASK_TIME_LIMIT,
    time_limit=settings.ABVLMQ_TASK_TIME_LIMIT + 30,
)
def run_analysis(analysis_id: int) -> None:
    analysis_run(analysis_id=analysis_id)


@shared_task(ignore_result=True)
def sweep_analyses() -> dict:
    """Celery beat runs this every ABVLMQ_SWEEP_INTERVAL s (scans/analysis.py says why)."""
    return asdict(analyses_sweep())


def consumes_inference() -> bool:
    """Whether this worker takes the inference queue: the queues it was started with (``-Q``,
    chosen before its pool processes fork; none chosen: every queue)."""
    from celery import current_app

    chosen = current_app.amqp.queues.consume_from
    return not chosen or settings.ABVLMQ_INFERENCE_QUEUE in chosen


@worker_process_init.connect
def _beat(**_kwargs) -> None:
    """Each inference worker process loads its model and beats into Redis (/readyz,
    /metrics). A training worker does not: its trainer needs the memory (a GPU's above all),
    and it assesses no scan."""
    if not consumes_inference():
        return
    from abvlmq_web.scans.heartbeat import start_worker_beat

    start_worker_beat()


@worker_ready.connect
def _beat_in_place(sender=None, **_kwargs) -> None:
    """A worker without pool processes (threads, as the vLLM backend runs; solo) runs its
    tasks in this process: it loads the model and beats from here."""
    pool = getattr(sender, "pool", None)
    consumer = getattr(sender, "task_consumer", None)
    queues = {q.name for q in getattr(consumer, "queues", [])}
    if settings.ABVLMQ_INFERENCE_QUEUE not in queues:
        return  # the sweeper (maintenance queue) runs no model
    if pool is not None and "prefork" not in type(pool).__module__:
        from abvlmq_web.scans.heartbeat import start_worker_beat

        start_worker_beat()
