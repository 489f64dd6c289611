"""Counts every request for /metrics (operations/health.py): by view and status, its duration, and
which limit refused it, if one did. First in the chain, so refusals by later middleware (the
lockout) are counted too."""

from __future__ import annotations

import time

from abvlmq_web.operations.health import refusal_kind, request_metrics


class RequestMetricsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.url_name or match.view_name) if match else "unmatched"
        metrics = request_metrics()
        metrics["requests"].labels(view, request.method, str(response.status_code)).inc()
        metrics["duration"].labels(view).observe(time.perf_counter() - started)
        kind = refusal_kind(response)
        if kind is not None:
            metrics["refusals"].labels(kind).inc()
        return response
