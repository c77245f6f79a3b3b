"""Rate limits: token buckets (per-client ingest limits) and call limiters (API destinations)."""

from clientevents.ratelimit.bucket import KeyedLimiter, TokenBucket, retry_after_header
from clientevents.ratelimit.window import CallLimiter, Grant, Unlimited, WindowLimiter

__all__ = [
    "CallLimiter",
    "Grant",
    "KeyedLimiter",
    "TokenBucket",
    "Unlimited",
    "WindowLimiter",
    "retry_after_header",
]
