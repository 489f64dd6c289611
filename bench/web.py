"""The web pipeline's latency: upload -> first event and upload -> score, as seen by a page.

    python -m bench.web [--model models/demo] [--uploads 50] [--parallel 10]

Real parts: the upload API (intake and de-identification included), Redis, one Celery worker
process (concurrency 1) on the inference queue, the ASGI application's websocket consumer.
Each upload is watched over its websocket from the moment the POST returns. The same
de-identified images first go through the bare engine (``Engine.stream``) in this process;
latencies are printed as ratios to it (1.0 = no overhead; 10 at a time on one worker queues,
so its ratio is mostly the queue). Every upload must end assessed: the counts are printed.
SQLite (WAL) in a temporary folder unless DATABASE_URL is set; Redis from REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "demo"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def summary(values: list[float]) -> dict:
    return {"p50": round(_pct(values, 0.5), 4), "p95": round(_pct(values, 0.95), 4)}


def environment(tmp: Path, model: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    env = {
        "DJANGO_SETTINGS_MODULE": "abvlmq_web.settings",
        "DJANGO_SECRET_KEY": "bench-only",
        "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "ABVLMQ_VAR_DIR": str(tmp),
        "ABVLMQ_MODEL_DIR": str(model),
        "ABVLMQ_INFERENCE_QUEUE": f"bench-{tag}",
        "ABVLMQ_CHANNEL_PREFIX": f"bench-{tag}",
    }
    if not os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    return env


def images(count: int, size: int) -> list[bytes]:
    from trainer.phantoms import generate

    out = []
    for i in range(count):
        buf = BytesIO()
        generate(i, 4242, size)[0].save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def _bare_engine(model: Path, pngs: list[bytes]) -> tuple[list[float], list[float], str]:
    """Seconds to the first event and to the score event of Engine.stream, per image."""
    from django.conf import settings

    from scoring.engine import Engine
    from scoring.imaging import load_scan

    engine = Engine.load(model, **settings.ABVLMQ_ENGINE_OPTIONS)  # as the worker loads it
    images = [load_scan(p).image for p in pngs]
    list(engine.stream(images[0]))  # warm-up
    first, score = [], []
    for img in images:
        t0 = time.perf_counter()
        t_first = t_score = None
        for event in engine.stream(img):
            now = time.perf_counter() - t0
            t_first = t_first if t_first is not None else now
            if event["type"] == "score":
                t_score = now
        end = time.perf_counter() - t0
        first.append(t_first if t_first is not None else end)
        score.append(t_score if t_score is not None else end)
    return first, score, engine.model_id


async def watch(application, scan_id: int, token: str, t0: float) -> tuple[float, float]:
    from channels.testing import WebsocketCommunicator

    ws = WebsocketCommunicator(
        application,
        f"/ws/scans/{scan_id}/?token={token}",
        headers=[(b"origin", b"http://localhost")],
    )
    connected, _ = await ws.connect(timeout=30)
    assert connected, "websocket refused"
    t_first = t_score = None
    while True:
        msg = await ws.receive_json_from(timeout=600)
        now = time.perf_counter() - t0
        t_first = t_first if t_first is not None else now
        if msg["type"] == "score":
            t_score = now
        if msg["type"] == "done":
            break
    await ws.disconnect()
    return t_first, (t_score if t_score is not None else now)


async def _one(application, client, token: str, png: bytes) -> tuple[float, float]:
    from asgiref.sync import sync_to_async
    from django.core.files.uploadedfile import SimpleUploadedFile

    def post():
        from rest_framework.test import APIClient

        own = APIClient()  # a test client is not meant to be shared between threads
        own.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        file = SimpleUploadedFile("scan.png", png, content_type="image/png")
        response = own.post("/api/scans/", {"file": file}, format="multipart")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    t0 = time.perf_counter()
    scan_id = await sync_to_async(post, thread_sensitive=False)()
    return await watch(application, scan_id, token, t0)


async def _run_all(application, client, token, pngs, parallel: int):
    gate = asyncio.Semaphore(parallel)

    async def gated(png):
        async with gate:
            return await _one(application, client, token, png)

    return await asyncio.gather(*(gated(p) for p in pngs))


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument("--size", type=int, default=336)
    args = parser.parse_args(argv)
    if not (args.model / "config.json").exists():
        raise SystemExit(f"bench.web: no model at {args.model} (make demo-model, or --model DIR)")
    tmp = Path(tempfile.mkdtemp(prefix="abvlmq-bench-"))
    application, client, token = _django(tmp, args.model)
    pngs = images(args.uploads, args.size)
    print(f"bare engine on {len(pngs)} images...", flush=True)
    bare_first, bare_score, model_id = _bare_engine(args.model, pngs)
    rows = _through_the_app(application, client, token, pngs, args.parallel, tmp)
    counts = _counts(total=2 * len(pngs) + 1)
    bare = {"first_event_s": summary(bare_first), "score_s": summary(bare_score)}
    print(
        f"bare engine: first event p50 {bare['first_event_s']['p50']:.3f} s, score p50 "
        f"{bare['score_s']['p50']:.3f} s ({model_id})"
    )
    ratios = _ratios(rows, bare)
    if counts["done"] != counts["uploads"]:
        raise SystemExit(
            f"bench.web: only {counts['done']} of {counts['uploads']} uploads ended assessed"
        )
    return {"model_id": model_id, "bare": bare, "rows": rows, "counts": counts, "ratios": ratios}


def _django(tmp: Path, model: Path):
    """Django set up on a fresh database in ``tmp``: the ASGI app, an API client and its
    token."""
    os.environ.update(environment(tmp, model))
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from abvlmq_web.accounts.services import user_create
    from abvlmq_web.asgi import application

    call_command("migrate", verbosity=0)
    user = user_create(username=f"bench-{uuid.uuid4().hex[:6]}", password="bench-pass-1")
    token = Token.objects.create(user=user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return application, client, token


def _through_the_app(application, client, token, pngs, parallel: int, tmp: Path) -> dict:
    """Upload-to-event latency through the app and a Celery worker: one at a time, then
    ``parallel`` at a time (after one warm-up upload)."""
    from asgiref.sync import async_to_sync

    log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker", "-Q",
         os.environ["ABVLMQ_INFERENCE_QUEUE"], "--concurrency=1", "--without-gossip",
         "--without-mingle", "--loglevel=WARNING"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    rows = {}
    try:
        async_to_sync(_run_all)(application, client, token, pngs[:1], 1)  # worker warm-up
        for name, n in (("sequential", 1), (f"{parallel}_at_a_time", parallel)):
            t = time.perf_counter()
            results = async_to_sync(_run_all)(application, client, token, pngs, n)
            wall = time.perf_counter() - t
            rows[name] = {
                "upload_to_first_event_s": summary([r[0] for r in results]),
                "upload_to_score_s": summary([r[1] for r in results]),
                "uploads_per_s": round(len(pngs) / wall, 3),
            }
            first, score = rows[name]["upload_to_first_event_s"], rows[name]["upload_to_score_s"]
            print(
                f"{name:>14}: first event p50 {first['p50']:.3f} s p95 {first['p95']:.3f} s; "
                f"score p50 {score['p50']:.3f} s p95 {score['p95']:.3f} s; "
                f"{rows[name]['uploads_per_s']:.2f} uploads/s",
                flush=True,
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    return rows


def _counts(total: int) -> dict:
    from abvlmq_web.scans.models import Analysis

    statuses = list(Analysis.objects.values_list("status", flat=True))
    counts = {
        "uploads": total,
        "done": statuses.count("done"),
        "scored": Analysis.objects.filter(status="done", score__isnull=False).count(),
        "failed": statuses.count("failed"),
    }
    print(
        f"assessed: {counts['done']}/{total} done ({counts['scored']} with a score, "
        f"{counts['failed']} failed)"
    )
    return counts


def _ratios(rows: dict, bare: dict) -> dict:
    ratios = {}
    for name, row in rows.items():
        for q in ("p50", "p95"):
            ratios[f"{name}_first_event_{q}"] = (
                row["upload_to_first_event_s"][q] / bare["first_event_s"][q]
            )
            ratios[f"{name}_score_{q}"] = row["upload_to_score_s"][q] / bare["score_s"][q]
    for key, value in ratios.items():
        print(f"  {key}: {value:.2f}x bare engine")
    return ratios


if __name__ == "__main__":
    import json

    print(json.dumps(run(sys.argv[1:]), indent=1))
