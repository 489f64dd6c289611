"""Running the model on a scan: the engine, loaded once per worker process, and one analysis.

The engine class is a setting (``ABVLMQ_ENGINE``, "module:Class", default
``scoring.engine:Engine``) with ``load(model_dir, adapter_dir=None)``, ``stream(image)`` (an
iterable of scoring.events whose ``.assessment`` is set once exhausted) and ``model_id``.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from django.conf import settings
from PIL import Image

from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.queueing import heartbeat
from abvlmq_web.scans.services import analysis_finish, analysis_record_event, analysis_start

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engines: dict[tuple[str, str, str | None, str], Any] = {}


def engine_key() -> tuple[str, str, str | None, str]:
    """Engine class, model, adapter and rubric version: the model and rubric an admin activated
    (administration app, asked at every task, so workers switch without a restart), else the
    settings' model and the shipped rubric."""
    from abvlmq_web.core.rubrics import worker_runtime

    runtime = worker_runtime()
    return settings.ABVLMQ_ENGINE, runtime.model_dir, runtime.adapter_dir, runtime.rubric.version


def get_engine() -> Any:
    """The engine for the current settings; loaded on first use, then kept for the process."""
    key = engine_key()
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            from abvlmq_web.core.rubrics import rubric_for_version

            dotted, model_dir, adapter_dir, rubric_version = key
            module, _, name = dotted.partition(":")
            engine_class = getattr(importlib.import_module(module), name)
            log.info("loading engine %s from %s (adapter %s)", dotted, model_dir, adapter_dir)
            options = dict(settings.ABVLMQ_ENGINE_OPTIONS)
            rubric = rubric_for_version(rubric_version)
            engine = engine_class.load(model_dir, adapter_dir=adapter_dir, rubric=rubric, **options)
            _engines.clear()  # one engine a process: a newly activated version replaces the last
            _engines[key] = engine
        return engine


def analysis_run(*, analysis_id: int) -> Analysis | None:
    """Run the model on the scan of ``analysis_id``, saving and pushing every event.

    Raises whatever the engine raises: the task's retry policy decides what happens next.
    """
    engine = get_engine()
    analysis = analysis_start(
        analysis_id=analysis_id,
        model_id=str(engine.model_id),
        rubric_version=engine.rubric.version,
        max_attempts=settings.ABVLMQ_TASK_MAX_ATTEMPTS,
    )
    if analysis is None:
        return None
    with heartbeat(analysis_id=analysis.pk):
        clip = getattr(analysis.scan, "clip", None)
        if clip is not None:  # a cine clip: its sampled frames in one batch, the best one shown
            from abvlmq_web.cine.services import clip_analysis_run

            return clip_analysis_run(analysis=analysis, engine=engine, clip=clip)
        with analysis.scan.image.open("rb") as fh:
            image = Image.open(fh).convert("RGB")
        stream = engine.stream(image)
        seq = 0
        for event in stream:
            seq += 1
            analysis_record_event(analysis=analysis, seq=seq, event=event)
        return analysis_finish(analysis=analysis, assessment=stream.assessment, next_seq=seq + 1)
