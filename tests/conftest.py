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


# --------------------------------------------------------------------------- what a test runs
# Markers say what a web test really runs (pyproject.toml declares them; `pytest -m e2e` etc.):
#  - e2e: written on the test: real processes (a Celery worker and Redis, daphne, the DICOM
#    listener, `make run`), some with the demo model. Every test that starts one through
#    tests/web/live.py asks for `log_dir`, so one without the marker is a collection error.
#  - scripted and inmemory: given here, by rule, to the tests under tests/web and tests/teaching:
#    scripted when the autouse `scripted_engine` fixture stands (no `ml` marker and no
#    `real_engine` fixture swaps in scoring.engine); inmemory when its channel layer is the one
#    in the test process (abvlmq_web/test_settings.py), that is, when it is no e2e test and asks
#    for no `redis_layer`.
WEB_TESTS = ("tests/web/", "tests/teaching/")


def pytest_collection_modifyitems(config, items):
    import pytest

    root = str(config.rootpath) + os.sep
    unmarked = []
    serving = os.environ.get("ABVLMQ_TEST_VLLM") == "1"
    for item in items:
        if item.get_closest_marker("vllm") is not None and not serving:
            item.add_marker(
                pytest.mark.skip(reason="the real vLLM server's tests run in `make test-serving`")
            )
        path = str(item.path).removeprefix(root).replace(os.sep, "/")
        names = set(getattr(item, "fixturenames", ()))
        e2e = item.get_closest_marker("e2e") is not None
        if "log_dir" in names and not e2e:
            unmarked.append(item.nodeid)
        if not path.startswith(WEB_TESTS):
            continue
        real = item.get_closest_marker("ml") is not None or "real_engine" in names
        if "scripted_engine" in names and not real:
            item.add_marker(pytest.mark.scripted)
        if not e2e and "redis_layer" not in names:
            item.add_marker(pytest.mark.inmemory)
    if unmarked:
        raise pytest.UsageError(
            "these tests start real processes (they ask for log_dir) but are not marked e2e: "
            + ", ".join(unmarked)
        )


# --------------------------------------------------------------------------- time per folder

_FOLDER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Add each test's setup, call and teardown to its folder's total."""
    parts = report.nodeid.split("::", 1)[0].split("/")
    folder = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    _FOLDER_SECONDS[folder] = _FOLDER_SECONDS.get(folder, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """The time each folder of tests took (tests/README.md says what each folder holds)."""
    if not _FOLDER_SECONDS:
        return
    terminalreporter.section("time per folder")
    for folder, seconds in sorted(_FOLDER_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {folder}")
