"""Call limiters: at most ``limit`` calls in any window of one second, for API destinations.

An API destination's ``invocation_rate_limit_per_sec`` promises the receiver that no
one-second window holds more calls than the limit. A refilling token bucket of burst ``b`` lets
``b + rate`` calls into some one-second windows; the limiter here keeps the promise exactly: it
remembers when each of the last ``limit`` calls started, and a call may start only when the
``limit``-th previous one started at least one window ago. Bursts of up to ``limit`` calls are
allowed, then the next call waits for the oldest to leave the window.

The limiter works in two steps so that a dispatcher claims from its durable queue only what may
be sent now (the backlog stays on disk, and no delivery burns an attempt waiting for a token):

1. :meth:`CallLimiter.reserve` before the claim: up to ``want`` calls are reserved, or none and
   the time until one would be free;
2. :meth:`CallLimiter.start` right before each reserved call goes out, which records its start;
   :meth:`CallLimiter.release` returns reservations the claim did not use.

Reservations count against the window as if they had started, so starts never need to wait.

The window is a little longer than a second (``guard_secs``, 50 ms by default): a receiver sees
each call a moment after it started, and that moment varies; the guard keeps its count of any
one-second window within the limit too. Sustained throughput is ``limit / (1 + guard_secs)``
calls a second.

:class:`CallLimiter` is the interface the API destination target uses; :class:`WindowLimiter` is
the in-process implementation, and a limiter shared by several processes (a table in
PostgreSQL) implements the same three methods.
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

    def release(self, count: int) -> None:
        """``count`` reserved calls will not be made."""
        ...


class Unlimited:
    """No limit: every reservation is granted in full."""

    async def reserve(self, want: int) -> Grant:
        return Grant(want)

    def start(self) -> None:
        return None

    def release(self, count: int) -> None:
        return None


class WindowLimiter:
    """At most ``limit`` call starts in any window of ``window_secs + guard_secs`` seconds.

    One event loop uses it (no lock: every method runs without awaiting inside).

    Example::

        limiter = WindowLimiter(10)
        grant = await limiter.reserve(25)     # Grant(count=10) on a fresh limiter
        for _ in range(grant.count):
            limiter.start()                   # just before each call
        await limiter.reserve(1)              # Grant(0, retry_after_secs=~1.05)
    """

    def __init__(
        self,
        limit: int,
        *,
        window_secs: float = 1.0,
        guard_secs: float = 0.05,
        clock: Clock = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"A call limiter needs a limit of at least 1, got {limit!r}.")
        if window_secs <= 0 or guard_secs < 0:
            raise ValueError(
                f"A call limiter needs a positive window and a guard >= 0, got "
                f"window_secs={window_secs!r}, guard_secs={guard_secs!r}."
            )
        self.limit = limit
        self.span = window_secs + guard_secs
        self._clock = clock
        self._starts: deque[float] = deque()
        self._reserved = 0

    def _prune(self, now: float) -> None:
        starts = self._starts
        while starts and starts[0] <= now - self.span:
            starts.popleft()

    async def reserve(self, want: int) -> Grant:
        now = self._clock()
        self._prune(now)
        free = self.limit - len(self._starts) - self._reserved
        granted = max(0, min(want, free))
        if granted:
            self._reserved += granted
            return Grant(granted)
        if self._starts and len(self._starts) + self._reserved >= self.limit:
            # The oldest start leaves the window first; reservations not yet started free
            # nothing until they start, so the wait is at least that.
            return Grant(0, max(self._starts[0] + self.span - now, 0.001))
        return Grant(0, self.span / self.limit)

    def start(self) -> None:
        now = self._clock()
        self._prune(now)
        if self._reserved > 0:
            self._reserved -= 1
        self._starts.append(now)

    def release(self, count: int) -> None:
        self._reserved = max(0, self._reserved - count)

    @property
    def in_window(self) -> int:
        """Calls started in the current window plus calls reserved."""
        self._prune(self._clock())
        return len(self._starts) + self._reserved
