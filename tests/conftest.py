"""Session-wide hygiene: a test run leaves nothing behind, neither the throwaway data folder
that abvlmq_web/test_settings.py made nor this run's Redis queue and channel keys."""

from __future__ import annotations

import os
import shutil


def leftover_redis_keys(redis_url: str, queue: str, channel_prefix: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = set(client.scan_iter(match=f"*{queue}"))  # the queue and kombu's bindings
        keys |= set(client.scan_iter(match=f"{queue}\x06\x16*"))  # its priority lists
        keys |= set(client.scan_iter(match=f"{channel_prefix}:*"))
        return sorted(k.decode() for k in keys)
    finally:
        client.close()


def clean_run(redis_url: str, queue: str, channel_prefix: str) -> None:
    """Drop this run's Celery queue (messages queued by tests with no worker), kombu's
    bindings of it and the channel layer's keys. Only names a test run makes are touched."""
    import redis

    if not (queue.startswith("inference-test-") and channel_prefix.startswith("abvlmq-test-")):
        return  # names given from outside: not ours to delete
    keys = leftover_redis_keys(redis_url, queue, channel_prefix)
    if keys:
        client = redis.Redis.from_url(redis_url)
        try:
            client.delete(*keys)
        finally:
            client.close()


def pytest_sessionfinish(session, exitstatus):
    from django.conf import settings

    if not settings.configured:
        return
    try:
        clean_run(
            settings.REDIS_URL, settings.ABVLMQ_INFERENCE_QUEUE, settings.ABVLMQ_CHANNEL_PREFIX
        )
    except Exception as exc:  # Redis down: nothing of ours can be there either
        print(f"\nconftest: could not clean Redis: {exc}")
    owner, _, owned = os.environ.get("ABVLMQ_TEST_OWNS_VAR_DIR", "").partition(":")
    if owner == str(os.getpid()) and os.path.basename(owned).startswith("abvlmq-test-"):
        shutil.rmtree(owned, ignore_errors=True)
