"""/healthz, /readyz and /metrics: what a load balancer, Kubernetes or Prometheus asks.

Real Redis, the test database, and (for the end-to-end one) a real Celery worker, which
beats into Redis with its model loaded."""

from __future__ import annotations

import pytest
from django.test import Client

from abvlmq_web.scans import heartbeat
from abvlmq_web.scans.models import Analysis
from tests.web import images
from tests.web.conftest import api, upload, wait_until


@pytest.fixture
def no_beats():
    r = heartbeat.redis_client()
    for key in r.scan_iter(match=heartbeat.BEAT_PREFIX + "*"):
        r.delete(key)
    yield r
    for key in r.scan_iter(match=heartbeat.BEAT_PREFIX + "*"):
        r.delete(key)


def test_liveness_asks_nothing_but_the_process(db):
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_not_ready_without_a_worker_then_ready_once_one_beats_with_its_model(db, no_beats):
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert not checks["workers"]["ok"] and "no worker" in checks["workers"]["error"]
    heartbeat.beat_once(name="w1:1", model_loaded=False)
    checks = Client().get("/readyz").json()["checks"]
    assert checks["workers"]["ok"] and not checks["model"]["ok"]  # alive, still loading
    heartbeat.beat_once(name="w1:1", model_loaded=True, model_id="demo@abc")
    response = Client().get("/readyz")
    assert response.status_code == 200 and response.json()["ready"] is True
    assert response.json()["checks"]["model"]["model_ids"] == ["demo@abc"]


def test_redis_down_is_not_ready_and_says_so(db, settings, no_beats):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert not response.json()["checks"]["redis"]["ok"]
    assert "ConnectionError" in response.json()["checks"]["redis"]["error"]


def test_metrics_count_analyses_the_queue_requests_and_refusals(resident, settings, no_beats):
    settings.ABVLMQ_MAX_PENDING_PER_USER = 2
    for seed in range(2):
        upload(resident, images.phantom(seed=seed))
    refused = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    assert refused.status_code == 429
    heartbeat.beat_once(name="w2:1", model_loaded=True)
    text = _scrape(settings)
    assert 'abvlmq_analyses{state="queued"} 2.0' in text
    assert 'abvlmq_queue_depth{where="database"} 2.0' in text
    assert 'abvlmq_workers{kind="model_loaded"} 1.0' in text
    assert 'abvlmq_refusals_total{limit="quota"}' in text
    assert 'abvlmq_http_requests_total{method="POST",status="429",view="api-scans"}' in text
    assert "abvlmq_seconds" in text and "abvlmq_abstentions_total 0.0" in text


def test_metrics_ask_for_the_token_when_one_is_set(db, settings):
    settings.ABVLMQ_METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401
    ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200 and "abvlmq_analyses" in ok.content.decode()


@pytest.mark.slow
@pytest.mark.e2e
def test_a_real_worker_makes_the_service_ready_and_its_scans_show_in_the_metrics(
    worker_factory, resident, no_beats, settings
):
    assert Client().get("/readyz").status_code == 503
    worker_factory()
    wait_until(lambda: Client().get("/readyz").status_code == 200, timeout=60)
    scan = api(resident).post(
        "/api/scans/", {"file": images.file("p.png", images.phantom())}, format="multipart"
    )
    wait_until(
        lambda: Analysis.objects.filter(scan_id=scan.json()["id"], status="done").exists(),
        timeout=60,
    )
    text = _scrape(settings)
    assert 'abvlmq_analyses{state="done"} 1.0' in text
    assert "abvlmq_analyses_finished_recently 1.0" in text
    score = next(
        line for line in text.splitlines() if line.startswith('abvlmq_seconds{to="score"}')
    )
    assert float(score.split()[-1]) > 0


# --------------------------------------------------------------------------- who may ask

OUTSIDER = {"REMOTE_ADDR": "203.0.113.7"}  # TEST-NET-3: a caller that is not this machine


def _scrape(settings) -> str:
    """/metrics as Prometheus asks for them: with the token."""
    settings.ABVLMQ_METRICS_TOKEN = "scrape-token"
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
    assert response.status_code == 200
    return response.content.decode()


def test_without_a_token_metrics_are_off_even_on_this_machine(db, settings):
    settings.ABVLMQ_METRICS_TOKEN = ""
    settings.DEBUG = False
    for caller in (OUTSIDER, {}, {"HTTP_X_FORWARDED_FOR": "203.0.113.7"}):
        refused = Client().get("/metrics", **caller)
        assert refused.status_code == 403
        assert "ABVLMQ_METRICS_TOKEN" in refused.json()["detail"]
        assert b"abvlmq_" not in refused.content
    settings.DEBUG = True  # a developer's machine
    assert Client().get("/metrics").status_code == 200


def test_with_a_token_metrics_ask_for_it_even_on_this_machine(db, settings):
    settings.ABVLMQ_METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", **OUTSIDER)
    assert ok.status_code == 200


def test_readiness_tells_an_outsider_up_or_down_and_the_operator_why(db, settings, no_beats):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.ABVLMQ_METRICS_TOKEN = "s3cret-token"
    outsider = Client().get("/readyz", **OUTSIDER)
    assert outsider.status_code == 503
    assert outsider.json() == {"ready": False}
    operator = Client().get("/readyz", HTTP_AUTHORIZATION="Bearer s3cret-token", **OUTSIDER)
    assert operator.status_code == 503
    assert "error" in operator.json()["checks"]["redis"]
    local = Client().get("/readyz")
    assert "checks" in local.json()


def test_liveness_stays_open_to_anyone(db):
    assert Client().get("/healthz", **OUTSIDER).json() == {"status": "ok"}
