"""Request-level failures of the HTTP gateway, each with its status and metric reason.

A :class:`RequestRejected` ends a request with ``{"message": ...}`` and the status it carries;
``reason`` is a short, fixed label used in metrics (never a client-supplied value).
"""

from __future__ import annotations

from clientevents.errors import RequestError


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
