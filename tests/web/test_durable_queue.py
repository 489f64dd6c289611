"""Nothing accepted is lost: the database outbox, the sweeper, and the broker being down.

End to end with real processes (Redis, Celery workers, Celery beat, daphne) where it matters:
a worker killed mid-analysis, and an upload while the broker is down. The sweeper's rules are
also checked one by one against the real broker queue of this test run.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from io import BytesIO

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from abvlmq_web.scans.analysis import analyses_sweep
from abvlmq_web.scans.models import Analysis
from abvlmq_web.scans.services import scan_upload
from tests.web import images, scripted
from tests.web.conftest import token_for, upload, wait_until
from tests.web.live import Process, child_env, free_port, start_server, stop_all

# The sweeper, quickened for the tests: beat every second, a sweep every second, a worker that
# has not beaten for 4 s is dead. The broker's own redelivery stays at its production 6 minutes,
# so only the sweeper can bring a killed worker's analysis back within the minute.
FAST_SWEEP = {
    "ABVLMQ_HEARTBEAT_INTERVAL": "1",
    "ABVLMQ_HEARTBEAT_STALE_AFTER": "4",
    "ABVLMQ_SWEEP_INTERVAL": "1",
    "ABVLMQ_RESEND_QUEUED_AFTER": "30",
    "ABVLMQ_BROKER_VISIBILITY_TIMEOUT": "360",
}


def _worker(log_dir, *queues: str, wait: bool = True, **env: str) -> Process:
    """A worker of ``queues``; ``wait=False``: started, not waited for (``_ready``)."""
    argv = [
        sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker", "-Q", ",".join(queues),
        "--concurrency=1", "--pool=prefork", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel=INFO", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    return Process(
        "worker", argv, child_env(**env), ready="ready." if wait else "", log_dir=log_dir
    )


def _ready(*processes: Process) -> None:
    """Wait for processes started side by side (``wait=False``) to say they are ready."""
    for process in processes:
        process.wait_for("ready.", timeout=60)


def _sweeper(log_dir, tmp_path, wait: bool = True, **env: str) -> Process:
    """As `make run` and compose start it: beat embedded in a worker of the maintenance queue."""
    argv = [
        sys.executable, "-m", "celery", "-A", "abvlmq_web", "worker", "-B",
        "-Q", settings.ABVLMQ_MAINTENANCE_QUEUE, "--pool=solo", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
        "-n", f"sweeper-{uuid.uuid4().hex[:8]}@%h",
        "--schedule", str(tmp_path / f"beat-{uuid.uuid4().hex[:6]}"),
    ]  # fmt: skip
    return Process(
        "sweeper", argv, child_env(**env), ready="ready." if wait else "", log_dir=log_dir
    )


@pytest.fixture
def processes():
    started: list[Process] = []
    yield started
    stop_all(started)


@pytest.fixture
def broker_queue():
    """This run's inference queue in the real Redis, in the order workers take it (kombu pushes
    on the left and pops on the right), emptied after the test."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    name = settings.ABVLMQ_INFERENCE_QUEUE
    client.delete(name)
    yield lambda: [
        json.loads(m)["headers"]["argsrepr"] for m in reversed(client.lrange(name, 0, -1))
    ]
    client.delete(name)


# --------------------------------------------------------------------------- sweeper rules


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_running_analysis_whose_worker_stopped_beating_is_sent_again(
    resident, broker_queue, settings
):
    settings.ABVLMQ_HEARTBEAT_STALE_AFTER = 30
    scan = upload(resident, images.phantom())
    Analysis.objects.filter(pk=scan.analysis.pk).update(
        status="running", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    # the first message went out at upload (and a worker took it, say): forget it
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.ABVLMQ_INFERENCE_QUEUE)

    assert analyses_sweep().revived == 0, "a worker that beats is alive"
    later = timezone.now() + dt.timedelta(seconds=31)
    report = analyses_sweep(now=later)
    assert (report.revived, report.sent) == (1, 1)
    analysis = Analysis.objects.get(pk=scan.analysis.pk)
    assert analysis.status == "queued" and analysis.enqueued_at is not None
    assert broker_queue() == [f"({analysis.pk},)"]


