"""The fast path in the web process: where a live frame is scored, and why there.

A frame costs the demo model's tower about 10 ms of one core (``bench.live`` measures it), and
the answer must be back within a few hundred milliseconds, five times a second. Sending it to
the Celery workers would add a broker round trip and put live frames in the queue behind
full assessments (seconds each), the opposite of "the latest frame wins". So the socket's own
process scores it: the consumer hands the frame to a small thread pool (``ABVLMQ_LIVE_THREADS``,
default 2: this machine's cores), with at most one frame in flight per stream, so the event
loop never waits on the model and a slow stream cannot queue work. Torch releases the GIL in
its kernels, so the pool's threads run in parallel; each uses one intra-op thread, so N streams
share the cores instead of fighting over them.

The scorer is the active model (``core.rubrics.worker_runtime``, as the workers load it) with
the head stored beside its weights (``scoring.live``), loaded once per process and replaced when
an admin activates another model. A 2B model's tower alone would be loaded for this as
``VllmEngine`` does; the demo model is loaded whole (12 MB).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from abvlmq_web.core.rubrics import Runtime, worker_runtime
from scoring.live import FrameRefused, FrameResult, LiveScorer, decode_frame

_lock = threading.Lock()
_scorers: dict[tuple[str, str | None, str], LiveScorer | None] = {}
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    """The process's pool for live frames (made on first use)."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.ABVLMQ_LIVE_THREADS, thread_name_prefix="abvlmq-live"
            )
        return _executor


def runtime() -> Runtime:
    """The model and rubric in force (reads the database: call it from sync code)."""
    return worker_runtime()


def scorer_for(run: Runtime) -> LiveScorer | None:
    """The fast path of ``run``'s model; None when the model has no live head. Slow the first
    time (the model loads): call it in :func:`executor`."""
    key = (str(run.model_dir), run.adapter_dir, run.rubric.version)
    with _lock:
        if key not in _scorers:
            import torch

            torch.set_num_threads(1)  # one core per frame; the pool's threads share the rest
            _scorers.clear()  # one model a process: a newly activated one replaces the last
            _scorers[key] = LiveScorer.load(
                run.model_dir, run.adapter_dir, rubric=run.rubric, device="cpu"
            )
        return _scorers[key]


def score_frame(scorer: LiveScorer, data: bytes) -> FrameResult | FrameRefused:
    """One frame's bytes -> what the fast path read, or why it was not read. Runs in the
    pool; the bytes and pixels are dropped when it returns."""
    try:
        image = decode_frame(data, max_bytes=settings.ABVLMQ_LIVE_MAX_FRAME_BYTES)
    except FrameRefused as refused:
        return refused
    return scorer.score(image)
