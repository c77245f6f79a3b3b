"""Prometheus metrics of the HTTP gateway, served at ``GET /metrics``.

Each app owns its own :class:`prometheus_client.CollectorRegistry`, so several apps in one process
(tests) never share counters. Every label takes values from a small fixed set: routes are the
route templates (``/{stage}/event``), never raw paths; reasons are fixed codes.

=============================================  ===========  ======================================
metric                                         type         labels
=============================================  ===========  ======================================
``clientevents_http_requests_total``           counter      route, method, status
``clientevents_http_request_duration_seconds`` histogram    route
``clientevents_ingest_entries_total``          counter      stage, result (accepted|rejected),
                                                            reason (``ok`` or the rejection code)
``clientevents_ingest_requests_rejected_total`` counter     stage, reason (request-level 4xx)
``clientevents_auth_failures_total``           counter      reason (the authenticator's reason)
``clientevents_rate_limited_total``            counter      stage
=============================================  ===========  ======================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)


class GatewayMetrics:
    """The gateway's counters and histograms in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clientevents_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "clientevents_http_request_duration_seconds",
            "Time from the request's first byte to the end of the answer, by route template.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.entries = Counter(
            "clientevents_ingest_entries_total",
            "Ingested entries, accepted or rejected, by stage and reason.",
            ("stage", "result", "reason"),
            registry=self.registry,
        )
        self.rejected_requests = Counter(
            "clientevents_ingest_requests_rejected_total",
            "Ingest requests refused as a whole (4xx), by stage and reason.",
            ("stage", "reason"),
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "clientevents_auth_failures_total",
            "Requests whose token was missing, invalid or not allowed, by reason.",
            ("reason",),
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "clientevents_rate_limited_total",
            "Ingest requests refused with 429 by the per-client rate limit, by stage.",
            ("stage",),
            registry=self.registry,
        )
        # Label children are cached: looking them up costs a lock and a dict per request.
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}
        self._entry_children: dict[tuple[str, str, str], Counter] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(route, method, str(status))
            self._request_children[key] = child
        child.inc()
        hist = self._latency_children.get(route)
        if hist is None:
            hist = self.latency.labels(route)
            self._latency_children[route] = hist
        hist.observe(seconds)

    def count_entries(self, stage: str, result: str, reason: str, count: int) -> None:
        """Count ``count`` ingested entries of one stage, result and reason."""
        key = (stage, result, reason)
        child = self._entry_children.get(key)
        if child is None:
            child = self.entries.labels(stage, result, reason)
            self._entry_children[key] = child
        child.inc(count)

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
