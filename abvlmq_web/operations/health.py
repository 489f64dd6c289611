"""Is the service alive, is it ready, and how is it doing: what `/healthz`, `/readyz` and
`/metrics` answer (the views are in operations/views.py).

- **Liveness**: the web process answers. Nothing else is asked: a load balancer must not
  restart a web process because Redis is down.
- **Readiness**: the database answers a query, Redis answers a PING, and at least one worker
  has beaten in the last ``ABVLMQ_WORKER_BEAT_STALE`` seconds with its model loaded. Workers
  beat into Redis (``abvlmq:worker:<name>`` with a time to live), from a thread started in each
  worker process (abvlmq_web/scans/heartbeat.py), which also loads
  the model at start so that the first scan does not wait for it.
- **Metrics** (Prometheus text): request counts and durations by view and status, and refusals
  by limit, counted in the web process (middleware); the queue, the analyses by state, time to
  first event and to score, abstentions and worker heartbeats, read from the database and Redis
  at each scrape by a collector, so every web process reports the same figures and workers need
  no metrics port of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from abvlmq_web.scans.heartbeat import redis_client, worker_beats
from abvlmq_web.scans.models import Analysis, AnalysisEvent

# --------------------------------------------------------------------------- readiness


@dataclass
class Readiness:
    checks: dict[str, dict] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(c["ok"] for c in self.checks.values())

    def as_dict(self) -> dict:
        return {"ready": self.ready, "checks": self.checks}


def readiness() -> Readiness:
    out = Readiness()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        out.checks["database"] = {"ok": True}
    except Exception as exc:
        out.checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    beats: list[dict] = []
    try:
        redis_client().ping()
        out.checks["redis"] = {"ok": True}
        beats = worker_beats()
    except Exception as exc:
        out.checks["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    alive = [b for b in beats if b["age_s"] <= settings.ABVLMQ_WORKER_BEAT_STALE]
    out.checks["workers"] = {
        "ok": bool(alive),
        "alive": len(alive),
        **({} if alive else {"error": "no worker has beaten lately"}),
    }
    loaded = [b for b in alive if b["model_loaded"]]
    out.checks["model"] = {
        "ok": bool(loaded),
        "loaded_by": len(loaded),
        "model_ids": sorted({b["model_id"] for b in loaded}),
        **({} if loaded else {"error": "no live worker has its model loaded"}),
    }
    return out


# --------------------------------------------------------------------------- metrics


class ServiceCollector:
    """Figures read at each scrape from the database and Redis (see the module's text)."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        by_state = GaugeMetricFamily("abvlmq_analyses", "Analyses by state", labels=["state"])
        counts = dict(Analysis.objects.values_list("status").annotate(n=Count("pk")))
        for state in Analysis.Status.values:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state

        queued = Analysis.objects.filter(status=Analysis.Status.QUEUED)
        depth = GaugeMetricFamily(
            "abvlmq_queue_depth",
            "Queued analyses: waiting in the database, or sent to the broker",
            labels=["where"],
        )
        depth.add_metric(["database"], queued.filter(enqueued_at__isnull=True).count())
        depth.add_metric(["broker"], queued.filter(enqueued_at__isnull=False).count())
        yield depth

        abstained = CounterMetricFamily(
            "abvlmq_abstentions", "Analyses the model declined (out of distribution)"
        )
        abstained.add_metric([], Analysis.objects.filter(abstained=True).count())
        yield abstained
        failed = CounterMetricFamily("abvlmq_analyses_failed", "Analyses that ended failed")
        failed.add_metric([], counts.get(Analysis.Status.FAILED, 0))
        yield failed

        window = timezone.now() - timedelta(seconds=settings.ABVLMQ_METRICS_WINDOW)
        recent = Analysis.objects.filter(
            status=Analysis.Status.DONE, finished_at__gte=window, started_at__isnull=False
        )
        latency = GaugeMetricFamily(
            "abvlmq_seconds",
            f"Mean seconds from upload over the analyses finished in the last "
            f"{settings.ABVLMQ_METRICS_WINDOW} s",
            labels=["to"],
        )
        spans = [
            (f - c).total_seconds() for c, f in recent.values_list("created_at", "finished_at")
        ]
        latency.add_metric(["score"], sum(spans) / len(spans) if spans else 0.0)
        first = (
            AnalysisEvent.objects.filter(analysis__in=recent)
            .values("analysis")
            .annotate(first=Min("created_at"), up=Min("analysis__created_at"))
        )
        gaps = [(r["first"] - r["up"]).total_seconds() for r in first]
        latency.add_metric(["first_event"], sum(gaps) / len(gaps) if gaps else 0.0)
        yield latency
        finished = GaugeMetricFamily(
            "abvlmq_analyses_finished_recently",
            f"Analyses finished in the last {settings.ABVLMQ_METRICS_WINDOW} s",
        )
        finished.add_metric([], recent.count())
        yield finished

        workers = GaugeMetricFamily(
            "abvlmq_workers", "Workers beating, and those with their model loaded", labels=["kind"]
        )
        try:
            beats = [b for b in worker_beats() if b["age_s"] <= settings.ABVLMQ_WORKER_BEAT_STALE]
        except Exception:  # Redis down: no worker can be seen
            beats = []
        workers.add_metric(["alive"], len(beats))
        workers.add_metric(["model_loaded"], sum(b["model_loaded"] for b in beats))
        yield workers
        running = Analysis.objects.filter(status=Analysis.Status.RUNNING)
        stale = timezone.now() - timedelta(seconds=settings.ABVLMQ_HEARTBEAT_STALE_AFTER)
        beating = GaugeMetricFamily(
            "abvlmq_running_analyses", "Running analyses, by their heartbeat", labels=["heartbeat"]
        )
        beating.add_metric(["fresh"], running.filter(heartbeat_at__gte=stale).count())
        beating.add_metric(
            ["stale"],
            running.filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)).count(),
        )
        yield beating


_lock = threading.Lock()
_registry = None
_request_metrics: dict = {}


def request_metrics() -> dict:
    """The web process's own counters: requests, their durations, refusals by limit."""
    from prometheus_client import Counter, Histogram

    with _lock:
        if not _request_metrics:
            _request_metrics["requests"] = Counter(
                "abvlmq_http_requests",
                "HTTP requests by view and status",
                ["view", "method", "status"],
                registry=None,
            )
            _request_metrics["duration"] = Histogram(
                "abvlmq_http_request_seconds", "HTTP request duration by view", ["view"],
                registry=None,
            )  # fmt: skip
            _request_metrics["refusals"] = Counter(
                "abvlmq_refusals",
                "Requests refused by a limit (throttle, upload quota, lockout, size)",
                ["limit"],
                registry=None,
            )
    return _request_metrics


def registry():
    """The web process's registry: its request figures and the service collector."""
    global _registry
    from prometheus_client import CollectorRegistry

    metrics = request_metrics()
    with _lock:
        if _registry is None:
            reg = CollectorRegistry()
            reg.register(ServiceCollector())
            for metric in metrics.values():
                reg.register(metric)
            _registry = reg
    return _registry


def refusal_kind(response) -> str | None:
    """Which limit refused a request, from its response (None: not a refusal by a limit)."""
    code = response.status_code
    if code == 413:
        return "size"
    if code != 429:
        return None
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("code") == "quota":
        return "quota"
    if getattr(response, "headers", {}).get("Retry-After") is not None:
        return "throttle"
    return "lockout"