@pytest.mark.django_db(transaction=True)
def test_a_queued_analysis_whose_message_may_be_lost_is_sent_again(
    resident, broker_queue, settings
):
    scan = upload(resident, images.phantom())
    assert broker_queue() == [f"({scan.analysis.pk},)"]
    assert analyses_sweep().sent == 0, "a fresh message is left alone"
    later = timezone.now() + dt.timedelta(seconds=settings.ABVLMQ_RESEND_QUEUED_AFTER + 1)
    assert analyses_sweep(now=later).resent == 1
    assert broker_queue() == [f"({scan.analysis.pk},)"] * 2  # a duplicate is a no-op


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_one_residents_burst_waits_behind_her_share_not_in_front_of_the_cohort(
    resident, other_resident, broker_queue, settings
):
    settings.ABVLMQ_QUEUE_SHARE = 2
    burst = [upload(resident, images.phantom(seed=i)) for i in range(5)]
    peer = upload(other_resident, images.phantom(seed=9))
    sent = [f"({s.analysis.pk},)" for s in burst[:2]] + [f"({peer.analysis.pk},)"]
    assert broker_queue() == sent
    assert Analysis.objects.filter(scan__in=burst, enqueued_at__isnull=True).count() == 3

    from abvlmq_web.scans.analysis import analysis_run

    analysis_run(analysis_id=burst[0].analysis.pk)  # one of hers is scored: her next goes out
    assert broker_queue() == [*sent, f"({burst[2].analysis.pk},)"]


# --------------------------------------------------------------------------- real processes


@pytest.fixture
def private_broker(tmp_path):
    """A Redis of this test's own as the broker (AOF on). Concurrent test runs share the
    unacked set of a shared Redis, and a worker of theirs with a short visibility timeout would
    hand this test's message back early."""
    port = free_port()
    server = _redis_server(port, tmp_path)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.e2e
def test_a_killed_workers_analysis_finishes_within_a_minute_of_a_live_worker(
    transactional_db, redis_layer, log_dir, tmp_path, private_broker, processes, resident
):
    env = {"CELERY_BROKER_URL": private_broker, **FAST_SWEEP}
    inference = settings.ABVLMQ_INFERENCE_QUEUE
    scan = scan_upload(user=resident, file=BytesIO(images.phantom()), queue=False)
    analysis_id = scan.analysis.pk
    # 1.5 s a line: the analysis takes 12 s, its second event comes at 4.5 s
    processes.append(_worker(log_dir, inference, ABVLMQ_SCRIPTED_DELAY="1.5", wait=False, **env))
    # the sweeper sends the waiting analysis
    processes.append(_sweeper(log_dir, tmp_path, wait=False, **env))
    _ready(*processes)
    wait_until(lambda: Analysis.objects.get(pk=analysis_id).status == "running", timeout=30)
    # A live worker is there before the other dies (as with `make run`'s two workers); it
    # starts once the first one has taken the analysis (the queue is empty then).
    processes.append(_worker(log_dir, inference, ABVLMQ_SCRIPTED_DELAY="0.05", **env))
    wait_until(lambda: Analysis.objects.get(pk=analysis_id).events.count() >= 2, timeout=30)
    processes[0].kill()  # SIGKILL, worker and pool: the message stays unacked for 6 minutes
    assert Analysis.objects.get(pk=analysis_id).status == "running"

    analysis = wait_until(
        lambda: Analysis.objects.filter(pk=analysis_id, status="done").first(), timeout=60
    )
    assert analysis.attempts == 2
    events = list(analysis.events.order_by("seq").values_list("seq", "type"))
    assert events == list(enumerate([*scripted.EXPECTED_TYPES, "done"], start=1))
    assert "'revived': 1" in processes[1].text()


def _multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, (filename, data) in fields.items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _redis_server(port: int, folder) -> subprocess.Popen:
    server = shutil.which("redis-server")
    assert server, "redis-server is needed (scripts/test.sh uses it too)"
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--dir", str(folder)]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: _answers(url), timeout=10)
    return process


def _answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.ConnectionError:
        return False


@pytest.mark.slow
@pytest.mark.e2e
def test_an_upload_while_the_broker_is_down_is_accepted_and_assessed_once_it_is_back(
    transactional_db, redis_layer, log_dir, tmp_path, processes, resident
):
    """The choice: 201, with the analysis kept in the database outbox until the broker is back
    (never a 500 with a committed scan that nobody queues)."""
    port = free_port()
    broker = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0", **FAST_SWEEP}
    web_port = free_port()
    processes.append(start_server(log_dir, web_port, **broker))
    body, content_type = _multipart({"file": ("p.png", images.phantom())})
    request = urllib.request.Request(
        f"http://127.0.0.1:{web_port}/api/scans/",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Token {token_for(resident)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, scan = response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        status, scan = exc.code, exc.read()[:300]
    assert status == 201, scan
    analysis = Analysis.objects.get(scan_id=scan["id"])
    assert (analysis.status, analysis.enqueued_at) == ("queued", None)

    server = _redis_server(port, tmp_path)
    try:
        processes.append(_worker(log_dir, settings.ABVLMQ_INFERENCE_QUEUE, wait=False, **broker))
        processes.append(_sweeper(log_dir, tmp_path, wait=False, **broker))
        _ready(*processes[1:])
        done = wait_until(
            lambda: Analysis.objects.filter(pk=analysis.pk, status="done").first(), timeout=60
        )
    finally:
        stop_all(processes)  # before their broker goes
        server.terminate()
        server.wait(timeout=10)
    assert done.attempts == 1 and done.score == scripted.EXPECTED_SCORE
