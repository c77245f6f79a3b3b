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

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)


class _HotCounts(Collector):
    """The per-request metrics, counted in plain dicts and lists and exported when scraped.

    A ``prometheus_client`` counter takes a lock per increment and a histogram walks its
    buckets in Python; on the ingest path, once per request, that cost more than the rest of
    the bookkeeping together. These are read only by :meth:`collect` (a scrape).
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, list[float]] = {}  # route -> [count per bucket..., +Inf, sum]
        self.entries: dict[tuple[str, str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "clientevents_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            labels=("route", "method", "status"),
        )
        for (route, method, status), answered in sorted(self.requests.items()):
            requests.add_metric((route, method, str(status)), answered)
        yield requests
        latency = HistogramMetricFamily(
            "clientevents_http_request_duration_seconds",
            "Time from the request's first byte to the end of the answer, by route template.",
            labels=("route",),
        )
        for route, counts in sorted(self.latency.items()):
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*_LATENCY_BUCKETS, float("inf")), counts, strict=False):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            latency.add_metric((route,), buckets, counts[-1])
        yield latency
        entries = CounterMetricFamily(
            "clientevents_ingest_entries_total",
            "Ingested entries, accepted or rejected, by stage and reason.",
            labels=("stage", "result", "reason"),
        )
        for labels, total in sorted(self.entries.items()):
            entries.add_metric(labels, total)
        yield entries


def _bound_text(bound: float) -> str:
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]  # as histograms do


class GatewayMetrics:
    """The gateway's counters and histograms in their own registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._hot = _HotCounts()
        self.registry.register(self._hot)
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
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        hot = self._hot
        key = (route, method, status)
        requests = hot.requests
        requests[key] = requests.get(key, 0) + 1
        counts = hot.latency.get(route)
        if counts is None:
            counts = hot.latency[route] = [0.0] * (len(_LATENCY_BUCKETS) + 2)
        counts[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def count_entries(self, stage: str, result: str, reason: str, count: int) -> None:
        """Count ``count`` ingested entries of one stage, result and reason."""
        key = (stage, result, reason)
        entries = self._hot.entries
        entries[key] = entries.get(key, 0) + count

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
