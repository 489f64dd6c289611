"""Real processes for the end-to-end tests: a Celery worker and an ASGI server, started as
subprocesses against pytest's test database, the same Redis and the same media folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="abvlmq_web.test_settings",
        DATABASE_URL=test_database_url(),
        ABVLMQ_VAR_DIR=str(settings.VAR_DIR),
        ABVLMQ_INFERENCE_QUEUE=settings.ABVLMQ_INFERENCE_QUEUE,
        ABVLMQ_CHANNEL_PREFIX=settings.ABVLMQ_CHANNEL_PREFIX,
        ABVLMQ_TEST_CHANNEL_LAYER="redis",
        REDIS_URL=settings.REDIS_URL,
        ABVLMQ_ENGINE=settings.ABVLMQ_ENGINE,
        # A message taken by a killed worker comes back after 4 s, looked for every second.
        ABVLMQ_BROKER_VISIBILITY_TIMEOUT="4",
        ABVLMQ_BROKER_RESTORE_INTERVAL="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        ready: str,
        log_dir: Path,
        ready_timeout: float = 60,
    ):
        self.name = name
        self.log = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for(ready, timeout=ready_timeout)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready:\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: the machine under the worker is gone."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM to the process group, not waited for (``reap``)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def reap(self) -> None:
        """Wait for a terminated process (killed where its shutdown hangs); close its log."""
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self._fh.close()

    def stop(self) -> None:
        self.terminate()
        self.reap()


def stop_all(processes: list[Process]) -> None:
    """Stop them side by side: each Celery worker's warm shutdown takes a second or two."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.reap()


def start_worker(log_dir: Path, queue: str | None = None, **env: str) -> Process:
    """A Celery worker on this run's inference queue, or on ``queue``."""
    argv = [
        sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker",
        "-Q", queue or settings.ABVLMQ_INFERENCE_QUEUE, "--concurrency=1", "--pool=prefork",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=INFO", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    return Process("worker", argv, child_env(**env), ready="ready.", log_dir=log_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log_dir: Path, port: int, **env: str) -> Process:
    argv = [
        sys.executable, "-m", "abvlmq_web.server", "-b", "127.0.0.1", "-p", str(port),
        "abvlmq_web.asgi:application",
    ]  # fmt: skip
    return Process("daphne", argv, child_env(**env), ready="Listening on", log_dir=log_dir)


def start_listener(log_dir: Path, port: int, **env: str) -> Process:
    """`manage.py dicom_listener` on 127.0.0.1:``port`` (the command `make run` starts)."""
    argv = [
        sys.executable,
        "manage.py",
        "dicom_listener",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return Process("listener", argv, child_env(**env), ready="listening on", log_dir=log_dir)
