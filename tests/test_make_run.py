"""`make run` itself: it starts on a fresh data folder, seeds the demo cohort (credentials
printed), serves the pages, the API and the websocket's worker, and on Ctrl-C (SIGINT to its
process group, as a terminal sends it) stops everything it started, leaving nothing listening."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import clean_run, leftover_redis_keys
from tests.web.live import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _session_processes(sid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # session id; zombies are gone
            pids.append(int(stat.parent.name))
    return pids


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_starts_serves_seeds_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ABVLMQ_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite in the data folder
    tag = uuid.uuid4().hex[:8]
    env.update(
        PORT=str(port),
        ABVLMQ_VAR_DIR=str(tmp_path / "var"),
        ABVLMQ_INFERENCE_QUEUE=f"inference-test-run-{tag}",  # not a developer's `make run`
        ABVLMQ_CHANNEL_PREFIX=f"abvlmq-test-run-{tag}",
        ABVLMQ_MAINTENANCE_QUEUE=f"inference-test-runm-{tag}",
        ABVLMQ_DICOM_PORT=str(free_port()),  # not a developer's listener on 11112
    )
    out = (tmp_path / "make-run.log").open("w+b")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True,
        # as from a terminal: SIGINT at its default even when this test runs under a job that
        # ignores it (a command started with `&` by a non-interactive shell), since a shell
        # cannot trap a signal that was ignored when it started
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 420  # seeding assesses 4 phantoms with the demo model
        while b"AbVLM-Q is running" not in (text := Path(out.name).read_bytes()):
            assert proc.poll() is None, text.decode(errors="replace")[-3000:]
            assert time.monotonic() < deadline, text.decode(errors="replace")[-3000:]
            time.sleep(0.5)
        text = text.decode(errors="replace")
        assert f"http://127.0.0.1:{port}/" in text
        accounts = re.findall(
            r"^\s+(\w+)\s+(\S+)\s+(resident|instructor|program_admin)$", text, re.M
        )
        roles = sorted(r for *_, r in accounts)
        assert roles == ["instructor", "program_admin", "resident", "resident"], text[-2000:]

        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/accounts/login/", timeout=10) as r:
            assert r.status == 200 and b"password" in r.read()
        username, password = next((u, p) for u, p, role in accounts if role == "resident")
        request = urllib.request.Request(
            f"{base}/api/auth/token/",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            token = json.load(r)["token"]
        scans = urllib.request.Request(
            f"{base}/api/scans/", headers={"Authorization": f"Token {token}"}
        )
        with urllib.request.urlopen(scans, timeout=10) as r:
            assert json.load(r)["count"] >= 1  # her seeded phantoms
        assert (tmp_path / "var" / "db.sqlite3").is_file()
        assert len(_session_processes(proc.pid)) >= 3  # make, run.sh, worker, daphne...
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            proc.wait(timeout=60)
        finally:
            left = _session_processes(proc.pid)
            for pid in left:  # never leave them running, even when the test fails
                os.kill(pid, signal.SIGKILL)
            out.close()
            clean_run(
                env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                env["ABVLMQ_INFERENCE_QUEUE"],
                env["ABVLMQ_CHANNEL_PREFIX"],
            )  # its worker's queue bindings and channel keys
            clean_run(
                env.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                env["ABVLMQ_MAINTENANCE_QUEUE"],
                env["ABVLMQ_CHANNEL_PREFIX"],
            )  # and the sweeper's
    assert left == [], f"still running after Ctrl-C: {left}"
    assert not _listening(port)
    assert "stopping..." in Path(out.name).read_text(errors="replace")
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    queue, prefix = env["ABVLMQ_INFERENCE_QUEUE"], env["ABVLMQ_CHANNEL_PREFIX"]
    assert leftover_redis_keys(redis_url, queue, prefix) == []
