"""The shared retry policy: backoff with full jitter, the two limits, failure classification."""

from __future__ import annotations

import random

import pytest
from delivery_helpers import MaxRandom

from clientevents.errors import PermanentDeliveryError, RetryableDeliveryError
from clientevents.targets.base import Ok, Permanent, Retry
from clientevents.targets.retry import (
    DEFAULT_BACKOFF,
    Backoff,
    GiveUp,
    RetryAt,
    RetryLimits,
    next_step,
    outcome_for_error,
    outcome_for_http_status,
)


def test_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    backoff = Backoff(base_secs=1.0, cap_secs=900.0)
    assert [backoff.ceiling(n) for n in range(1, 12)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900,
    ]
    assert backoff.ceiling(185) == 900.0
    assert backoff.ceiling(10_000) == 900.0  # no overflow for absurd attempt numbers
    assert backoff.ceiling(0) == 1.0


def test_full_jitter_stays_between_zero_and_the_ceiling() -> None:
    backoff = Backoff(base_secs=2.0, cap_secs=60.0, rng=random.Random(7))
    for retry in range(1, 40):
        delay = backoff.delay(retry)
        assert 0.0 <= delay <= backoff.ceiling(retry)


def test_a_seeded_random_source_makes_delays_reproducible() -> None:
    first = Backoff(rng=random.Random(42))
    second = Backoff(rng=random.Random(42))
    assert [first.delay(n) for n in range(1, 20)] == [second.delay(n) for n in range(1, 20)]


def test_default_schedule_spreads_185_retries_over_about_a_day() -> None:
    # Given the default backoff, the mean delays (half of each ceiling) of 185 retries
    mean_total = sum(DEFAULT_BACKOFF.ceiling(n) / 2 for n in range(1, 186))
    # I expect them to add up to between 20 and 24 hours
    assert 20 * 3600 < mean_total < 24 * 3600


def test_negative_backoff_is_refused() -> None:
    with pytest.raises(ValueError, match="base_secs=-1"):
        Backoff(base_secs=-1)


def test_retry_attempts_limit() -> None:
    limits = RetryLimits(maximum_event_age_secs=86_400, maximum_retry_attempts=2)
    backoff = Backoff(base_secs=1, cap_secs=1, rng=MaxRandom())
    step = next_step(limits, backoff, attempt=1, enqueued_at=0, now=0)
    assert step == RetryAt(1.0)
    assert isinstance(next_step(limits, backoff, attempt=2, enqueued_at=0, now=5), RetryAt)
    assert next_step(limits, backoff, attempt=3, enqueued_at=0, now=5) == GiveUp(
        "MaximumRetryAttempts"
    )


def test_zero_retries_gives_up_after_the_first_attempt() -> None:
    limits = RetryLimits(maximum_retry_attempts=0)
    step = next_step(limits, DEFAULT_BACKOFF, attempt=1, enqueued_at=0, now=0)
    assert step == GiveUp("MaximumRetryAttempts")


def test_event_age_limit_counts_from_enqueueing() -> None:
    limits = RetryLimits(maximum_event_age_secs=60, maximum_retry_attempts=185)
    backoff = Backoff(base_secs=30, cap_secs=30, rng=MaxRandom())
    assert next_step(limits, backoff, attempt=1, enqueued_at=100, now=100) == RetryAt(130)
    assert next_step(limits, backoff, attempt=2, enqueued_at=100, now=130) == RetryAt(160)
    assert next_step(limits, backoff, attempt=3, enqueued_at=100, now=160) == GiveUp(
        "MaximumEventAgeInSeconds"
    )


def test_a_requested_delay_replaces_the_backoff() -> None:
    limits = RetryLimits(maximum_event_age_secs=600)
    backoff = Backoff(base_secs=1, cap_secs=1, rng=MaxRandom())
    assert next_step(limits, backoff, attempt=1, enqueued_at=0, now=0, after_secs=30) == RetryAt(
        30
    )
    assert next_step(
        limits, backoff, attempt=1, enqueued_at=0, now=0, after_secs=-5
    ) == RetryAt(0)
    assert next_step(
        limits, backoff, attempt=1, enqueued_at=0, now=0, after_secs=601
    ) == GiveUp("MaximumEventAgeInSeconds")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            PermanentDeliveryError("no such queue", code="NotFound"),
            Permanent("NotFound", "no such queue"),
        ),
        (
            RetryableDeliveryError("busy", code="Busy", after_secs=3),
            Retry("Busy", "busy", 3),
        ),
        (TimeoutError(), Retry("Timeout", "The target did not answer in time.")),
        (ConnectionRefusedError("refused"), Retry("ConnectionError", "refused")),
        (
            OSError(28, "No space left on device"),
            Retry("IOError", "[Errno 28] No space left on device"),
        ),
        (KeyError("x"), Retry("TargetError", "KeyError: 'x'")),
    ],
)
def test_outcome_for_error(error: BaseException, expected: Retry | Permanent) -> None:
    assert outcome_for_error(error) == expected


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, Ok), (204, Ok), (429, Retry), (500, Retry), (503, Retry), (400, Permanent),
     (401, Permanent), (404, Permanent), (302, Permanent)],
)
def test_http_status_classification(status: int, kind: type) -> None:
    assert isinstance(outcome_for_http_status(status), kind)


def test_retry_after_is_kept_for_http_429() -> None:
    outcome = outcome_for_http_status(429, retry_after_secs=12.0)
    assert outcome == Retry("HTTP429", "The target answered HTTP 429.", 12.0)
