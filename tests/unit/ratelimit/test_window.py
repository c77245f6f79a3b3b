"""The call limiter: a call counts from its start until a window after it finished."""

from __future__ import annotations

import asyncio
import random

import pytest

from clientevents.ratelimit import Unlimited, WindowLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_then_a_wait_for_the_first_to_leave_the_window() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, clock=clock)
    assert asyncio.run(limiter.reserve(25)).count == 10
    for _ in range(10):
        limiter.start()
    clock.now += 0.2           # the calls take 200 ms
    for _ in range(10):
        limiter.finish()
    clock.now += 0.4
    refused = asyncio.run(limiter.reserve(1))
    assert refused.count == 0 and refused.retry_after_secs == pytest.approx(0.6)
    clock.now += 0.6
    assert asyncio.run(limiter.reserve(3)).count == 3


def test_calls_in_flight_and_reservations_count_until_released() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(5, clock=clock)
    assert asyncio.run(limiter.reserve(5)).count == 5
    limiter.start()
    assert asyncio.run(limiter.reserve(1)).count == 0
    limiter.release(2)
    assert asyncio.run(limiter.reserve(5)).count == 2
    assert limiter.counting == 5


def test_whatever_the_latency_no_window_of_arrivals_holds_more_than_the_limit() -> None:
    rng = random.Random(7)
    clock = FakeClock()
    limiter = WindowLimiter(10, clock=clock)
    events: list[tuple[float, int, str]] = []   # (time, call, kind) of starts and ends
    arrivals: list[float] = []
    running: list[tuple[float, float]] = []      # (end time, arrival time) of calls in flight
    for _ in range(4000):
        clock.now += rng.choice([0.0, 0.001, 0.01, 0.05, 0.2])
        for end, arrival in sorted(running):
            if end <= clock.now:
                limiter.finish()
                arrivals.append(arrival)
        running = [(e, a) for e, a in running if e > clock.now]
        grant = asyncio.run(limiter.reserve(rng.randint(1, 12)))
        used = rng.randint(0, grant.count)
        for _ in range(used):
            limiter.start()
            latency = rng.choice([0.001, 0.005, 0.05, 0.3])
            # The receiver sees the call anywhere between its start and its end.
            running.append((clock.now + latency, clock.now + rng.uniform(0, latency)))
        limiter.release(grant.count - used)
    del events
    arrivals.sort()
    assert len(arrivals) > 500
    for i, t in enumerate(arrivals):
        assert sum(1 for a in arrivals[i:i + 12] if a < t + 1.0) <= 10


def test_bad_limits_are_refused_and_unlimited_grants_everything() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WindowLimiter(0)
    assert asyncio.run(Unlimited().reserve(500)).count == 500
