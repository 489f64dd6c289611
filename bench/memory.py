"""The web process's memory: after start, after the first upload, and under a burst of uploads.

    python -m bench.memory [--burst 32] [--size 1024x768]

A real web server (``python -m abvlmq_web.server``, as ``make run`` serves) on 127.0.0.1 with
a SQLite database in a temporary folder and Redis from REDIS_URL (a queue of its own; no worker
takes the analyses, so only the web process's work is measured: the upload, intake and
de-identification in the request path). Its resident memory (RSS) is read after it answers,
after one upload of a scanner-sized screen, and every 50 ms through a burst of ``--burst``
uploads sent at once; the figures and the ratios to the first upload are printed.
docs/operations.md carries them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _screens(count: int, size: tuple[int, int]) -> list[bytes]:
    from bench.intake import scanner_screen

    out = []
    for i in range(count):
        buf = BytesIO()
        scanner_screen(i % 8, 5151, size).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def run(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    p.add_argument("--burst", type=int, default=32)
    p.add_argument("--size", default="1024x768")
    args = p.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="abvlmq-bench-memory-"))
    env = _environment(tmp)
    token = _token(env)
    port = _free_port()
    log = (tmp / "web.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "abvlmq_web.server", "-b", "127.0.0.1", "-p", str(port),
         "abvlmq_web.asgi:application"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        measured = _burst(server.pid, f"http://127.0.0.1:{port}", token, args.burst, size)
    finally:
        server.terminate()
        server.wait(timeout=30)
        _forget_queue(env["ABVLMQ_INFERENCE_QUEUE"])
    started, first, peak, after, first_status, first_s, statuses, burst_s = measured
    report = {
        "screen": args.size,
        "rss_mib": {
            "after_start": round(started, 1),
            "after_first_upload": round(first, 1),
            "burst_peak": round(peak, 1),
            "after_burst": round(after, 1),
        },
        "first_upload": {"status": first_status, "seconds": round(first_s, 2)},
        "burst": {
            "uploads": args.burst,
            "accepted": sum(s == 201 for s in statuses),
            "statuses": sorted(set(statuses)),
            "seconds": round(burst_s, 1),
        },
    }
    r = report["rss_mib"]
    print(
        f"web process RSS: {r['after_start']} MiB after start, {r['after_first_upload']} after "
        f"the first upload, {r['burst_peak']} at the peak of {args.burst} uploads at once "
        f"({report['burst']['accepted']} accepted in {burst_s:.1f} s), {r['after_burst']} after",
        flush=True,
    )
    report["ratios"] = {
        "burst_peak_vs_first_upload": r["burst_peak"] / r["after_first_upload"],
        "first_upload_vs_start": r["after_first_upload"] / r["after_start"],
    }
    return report


def _environment(tmp: Path) -> dict:
    """A web server of its own: its database, queue and channel prefix, limits out of the way."""
    tag = uuid.uuid4().hex[:8]
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "abvlmq_web.settings",
        "DJANGO_SECRET_KEY": "bench-only-" + tag * 4,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ABVLMQ_VAR_DIR": str(tmp),
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "ABVLMQ_INFERENCE_QUEUE": f"bench-memory-{tag}",
        "ABVLMQ_CHANNEL_PREFIX": f"bench-memory-{tag}",
        "ABVLMQ_THROTTLE_UPLOADS": "10000/min",
        "ABVLMQ_THROTTLE_USER": "10000/min",
        "ABVLMQ_METRICS_TOKEN": "bench",
        "PYTHONUNBUFFERED": "1",
    }


def _token(env: dict) -> str:
    """A user's API token on the fresh database (migrated here)."""
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "from rest_framework.authtoken.models import Token\n"
        "from abvlmq_web.accounts.services import user_create\n"
        "call_command('migrate', verbosity=0)\n"
        "u = user_create(username='bench-memory', password='bench-pass-1')\n"
        "print(Token.objects.create(user=u).key)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", setup], env=env, cwd=ROOT, capture_output=True, check=True
    )
    return done.stdout.decode().split()[-1]


def _burst(pid: int, url: str, token: str, burst: int, size):
    """The web process's memory after start, after one upload, at the peak of ``burst``
    uploads at once (sampled every 50 ms) and after: with the statuses and times."""
    import requests

    headers = {"Authorization": f"Token {token}"}
    screens = _screens(burst + 1, size)

    def upload(data: bytes) -> int:
        files = {"file": ("screen.png", data, "image/png")}
        return requests.post(
            f"{url}/api/scans/", files=files, headers=headers, timeout=600
        ).status_code

    for _ in range(300):
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    started = _mib(pid)
    t = time.perf_counter()
    first_status = upload(screens[0])
    first_s = time.perf_counter() - t
    first = _mib(pid)
    peak = [first]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(_mib(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=burst) as pool:
        statuses = list(pool.map(upload, screens[1:]))
    burst_s = time.perf_counter() - t
    done.set()
    sampler.join()
    return started, first, max(peak), _mib(pid), first_status, first_s, statuses, burst_s


def _forget_queue(name: str) -> None:
    """The bench's queue left in Redis (no worker ran it): removed."""
    try:
        import redis

        redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")).delete(name)
    except Exception:
        pass


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:]), indent=1))
