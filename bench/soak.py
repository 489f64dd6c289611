"""Soak under faults: simulated residents upload phantoms against `make run`'s own stack while
Redis is restarted and a worker is killed; nothing accepted may be lost or stuck.

    python -m bench.soak [--residents 30] [--minutes 4] [--workers 2] [--interval 90]
                         [--burst 25] [--stall 180] [--max-drain 1800]

- The stack is scripts/run.sh itself (`make run`): SQLite in a temporary var folder, the demo
  model, ``--workers`` supervised Celery workers, Celery beat (the sweeper), daphne; its Redis
  is one this bench starts (AOF on, as scripts/redis.sh starts it) so that it can restart it.
- ``--residents`` residents (tokens made in the database) each upload a phantom every
  ``--interval`` seconds on average (exponential gaps) for ``--minutes``; one of them also
  drops ``--burst`` files at once at the start (the per-user limits refuse part of it and her
  share of the queue keeps her from starving the others).
- At 35 % of the window Redis is killed (SIGKILL: up to a second of AOF may be lost) and
  started again 3 s later; at 60 % one worker is SIGKILLed (Supervisor starts it again).
- Then it waits for the accepted uploads to finish, for as long as some finish (a CPU box
  drains slowly), until nothing has finished for ``--stall`` seconds or ``--max-drain``, and
  reports: accepted, finished (done / failed), lost (201 but not in the database), stuck (not
  finished when the drain ends), p50/p95 seconds from upload to score, and the uploads refused
  by the limits (429) or failing otherwise.

Traffic goes to 127.0.0.1 only; everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))], 2)


class Redis:
    """A redis-server of the bench's own, with AOF in its folder, that it can kill and restart."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise SystemExit("bench.soak needs redis-server (apt-get install redis-server)")
        argv = [
            server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.folder),
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: list[int] = []
        self.codes: Counter[str] = Counter()

    def add(self, code: str, scan_id: int | None = None) -> None:
        with self.lock:
            self.codes[code] += 1
            if scan_id is not None:
                self.accepted.append(scan_id)


def _upload(base: str, token: str, png: bytes, tally: Tally) -> None:
    body, content_type = _multipart(png)
    request = urllib.request.Request(
        f"{base}/api/scans/",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Token {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            tally.add(str(response.status), json.load(response)["id"])
    except urllib.error.HTTPError as exc:
        tally.add(str(exc.code))
    except OSError as exc:
        tally.add(type(exc).__name__)


def _resident(base, token, pngs, tally, until, interval, rng) -> None:
    while True:
        gap = rng.expovariate(1 / interval)
        if time.monotonic() + gap >= until:
            return  # her next upload would fall after the window
        time.sleep(gap)
        _upload(base, token, rng.choice(pngs), tally)


def _setup_django(var: Path) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="abvlmq_web.settings", ABVLMQ_VAR_DIR=str(var))
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()


def _residents(n: int) -> list[str]:
    from rest_framework.authtoken.models import Token

    from abvlmq_web.accounts.services import user_create

    tokens = []
    for i in range(n):
        user = user_create(username=f"soak-{i:02d}", password=f"soak-{uuid.uuid4().hex}")
        tokens.append(Token.objects.create(user=user).key)
    return tokens


def _worker_pids(var: Path) -> list[int]:
    """worker-1's pid as Supervisor knows it (scripts/processes.sh), and its pool children."""
    ctl = [str(ROOT / ".venv" / "bin" / "supervisorctl"), "-c", str(var / "supervisord.conf")]
    pid = int(subprocess.run([*ctl, "pid", "worker-1"], capture_output=True, text=True).stdout)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]


