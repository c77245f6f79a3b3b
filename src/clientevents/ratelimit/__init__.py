"""Token-bucket rate limits: per-client ingest limits (and any other caller that needs one)."""

from clientevents.ratelimit.bucket import KeyedLimiter, TokenBucket, retry_after_header

__all__ = ["KeyedLimiter", "TokenBucket", "retry_after_header"]
