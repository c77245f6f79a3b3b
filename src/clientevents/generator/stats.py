"""What a generator run counts: requests, entries, outcomes by error code, latency percentiles.

Latencies go into a log-scale histogram (1 % wide buckets from 10 µs), so memory stays
constant however long the run; percentiles are exact to within a bucket.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LatencyHistogram", "Snapshot", "Stats"]

_BASE = 1.01
_MIN_SECS = 1e-5
_LOG_BASE = math.log(_BASE)


class LatencyHistogram:
    """Counts of latencies in 1 % buckets; ``percentile(0.99)`` in seconds."""

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.max_secs = 0.0

    def add(self, secs: float) -> None:
        """Record one latency (negative values count as zero)."""
        secs = max(secs, 0.0)
        index = 0 if secs <= _MIN_SECS else int(math.log(secs / _MIN_SECS) / _LOG_BASE) + 1
        self._buckets[index] += 1
        self.count += 1
        self.max_secs = max(self.max_secs, secs)

    def percentile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of the recorded ones fall (None when empty)."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(fraction * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                upper = _MIN_SECS * _BASE ** index if index else _MIN_SECS
                return min(upper, self.max_secs)
        return self.max_secs  # pragma: no cover - rank <= count


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counts at one moment, for a progress display."""

    elapsed_secs: float
    requests: int
    sent: int
    accepted: int
    rejected: dict[str, int]
    skipped: int
    in_flight: int
    current_rate: float
    p50_ms: float | None
    p99_ms: float | None


@dataclass
class Stats:
    """Mutable counts of one run (updated from one event loop; no locking needed)."""

    requests: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    sent_by_kind: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    token_refreshes: int = 0
    relogins: int = 0
    sign_in_failures: int = 0
    in_flight: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    _recent: deque[tuple[float, int]] = field(default_factory=deque)

    def record(self, now: float, sent: int, accepted: int, rejected: Counter[str],
               latency_secs: float) -> None:
        """One answered (or failed) request."""
        self.requests += 1
        self.sent += sent
        self.accepted += accepted
        self.rejected.update(rejected)
        self.latency.add(latency_secs)
        self._recent.append((now, sent))

    def rate(self, now: float, window_secs: float = 2.0) -> float:
        """Entries answered per second over the last ``window_secs``."""
        while self._recent and self._recent[0][0] < now - window_secs:
            self._recent.popleft()
        return sum(n for _, n in self._recent) / window_secs

    def snapshot(self, now: float, elapsed: float) -> Snapshot:
        """The counts now."""
        p50, p99 = self.latency.percentile(0.5), self.latency.percentile(0.99)
        return Snapshot(
            elapsed_secs=elapsed,
            requests=self.requests,
            sent=self.sent,
            accepted=self.accepted,
            rejected=dict(self.rejected),
            skipped=self.skipped,
            in_flight=self.in_flight,
            current_rate=self.rate(now),
            p50_ms=None if p50 is None else p50 * 1000,
            p99_ms=None if p99 is None else p99 * 1000,
        )

    def summary(self, elapsed: float) -> dict[str, Any]:
        """The run's totals as plain data (what ``--json`` prints)."""

        def ms(fraction: float) -> float | None:
            value = self.latency.percentile(fraction)
            return None if value is None else round(value * 1000, 3)

        return {
            "elapsed_secs": round(elapsed, 3),
            "requests": self.requests,
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": sum(self.rejected.values()),
            "skipped": self.skipped,
            "sent_by_type": dict(sorted(self.sent_by_kind.items())),
            "rate_per_sec": round(self.sent / elapsed, 2) if elapsed > 0 else 0.0,
            "latency_ms": {
                "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99),
                "max": round(self.latency.max_secs * 1000, 3) if self.latency.count else None,
            },
            "token_refreshes": self.token_refreshes,
            "relogins": self.relogins,
            "sign_in_failures": self.sign_in_failures,
        }