def _wait_for_site(base: str, stack: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.poll() is not None:
            raise SystemExit(f"scripts/run.sh exited with {stack.returncode}")
        try:
            urllib.request.urlopen(f"{base}/accounts/login/", timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit("the site did not come up")


def _report(tally: Tally, started: float, stall: float, max_drain: float) -> dict:
    from django.db.models import Q

    from abvlmq_web.scans.models import Analysis

    def unfinished():
        return Analysis.objects.filter(scan_id__in=tally.accepted).filter(
            Q(status="queued") | Q(status="running")
        )

    # Drain while it progresses: stuck means nothing finished for ``stall`` seconds (or the cap).
    cap = time.monotonic() + max_drain
    last, last_change = unfinished().count(), time.monotonic()
    while last and time.monotonic() < min(cap, last_change + stall):
        time.sleep(2)
        now = unfinished().count()
        if now != last:
            last, last_change = now, time.monotonic()
    rows = {
        a.scan_id: a
        for a in Analysis.objects.filter(scan_id__in=tally.accepted).select_related("scan")
    }
    done = [a for a in rows.values() if a.status == "done"]
    seconds = [(a.finished_at - a.scan.created_at).total_seconds() for a in done]
    refused = {code: n for code, n in tally.codes.items() if code == "429"}
    other = {code: n for code, n in tally.codes.items() if code not in ("201", "429")}
    return {
        "accepted": len(tally.accepted),
        "finished": len(done) + sum(a.status == "failed" for a in rows.values()),
        "done": len(done),
        "failed": sum(a.status == "failed" for a in rows.values()),
        "lost": sum(scan_id not in rows for scan_id in tally.accepted),
        "stuck": sum(a.status in ("queued", "running") for a in rows.values()),
        "retried": sum(a.attempts > 1 for a in rows.values()),
        "time_to_score_s": {"p50": _pct(seconds, 0.5), "p95": _pct(seconds, 0.95)},
        "refused_by_limits": sum(refused.values()),
        "other_errors": other,
        "wall_s": round(time.monotonic() - started, 1),
    }


def run(argv: list[str] | None = None) -> dict:
    args = _arguments(argv)
    tmp = Path(tempfile.mkdtemp(prefix="abvlmq-soak-"))
    var = tmp / "var"
    (tmp / "redis").mkdir(parents=True)
    redis = Redis(tmp / "redis")
    stack = None
    try:
        redis.start()
        base, stack = _start_stack(tmp, var, redis, args.workers)
        _setup_django(var)
        tokens = _residents(args.residents)
        tally, started = _soak(base, tokens, redis, var, args)
        result = _report(tally, started, args.stall, args.max_drain)
    finally:
        if stack is not None and stack.poll() is None:
            os.killpg(stack.pid, signal.SIGTERM)
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
        redis.kill()
    result["settings"] = vars(args)
    result["logs"] = str(tmp)
    print(
        "soak: accepted {accepted}, finished {finished} (done {done}, failed {failed}), "
        "lost {lost}, stuck {stuck}, retried {retried}, time to score p50 {p50} s p95 {p95} s, "
        "refused by limits {refused_by_limits}, other errors {other_errors}".format(
            **result, **result["time_to_score_s"]
        ),
        flush=True,
    )
    ok = result["lost"] == 0 and result["stuck"] == 0
    print("soak: " + ("OK: nothing lost, nothing stuck" if ok else "FAILED"), flush=True)
    return result


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--residents", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=90, help="mean s between uploads")
    parser.add_argument("--burst", type=int, default=25, help="files one resident drops at once")
    parser.add_argument("--stall", type=float, default=180, help="s without progress = stuck")
    parser.add_argument("--max-drain", type=float, default=1800)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def _start_stack(tmp: Path, var: Path, redis: Redis, workers: int):
    """``scripts/run.sh`` on a free port with its own Redis and var folder; (URL, process)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "ABVLMQ_", "CELERY_")) and k != "DATABASE_URL"
    }
    env.update(
        PORT=str(port), HOST="127.0.0.1", REDIS_URL=redis.url, ABVLMQ_VAR_DIR=str(var),
        ABVLMQ_WORKERS=str(workers), PYTHONUNBUFFERED="1",
    )  # fmt: skip
    print(f"soak: starting scripts/run.sh ({workers} workers) in {var}", flush=True)
    stack = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=(tmp / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_for_site(base, stack, timeout=600)
    return base, stack


def _soak(base: str, tokens, redis: Redis, var: Path, args) -> tuple[Tally, float]:
    """Residents upload for ``args.minutes`` (one drops a burst at once) while Redis is
    killed and restarted at 35 % of the window and a worker killed at 60 %."""
    from bench.web import images

    pngs = images(12, 256)
    tally = Tally()
    window = args.minutes * 60
    started = time.monotonic()
    until = started + window
    print(
        f"soak: {args.residents} residents for {args.minutes:g} min, one bursting "
        f"{args.burst}; Redis restart at {0.35 * window:.0f} s, worker kill at "
        f"{0.6 * window:.0f} s",
        flush=True,
    )
    threads = [
        threading.Thread(target=_upload, args=(base, tokens[0], pngs[i % 12], tally))
        for i in range(args.burst)
    ]
    rng = random.Random(args.seed)
    threads += [
        threading.Thread(
            target=_resident,
            args=(base, t, pngs, tally, until, args.interval, random.Random(rng.random())),
        )
        for t in tokens
    ]
    for t in threads:
        t.start()
    time.sleep(0.35 * window)
    print(f"soak: t={time.monotonic() - started:.0f} s: Redis killed", flush=True)
    redis.kill()
    time.sleep(3)
    redis.start()
    print(f"soak: t={time.monotonic() - started:.0f} s: Redis back (AOF replayed)", flush=True)
    time.sleep(max(0.0, started + 0.6 * window - time.monotonic()))
    pids = _worker_pids(var)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    print(f"soak: t={time.monotonic() - started:.0f} s: worker-1 killed {pids}", flush=True)
    for t in threads:
        t.join()
    print(f"soak: uploads over at t={time.monotonic() - started:.0f} s; draining", flush=True)
    return tally, started


if __name__ == "__main__":
    raise SystemExit(0 if (r := run()) and r["lost"] == 0 and r["stuck"] == 0 else 1)
