"""Token buckets: one bucket, and a bounded family of buckets keyed by a caller's id.

A bucket holds at most ``burst`` tokens and refills at ``rate`` tokens a second. Taking a token
when the bucket is empty is refused with the time until the next token, which HTTP callers put in
``Retry-After``.

:class:`KeyedLimiter` keeps one bucket per key (a clientId) in insertion order and forgets the
oldest buckets once it holds ``max_keys``: a forgotten bucket was idle long enough to be full
again in the common case, so forgetting it only ever errs on the side of letting a request in.
The limiter is meant for one event loop (no lock): the gateway calls it from its request path.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """A token bucket that refills continuously.

    Example::

        bucket = TokenBucket(rate=10.0, burst=20)
        wait = bucket.take()      # 0.0 when a token was taken, else seconds until one is free
    """

    __slots__ = ("_clock", "burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, *, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or not math.isfinite(rate):
            raise ValueError(f"A token bucket needs a positive finite rate, got {rate!r}.")
        if burst < 1:
            raise ValueError(f"A token bucket needs a burst of at least 1, got {burst!r}.")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def take(self, count: float = 1.0) -> float:
        """Take ``count`` tokens: 0.0 on success, else the seconds to wait (nothing is taken)."""
        now = self._clock()
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.rate

    def is_full(self) -> bool:
        """True when the bucket would be full now (an idle caller)."""
        elapsed = self._clock() - self.stamp
        return self.tokens + max(elapsed, 0.0) * self.rate >= self.burst


class KeyedLimiter:
    """One :class:`TokenBucket` per key, at most ``max_keys`` of them.

    Example::

        limiter = KeyedLimiter(rate=100.0, burst=200)
        wait = limiter.take("client-1")     # 0.0 = allowed; > 0 = refused, retry after ``wait`` s
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"A keyed limiter needs max_keys >= 1, got {max_keys!r}.")
        # Validate rate and burst once, here, rather than on the first request.
        TokenBucket(rate, burst, clock=clock)
        self.rate = float(rate)
        self.burst = int(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, count: float = 1.0) -> float:
        """Take from ``key``'s bucket; 0.0 when allowed, else seconds until it would be."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict()
            bucket = TokenBucket(self.rate, self.burst, clock=self._clock)
            self._buckets[key] = bucket
        return bucket.take(count)

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict(self) -> None:
        # Drop full (idle) buckets first, oldest first; if none is full, drop the oldest one.
        idle = [k for k, b in self._buckets.items() if b.is_full()]
        for key in idle[: max(1, self.max_keys // 10)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.popitem(last=False)


def retry_after_header(wait_secs: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) for a wait of ``wait_secs``."""
    return str(max(1, math.ceil(wait_secs)))
