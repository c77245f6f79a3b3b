"""The call limiter: no window of one second (plus the guard) ever holds more than the limit."""

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


def test_a_burst_up_to_the_limit_then_a_wait_for_the_oldest_start() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(10, guard_secs=0.05, clock=clock)
    grant = asyncio.run(limiter.reserve(25))
    assert grant.count == 10
    for _ in range(10):
        limiter.start()
    clock.now += 0.4
    refused = asyncio.run(limiter.reserve(1))
    assert refused.count == 0
    assert refused.retry_after_secs == pytest.approx(0.65)
    clock.now += 0.65
    assert asyncio.run(limiter.reserve(3)).count == 3


def test_reservations_count_until_released() -> None:
    clock = FakeClock()
    limiter = WindowLimiter(5, clock=clock)
    assert asyncio.run(limiter.reserve(5)).count == 5
    assert asyncio.run(limiter.reserve(1)).count == 0
    limiter.release(2)
    assert asyncio.run(limiter.reserve(5)).count == 2
    assert limiter.in_window == 5


def test_random_use_never_puts_more_than_the_limit_in_any_window() -> None:
    rng = random.Random(7)
    clock = FakeClock()
    limiter = WindowLimiter(10, guard_secs=0.0, clock=clock)
    starts: list[float] = []
    for _ in range(3000):
        clock.now += rng.choice([0.0, 0.001, 0.01, 0.05, 0.2])
        grant = asyncio.run(limiter.reserve(rng.randint(1, 12)))
        used = rng.randint(0, grant.count)
        for _ in range(used):
            clock.now += rng.choice([0.0, 0.002])
            limiter.start()
            starts.append(clock.now)
        limiter.release(grant.count - used)
    assert len(starts) > 500
    for i, t in enumerate(starts):
        in_window = sum(1 for s in starts[i:i + 12] if s < t + 1.0)
        assert in_window <= 10


def test_bad_limits_are_refused_and_unlimited_grants_everything() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WindowLimiter(0)
    assert asyncio.run(Unlimited().reserve(500)).count == 500
