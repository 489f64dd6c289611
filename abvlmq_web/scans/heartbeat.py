"""Worker heartbeats: each worker process beats into Redis (``abvlmq:worker:<name>`` with a
time to live) from a thread started at its start (:func:`start_worker_beat`, wired in
abvlmq_web/celery.py through scans/tasks.py), which also loads the model so that the first scan
does not wait for it. The service's readiness (abvlmq_web/operations/health.py) reads them
(:func:`worker_beats`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

BEAT_PREFIX = "abvlmq:worker:"


def redis_client():
    """The broker's Redis, with short timeouts (a beat or a readiness check must not hang)."""
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
    )


# --------------------------------------------------------------------------- worker beats


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat_once(*, name: str, model_loaded: bool, model_id: str = "") -> None:
    ttl = int(settings.ABVLMQ_WORKER_BEAT_STALE)
    payload = {"at": time.time(), "model_loaded": model_loaded, "model_id": model_id}
    redis_client().set(BEAT_PREFIX + name, json.dumps(payload), ex=max(ttl, 1))


def start_worker_beat(*, preload: bool = True) -> threading.Thread:
    """In a worker process: load the engine (unless told not to) and beat every
    ``ABVLMQ_WORKER_BEAT_INTERVAL`` seconds, saying whether the model is loaded."""
    from abvlmq_web.scans.analysis import get_engine

    name = worker_name()
    state: dict = {"loaded": False, "model_id": ""}

    def run() -> None:
        if preload:
            try:
                engine = get_engine()
                state.update(loaded=True, model_id=str(engine.model_id))
            except Exception as exc:  # the task will report it; readiness says not ready
                log.warning("worker %s could not load its model: %s", name, exc)
        while True:
            try:
                beat_once(name=name, model_loaded=state["loaded"], model_id=state["model_id"])
            except Exception as exc:  # Redis restarting: beat again next time
                log.warning("worker beat failed: %s", exc)
            time.sleep(float(settings.ABVLMQ_WORKER_BEAT_INTERVAL))

    thread = threading.Thread(target=run, name="abvlmq-worker-beat", daemon=True)
    thread.start()
    return thread


def worker_beats() -> list[dict]:
    """The workers that beat within their time to live: name, age in seconds, model loaded."""
    r = redis_client()
    out = []
    now = time.time()
    for key in r.scan_iter(match=BEAT_PREFIX + "*", count=100):
        raw = r.get(key)
        if raw is None:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        name = key.decode() if isinstance(key, bytes) else str(key)
        out.append(
            {
                "name": name[len(BEAT_PREFIX) :],
                "age_s": round(now - float(data.get("at", 0)), 1),
                "model_loaded": bool(data.get("model_loaded")),
                "model_id": data.get("model_id", ""),
            }
        )
    return sorted(out, key=lambda b: b["name"])
