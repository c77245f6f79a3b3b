"""The shared retry policy: when to try a failed delivery again, and when to give up.

Timing is exponential backoff with *full jitter*: the n-th retry waits a uniformly random time
between 0 and ``min(cap, base * 2 ** (n - 1))``. Full jitter spreads the retries of many
deliveries that failed together (a target outage) instead of sending them back in waves.

Defaults: ``base_secs=1``, ``cap_secs=900``. The ceiling reaches the cap after ten retries;
from then on a retry waits 450 s on average, so 185 retries take about 22 hours: the two default
limits of a target's retry policy (185 attempts, 24 hours) run out at about the same time, as
they do in EventBridge, which spreads its 185 attempts over 24 hours.

Limits (a target's ``retry_policy``):

- ``maximum_retry_attempts``: retries after the first attempt (0 to 185). The delivery is
  exhausted with ``MaximumRetryAttempts`` when a failed attempt was the last one allowed.
- ``maximum_event_age_secs``: counted from when the delivery was enqueued (60 to 86,400). The
  delivery is exhausted with ``MaximumEventAgeInSeconds`` when the next attempt would start
  after that age. The first attempt is always made, however late it is.

Which failures are transient: :func:`outcome_for_error` (exceptions) and
:func:`outcome_for_http_status` (HTTP targets: 429 and 5xx are retried, other 4xx are not,
EventBridge's rule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from clientevents.errors import PermanentDeliveryError, RetryableDeliveryError
from clientevents.targets.base import Ok, Outcome, Permanent, Retry

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "GiveUp",
    "RetryAt",
    "RetryLimits",
    "next_step",
    "outcome_for_error",
    "outcome_for_http_status",
]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter.

    Args:
        base_secs: the ceiling of the first retry's delay.
        cap_secs: the largest ceiling.
        rng: the random source (a seeded ``random.Random`` makes delays reproducible).
    """

    base_secs: float = 1.0
    cap_secs: float = 900.0
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        if self.base_secs < 0 or self.cap_secs < 0:
            raise ValueError(
                f"Backoff times must not be negative (base_secs={self.base_secs}, "
                f"cap_secs={self.cap_secs})."
            )

    def ceiling(self, retry: int) -> float:
        """The largest delay of the ``retry``-th retry (1 for the first)."""
        exponent = min(max(retry - 1, 0), 64)  # 2**64 seconds is past any cap
        return min(self.cap_secs, self.base_secs * 2.0**exponent)

    def delay(self, retry: int) -> float:
        """A random delay for the ``retry``-th retry, between 0 and :meth:`ceiling`."""
        rng = self.rng if self.rng is not None else random
        return rng.uniform(0.0, self.ceiling(retry))


DEFAULT_BACKOFF = Backoff()
"""1 s base, 900 s cap (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class RetryLimits:
    """A target's retry policy, in the units the dispatcher uses."""

    maximum_event_age_secs: float = 86_400
    maximum_retry_attempts: int = 185


@dataclass(frozen=True, slots=True)
class RetryAt:
    """Try again at ``due_at`` (epoch seconds)."""

    due_at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop retrying: the limit that ran out."""

    exhausted: Literal["MaximumRetryAttempts", "MaximumEventAgeInSeconds"]


def next_step(
    limits: RetryLimits,
    backoff: Backoff,
    *,
    attempt: int,
    enqueued_at: float,
    now: float,
    after_secs: float | None = None,
) -> RetryAt | GiveUp:
    """What to do after attempt number ``attempt`` (1 for the first) failed transiently.

    Args:
        limits: the target's retry policy.
        backoff: the delay schedule.
        attempt: the attempt that just failed.
        enqueued_at: when the delivery was enqueued (the start of its age).
        now: the current time.
        after_secs: a delay the target asked for; used instead of the backoff.
    """
    if attempt - 1 >= limits.maximum_retry_attempts:
        return GiveUp("MaximumRetryAttempts")
    delay = backoff.delay(attempt) if after_secs is None else max(after_secs, 0.0)
    due_at = now + delay
    if due_at - enqueued_at > limits.maximum_event_age_secs:
        return GiveUp("MaximumEventAgeInSeconds")
    return RetryAt(due_at)


def outcome_for_error(exc: BaseException) -> Retry | Permanent:
    """Classify an exception a target raised for a whole batch.

    Our own :class:`~clientevents.errors.PermanentDeliveryError` and
    :class:`~clientevents.errors.RetryableDeliveryError` say what they are; timeouts and
    connection errors (``OSError`` included: a full disk, a refused socket) are transient.
    Anything else is a defect in the target; it is retried too, so nothing is lost while the
    defect is fixed.
    """
    if isinstance(exc, PermanentDeliveryError):
        return Permanent(exc.code, str(exc))
    if isinstance(exc, RetryableDeliveryError):
        return Retry(exc.code, str(exc), exc.after_secs)
    if isinstance(exc, TimeoutError):
        return Retry("Timeout", str(exc) or "The target did not answer in time.")
    if isinstance(exc, ConnectionError):
        return Retry("ConnectionError", str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return Retry("IOError", str(exc) or type(exc).__name__)
    return Retry("TargetError", f"{type(exc).__name__}: {exc}")


def outcome_for_http_status(status: int, *, retry_after_secs: float | None = None) -> Outcome:
    """Classify an HTTP response status the way EventBridge does for HTTP targets.

    2xx is :class:`Ok`; 429 and 5xx are :class:`Retry` (honouring ``Retry-After``); every other
    status is :class:`Permanent`.
    """
    if 200 <= status < 300:
        return Ok()
    if status == 429 or 500 <= status < 600:
        return Retry(f"HTTP{status}", f"The target answered HTTP {status}.", retry_after_secs)
    return Permanent(f"HTTP{status}", f"The target answered HTTP {status}; not retried.")
