"""The overview figures: rates drawn from the same counters ``GET /metrics`` exports.

:class:`MetricsHistory` samples the gateway's Prometheus registry every ``interval_secs`` (5 s)
and keeps the last ``keep`` samples (10 minutes). Between two samples it computes requests and
accepted events per second, rejected entries and requests per second by reason, and the mean
and 95th-percentile latency of the ingest route (from the histogram's buckets, so the
percentile is the upper bound of the bucket it falls in, as Prometheus' ``histogram_quantile``
would interpolate it). Sampling starts with the first overview request, so a gateway nobody
watches pays nothing.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

__all__ = ["INGEST_ROUTE", "MetricsHistory", "Sample"]

INGEST_ROUTE = "/{stage}/event"


@dataclass(frozen=True, slots=True)
class Sample:
    """Counter totals at one moment."""

    at: float
    requests: float = 0.0
    accepted: float = 0.0
    rejected_entries: dict[str, float] = field(default_factory=dict)
    rejected_requests: dict[str, float] = field(default_factory=dict)
    latency_sum: float = 0.0
    latency_count: float = 0.0
    latency_buckets: tuple[tuple[float, float], ...] = ()


def take_sample(registry: CollectorRegistry, now: float) -> Sample:
    """Read the registry's counters once."""
    requests = accepted = lat_sum = lat_count = 0.0
    rejected_entries: dict[str, float] = collections.defaultdict(float)
    rejected_requests: dict[str, float] = collections.defaultdict(float)
    buckets: dict[float, float] = {}
    for family in registry.collect():
        for s in family.samples:
            labels = s.labels
            if s.name == "clientevents_http_requests_total":
                requests += s.value
            elif s.name == "clientevents_ingest_entries_total":
                if labels.get("result") == "accepted":
                    accepted += s.value
                else:
                    rejected_entries[labels.get("reason", "")] += s.value
            elif s.name == "clientevents_ingest_requests_rejected_total":
                rejected_requests[labels.get("reason", "")] += s.value
            elif labels.get("route") == INGEST_ROUTE:
                if s.name == "clientevents_http_request_duration_seconds_sum":
                    lat_sum += s.value
                elif s.name == "clientevents_http_request_duration_seconds_count":
                    lat_count += s.value
                elif s.name == "clientevents_http_request_duration_seconds_bucket":
                    bound = float(labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + s.value
    return Sample(now, requests, accepted, dict(rejected_entries), dict(rejected_requests),
                  lat_sum, lat_count, tuple(sorted(buckets.items())))


def _quantile(q: float, before: Sample, after: Sample) -> float | None:
    earlier = dict(before.latency_buckets)
    counts = [(bound, total - earlier.get(bound, 0.0)) for bound, total in after.latency_buckets]
    if not counts or counts[-1][1] <= 0:
        return None
    wanted = q * counts[-1][1]
    for bound, cumulative in counts:
        if cumulative >= wanted:
            return bound if bound != float("inf") else None
    return None


def _rates(old: dict[str, float], new: dict[str, float], secs: float) -> dict[str, float]:
    return {
        reason: round((value - old.get(reason, 0.0)) / secs, 3)
        for reason, value in new.items()
        if value - old.get(reason, 0.0) > 0
    }


def interval(before: Sample, after: Sample) -> dict[str, Any]:
    """The rates between two samples."""
    secs = max(after.at - before.at, 1e-6)
    count = after.latency_count - before.latency_count
    mean = (after.latency_sum - before.latency_sum) / count if count > 0 else None
    p95 = _quantile(0.95, before, after)
    return {
        "at": after.at,
        "requests_per_sec": round((after.requests - before.requests) / secs, 3),
        "events_per_sec": round((after.accepted - before.accepted) / secs, 3),
        "rejected_entries_per_sec": _rates(before.rejected_entries, after.rejected_entries, secs),
        "rejected_requests_per_sec": _rates(
            before.rejected_requests, after.rejected_requests, secs
        ),
        "ingest_latency_mean_ms": None if mean is None else round(mean * 1000, 3),
        "ingest_latency_p95_ms": None if p95 is None else round(p95 * 1000, 3),
    }


class MetricsHistory:
    """Samples of a registry at a fixed interval, kept for a while."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval_secs: float = 5.0,
        keep: int = 120,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.interval_secs = interval_secs
        self.clock = clock
        self.samples: collections.deque[Sample] = collections.deque(maxlen=keep + 1)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> Sample:
        """Take a sample now and keep it."""
        taken = take_sample(self.registry, self.clock())
        self.samples.append(taken)
        return taken

    def start(self) -> None:
        """Sample every ``interval_secs`` from now on (idempotent; call on the event loop)."""
        if self._task is None or self._task.done():
            if not self.samples:
                self.sample()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="clientevents-metrics-history"
            )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_secs)
            self.sample()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def series(self) -> list[dict[str, Any]]:
        """The rates of every interval kept, oldest first, plus the interval up to now."""
        samples = list(self.samples)
        now = take_sample(self.registry, self.clock())
        if samples and now.at - samples[-1].at > 0.05:
            samples.append(now)
        return [interval(a, b) for a, b in itertools.pairwise(samples)]

    def totals(self) -> dict[str, Any]:
        """The counters' totals since the gateway started."""
        now = take_sample(self.registry, self.clock())
        return {
            "requests": now.requests,
            "events_accepted": now.accepted,
            "entries_rejected": now.rejected_entries,
            "requests_rejected": now.rejected_requests,
            "ingest_requests": now.latency_count,
        }
