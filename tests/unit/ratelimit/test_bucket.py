"""Token buckets, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from clientevents.ratelimit import KeyedLimiter, TokenBucket, retry_after_header


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_refuses_with_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    assert bucket.take() > 0.0


def test_bucket_refills_only_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    bucket.take()
    bucket.take()
    clock.now += 100.0
    assert bucket.is_full()
    assert [bucket.take() for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.tokens < 1.0


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 5), (float("inf"), 1), (1.0, 0)])
def test_bucket_rejects_bad_parameters(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="token bucket"):
        TokenBucket(rate=rate, burst=burst)


def test_keyed_limiter_keeps_one_bucket_per_key() -> None:
    clock = FakeClock()
    limiter = KeyedLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0.0
    assert limiter.take("b") == 0.0
    clock.now += 1.0
    assert limiter.take("a") == 0.0


def test_keyed_limiter_is_bounded_and_forgets_idle_keys_first() -> None:
    clock = FakeClock()
    limiter = KeyedLimiter(rate=1.0, burst=1, max_keys=10, clock=clock)
    limiter.take("busy")  # empty bucket: not idle
    for i in range(50):
        limiter.take(f"k{i}")
        clock.now += 2.0 if i == 0 else 0.0
    assert len(limiter) <= 10


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"
