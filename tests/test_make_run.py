"""`make run` itself: it starts on a fresh data folder, seeds the demo cohort (credentials
printed), serves the pages, the API and the websocket's worker, and on Ctrl-C (SIGINT to its
process group, as a terminal sends it) stops everything it started, leaving nothing listening.
`make status` names each process's state; SIGKILL to make itself leaves nothing running within
seconds; a port already taken is named once, with what holds it, and nothing starts."""

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


def _run_env(tmp_path, port: int) -> dict:
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
    return env


def _start(env: dict, out) -> subprocess.Popen:
    return subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True,
        # as from a terminal: SIGINT at its default even when this test runs under a job that
        # ignores it (a command started with `&` by a non-interactive shell), since a shell
        # cannot trap a signal that was ignored when it started
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def _wait_running(proc, out) -> str:
    deadline = time.monotonic() + 420  # seeding assesses 4 phantoms with the demo model
    while b"AbVLM-Q is running" not in (text := Path(out.name).read_bytes()):
        assert proc.poll() is None, text.decode(errors="replace")[-3000:]
        assert time.monotonic() < deadline, text.decode(errors="replace")[-3000:]
        time.sleep(0.5)
    return text.decode(errors="replace")


def _clean(env: dict) -> None:
    url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    for queue in (env["ABVLMQ_INFERENCE_QUEUE"], env["ABVLMQ_MAINTENANCE_QUEUE"]):
        clean_run(url, queue, env["ABVLMQ_CHANNEL_PREFIX"])  # queue bindings and channel keys


def _ours(var: Path) -> list[int]:
    """Processes started for this run: their command line names its data folder or its
    supervisord config (daphne, the workers, the listener, supervisord itself)."""
    marker = str(var).encode()
    out = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            data = cmd.read_bytes()
            environ = (cmd.parent / "environ").read_bytes()
        except OSError:
            continue
        if marker in data or marker in environ:
            out.append(int(cmd.parent.name))
    return [p for p in out if p != os.getpid()]


def test_make_run_starts_serves_seeds_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    env = _run_env(tmp_path, port)
    out = (tmp_path / "make-run.log").open("w+b")
    proc = _start(env, out)
    try:
        text = _wait_running(proc, out)
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
        # a program is STARTING for its first 5 s (startsecs), then RUNNING
        names = ("web", "worker-1", "sweeper", "dicom")
        deadline = time.monotonic() + 60
        while True:
            status = subprocess.run(
                ["make", "--no-print-directory", "status"], cwd=ROOT, env=env,
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            running = [n for n in names if re.search(rf"^{n}\s+RUNNING", status.stdout, re.M)]
            if len(running) == len(names) or time.monotonic() > deadline:
                break
            assert "FATAL" not in status.stdout and "EXITED" not in status.stdout, status.stdout
            time.sleep(1)
        assert running == list(names), status.stdout
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
            _clean(env)
    assert left == [], f"still running after Ctrl-C: {left}"
    assert not _listening(port)
    assert "stopping..." in Path(out.name).read_text(errors="replace")
    redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    queue, prefix = env["ABVLMQ_INFERENCE_QUEUE"], env["ABVLMQ_CHANNEL_PREFIX"]
    assert leftover_redis_keys(redis_url, queue, prefix) == []


def test_sigkill_to_make_leaves_nothing_running_and_a_taken_port_is_named(tmp_path):
    """make's shell killed with SIGKILL (an OOM kill, a CI timeout): within seconds nothing
    of the run is left and its ports are free. Then, with the web port taken by another
    process, a new `make run` says once which port and what holds it, and starts nothing."""
    port = free_port()
    env = _run_env(tmp_path, port)
    env["ABVLMQ_SEED"] = "0"  # a site without the demo cohort: what is killed is the same
    out = (tmp_path / "make-run.log").open("w+b")
    proc = _start(env, out)
    var = tmp_path / "var"
    try:
        assert "no demo accounts or phantoms are seeded" in _wait_running(proc, out)
        assert _listening(port) and len(_ours(var)) >= 4
        os.kill(proc.pid, signal.SIGKILL)  # make itself; nobody runs its trap
        proc.wait(timeout=10)
        deadline = time.monotonic() + 40  # the workers finish their warm shutdown
        while (_ours(var) or _listening(port)) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _ours(var)
        assert left == [] and not _listening(port), f"left running: {left}"

        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", port))
            holder.listen()
            again = subprocess.run(
                ["make", "--no-print-directory", "run"], cwd=ROOT, env=env,
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        said = again.stdout + again.stderr
        assert again.returncode != 0
        assert said.count(f"port {port} is already in use") == 1, said[-2000:]
        assert "python" in said  # what holds it: this test's own process
        assert "AbVLM-Q is running" not in said and _ours(var) == []
    finally:
        for pid in _ours(var):
            os.kill(pid, signal.SIGKILL)
        out.close()
        _clean(env)
