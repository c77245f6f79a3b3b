"""Call limiters: at most ``limit`` calls in any window of one second, for API destinations.

An API destination's ``invocation_rate_limit_per_sec`` promises the receiver that no
one-second window holds more calls than the limit. A refilling token bucket of burst ``b`` lets
``b + rate`` calls into some one-second windows, and counting calls when they start is not
enough either: a receiver sees a call some time after it started (a new connection, a TLS
handshake, a busy network), so calls that started more than a second apart can arrive less than
a second apart. The limiter here keeps the promise whatever the latency: a call counts from the
moment it starts until one window after it *finished*, and a new call may start only while
fewer than ``limit`` calls count. The receiver saw each call somewhere between its start and its
end, so any ``limit + 1`` calls it saw span at least one window. Bursts of up to ``limit`` calls
are allowed; sustained throughput is ``limit / (window + latency)`` calls a second (9.95 a second
for a limit of 10 and 5 ms calls).

The limiter works in steps so that a dispatcher claims from its durable queue only what may be
sent now (the backlog stays on disk, and no delivery burns an attempt waiting for a token):

1. :meth:`CallLimiter.reserve` before the claim: up to ``want`` calls are reserved, or none and
   the time until one would be free;
2. :meth:`CallLimiter.start` right before each reserved call goes out, and
   :meth:`CallLimiter.finish` when its answer (or its failure) is in;
   :meth:`CallLimiter.release` returns reservations the claim did not use.

Reservations count as calls, so a start never has to wait.

:class:`CallLimiter` is the interface the API destination target uses; :class:`WindowLimiter` is
the in-process implementation, and a limiter shared by several processes (a table in
PostgreSQL) implements the same four methods.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CallLimiter", "Grant", "Unlimited", "WindowLimiter"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Grant:
    """What a reservation got: ``count`` calls, or none and when to ask again."""

    count: int
    retry_after_secs: float = 0.0


class CallLimiter(Protocol):
    """The invocation limit of one destination."""

    async def reserve(self, want: int) -> Grant:
        """Reserve up to ``want`` calls to be started soon."""
        ...

    def start(self) -> None:
        """One reserved call starts now."""
        ...

    def finish(self) -> None:
        """One started call has its answer (or failed) now."""
        ...

    def release(self, count: int) -> None:
        """``count`` reserved calls will not be made."""
        ...


class Unlimited:
    """No limit: every reservation is granted in full."""

    async def reserve(self, want: int) -> Grant:
        return Grant(want)

    def start(self) -> None:
        return None

    def finish(self) -> None:
        return None

    def release(self, count: int) -> None:
        return None


class WindowLimiter:
    """At most ``limit`` calls counting at once; a call counts from its start until
    ``window_secs`` after it finished (see the module docstring).

    One event loop uses it (no lock: no method awaits inside).

    Example::

        limiter = WindowLimiter(10)
        grant = await limiter.reserve(25)     # Grant(count=10) on a fresh limiter
        limiter.start(); ...; limiter.finish()    # around each call
        await limiter.reserve(1)              # Grant(0, ...) until a second after the first
                                              # call finished
    """

    def __init__(
        self, limit: int, *, window_secs: float = 1.0, clock: Clock = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError(f"A call limiter needs a limit of at least 1, got {limit!r}.")
        if window_secs <= 0:
            raise ValueError(f"A call limiter needs a positive window, got {window_secs!r}.")
        self.limit = limit
        self.window_secs = window_secs
        self._clock = clock
        self._ended: deque[float] = deque()
        self._running = 0
        self._reserved = 0

    def _prune(self, now: float) -> None:
        ended = self._ended
        while ended and ended[0] <= now - self.window_secs:
            ended.popleft()

    async def reserve(self, want: int) -> Grant:
        now = self._clock()
        self._prune(now)
        counting = len(self._ended) + self._running + self._reserved
        granted = max(0, min(want, self.limit - counting))
        if granted:
            self._reserved += granted
            return Grant(granted)
        if self._ended:
            return Grant(0, max(self._ended[0] + self.window_secs - now, 0.001))
        # Every slot is a call in flight or reserved: ask again in a moment.
        return Grant(0, min(self.window_secs / self.limit, 0.05))

    def start(self) -> None:
        if self._reserved > 0:
            self._reserved -= 1
        self._running += 1

    def finish(self) -> None:
        self._running = max(0, self._running - 1)
        self._ended.append(self._clock())

    def release(self, count: int) -> None:
        self._reserved = max(0, self._reserved - count)

    @property
    def counting(self) -> int:
        """Calls that count now: finished within the window, in flight, or reserved."""
        self._prune(self._clock())
        return len(self._ended) + self._running + self._reserved
