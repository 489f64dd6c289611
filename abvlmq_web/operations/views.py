"""The service's own endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness) and
``/metrics`` (Prometheus text), for the operator and the load balancer (what they answer:
abvlmq_web/operations/health.py)."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from abvlmq_web.operations.health import readiness, registry


def healthz(request):
    """Liveness: the web process answers (asks nothing else)."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Readiness: database, Redis, a live worker, its model loaded; 503 when not ready. What is
    missing (each component's error) only to the operator: the metrics token's bearer, or a
    caller on this machine; anyone else learns "ready" or not."""
    state = readiness()
    body = state.as_dict() if operator_access(request) else {"ready": state.ready}
    return JsonResponse(body, status=200 if state.ready else 503)


def metrics(request):
    """Prometheus text for the operator: "Bearer <token>" of ABVLMQ_METRICS_TOKEN only. Without
    a token set nobody gets them (403 saying so; the web server warns at start), unless DEBUG
    is on (a developer's machine)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if settings.ABVLMQ_METRICS_TOKEN:
        if not _bearer(request):
            return JsonResponse({"detail": "a metrics token is required"}, status=401)
    elif not settings.DEBUG:
        detail = "metrics are off: set ABVLMQ_METRICS_TOKEN and scrape with it as a bearer token"
        return JsonResponse({"detail": detail}, status=403)
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def operator_access(request) -> bool:
    """The metrics token's bearer, or (no token needed) a caller on this machine."""
    return _bearer(request) or _on_this_machine(request)


def _bearer(request) -> bool:
    token = settings.ABVLMQ_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _on_this_machine(request) -> bool:
    """A direct caller on the loopback: not one a proxy on this machine passed on (a proxy says
    whom it forwards in X-Forwarded-For or Forwarded)."""
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False
