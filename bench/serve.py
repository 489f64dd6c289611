"""A cohort at once: the in-process engine against the serving engine (vLLM), through the stack.

    python -m bench.serve [--model models/demo] [--bursts 1 8 32]

For each engine, bursts of 1, 8 and 32 uploads sent at once (each from its own resident, so
the fair share holds none back), each watched over its websocket from the moment its POST
returns: scans per minute over the burst, and p50/p95 from upload to the first event and to
the score. Real parts: the upload API, Redis, Celery workers, the websocket consumer, and
either one worker process running the model (``make run``'s default: concurrency 1) or the
vLLM server with one worker holding 16 analyses in flight (``ABVLMQ_ENGINE=vllm make run``).
Ratios: vLLM's throughput at 32 against the in-process engine's (target >= 4), and vLLM's p95
upload-to-score at 32 against a lone scan's (target <= 3, printed as its inverse >= 1/3).
The server's environment (.venv-vllm) is created when missing (scripts/vllm.sh).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench.web import environment, images, summary, watch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "demo"
VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_vllm(model: Path, tmp: Path) -> tuple[subprocess.Popen, int]:
    if not VLLM_PY.exists():
        subprocess.run(
            ["bash", "-c", "source scripts/vllm.sh && ensure_vllm"], cwd=ROOT, check=True
        )
    port = _free_port()
    log = (tmp / "vllm.log").open("wb")
    proc = subprocess.Popen(
        [str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--served-model-name", "abvlmq", "--host", "127.0.0.1", "--port", str(port),
         "--max-model-len", "1024", "--dtype", "float32", "--enforce-eager"],
        cwd=ROOT, env=dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1"), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 900
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"bench.serve: vLLM did not start; see {tmp / 'vllm.log'}"
                ) from None
            time.sleep(2)


def _worker(engine: str, port: int | None, tmp: Path) -> subprocess.Popen:
    env = dict(os.environ)
    pool = ["--concurrency=1"]
    if engine == "vllm":
        env.update(
            ABVLMQ_ENGINE="vllm", ABVLMQ_VLLM_URL=f"http://127.0.0.1:{port}/v1", OMP_NUM_THREADS="1"
        )
        pool = ["--pool=threads", "--concurrency=32"]
    log = (tmp / f"worker-{engine}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker", "-Q",
         os.environ["ABVLMQ_INFERENCE_QUEUE"], *pool, "--without-gossip", "--without-mingle",
         "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _burst(application, tokens: list[str], pngs: list[bytes]) -> tuple[list, float]:
    """Send every upload at once; (first event s, score s) each, and the wall seconds."""
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async

    def post(token: str, png: bytes) -> int:
        from django.core.files.uploadedfile import SimpleUploadedFile
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        file = SimpleUploadedFile("scan.png", png, content_type="image/png")
        response = client.post("/api/scans/", {"file": file}, format="multipart")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    async def one(token: str, png: bytes):
        t0 = time.perf_counter()
        scan_id = await sync_to_async(post, thread_sensitive=False)(token, png)
        return await watch(application, scan_id, token, t0)

    async def everything():
        return await asyncio.gather(*(one(t, p) for t, p in zip(tokens, pngs, strict=True)))

    t = time.perf_counter()
    results = async_to_sync(everything)()
    return results, time.perf_counter() - t


def _wait_idle(timeout: float = 900) -> None:
    from abvlmq_web.scans.models import Analysis

    deadline = time.monotonic() + timeout
    while Analysis.objects.filter(status__in=["queued", "running"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("bench.serve: analyses still unfinished")
        time.sleep(0.5)


def run(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--bursts", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--engines", nargs="+", default=["inprocess", "vllm"])
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="abvlmq-bench-serve-"))
    os.environ.update(environment(tmp, args.model))
    import django

    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from abvlmq_web.accounts.services import user_create
    from abvlmq_web.asgi import application
    from abvlmq_web.scans.models import Analysis

    call_command("migrate", verbosity=0)
    most = max(args.bursts)
    tokens = []
    for _ in range(most):
        user = user_create(username=f"r-{uuid.uuid4().hex[:8]}", password="bench-pass-1")
        tokens.append(Token.objects.create(user=user).key)
    pngs = images(most + 1, 224)
    rows: dict[str, dict] = {}
    for engine in args.engines:
        server, port = (None, None)
        if engine == "vllm":
            server, port = _start_vllm(args.model, tmp)
        worker = _worker(engine, port, tmp)
        try:
            _burst(application, tokens[:1], pngs[-1:])  # warm-up: the model loads
            _wait_idle()
            for n in args.bursts:
                results, wall = _burst(application, tokens[:n], pngs[:n])
                _wait_idle()
                first = [r[0] for r in results]
                score = [r[1] for r in results]
                row = {
                    "scans_per_min": round(60 * n / wall, 2),
                    "upload_to_first_event_s": summary(first),
                    "upload_to_score_s": summary(score),
                }
                rows[f"{engine}_{n}"] = row
                print(
                    f"{engine:>9} x{n:<3}: {row['scans_per_min']:7.2f} scans/min; first event "
                    f"p50 {row['upload_to_first_event_s']['p50']:.2f} s p95 "
                    f"{row['upload_to_first_event_s']['p95']:.2f} s; score p50 "
                    f"{row['upload_to_score_s']['p50']:.2f} s p95 "
                    f"{row['upload_to_score_s']['p95']:.2f} s",
                    flush=True,
                )
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            if server is not None:
                os.killpg(server.pid, 15)
                server.wait(timeout=60)
    failed = Analysis.objects.filter(status="failed").count()
    ratios, targets = {}, {}
    top = max(args.bursts)
    if f"vllm_{top}" in rows and f"inprocess_{top}" in rows:
        ratios[f"vllm_vs_inprocess_throughput_at_{top}"] = (
            rows[f"vllm_{top}"]["scans_per_min"] / rows[f"inprocess_{top}"]["scans_per_min"]
        )
        targets[f"vllm_vs_inprocess_throughput_at_{top}"] = 4.0
    if f"vllm_{top}" in rows and "vllm_1" in rows:
        key = f"vllm_lone_vs_{top}_p95_score"  # >= 1/3: p95 at most 3x a lone scan's
        ratios[key] = (
            rows["vllm_1"]["upload_to_score_s"]["p95"]
            / rows[f"vllm_{top}"]["upload_to_score_s"]["p95"]
        )
        targets[key] = 1 / 3
    if failed:
        raise SystemExit(f"bench.serve: {failed} analyses failed")
    return {"rows": rows, "ratios": ratios, "targets": targets}


if __name__ == "__main__":
    import json

    print(json.dumps(run(sys.argv[1:]), indent=1))
