"""Request-level failures of the HTTP gateway, each with its status and metric reason.

A :class:`RequestRejected` ends a request with ``{"message": ...}`` and the status it carries;
``reason`` is a short, fixed label used in metrics (never a client-supplied value).
"""

from __future__ import annotations

from clientevents.errors import Conflict, NotFound, RequestError, StoreError

STORE_RETRY_AFTER_SECS = 5
"""The ``Retry-After`` of a 503 answered because the store or the log cannot serve now."""


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means the store (or the log) cannot serve now: a 503 with
    ``Retry-After``, not a 500. A conflict, a missing resource or a secret that cannot be read
    are answers of their own, not outages."""
    from clientevents.secrets.errors import SecretError

    if isinstance(exc, (Conflict, NotFound, SecretError)):
        return False
    from clientevents.store import outage_errors

    return isinstance(exc, outage_errors(StoreError))


class RequestRejected(RequestError):
    """The whole request is refused (a 4xx answer)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.message = message
        self.reason = reason
        self.headers = headers or {}


def bad_request(message: str, reason: str = "bad_request") -> RequestRejected:
    """A 400 answer naming what was wrong with the body."""
    return RequestRejected(400, message, reason=reason)
