"""Errors of the admin API, each with its HTTP status and a stable code.

::

    ClientEventsError
    └── RequestError(status)
        └── AdminError(status, code)
            ├── BadRequest          400 BadRequest        the request names something wrongly
            ├── NotSignedIn         401 NotSignedIn       no session, no signature, or a bad one
            ├── Forbidden           403 Forbidden         signed in, but not allowed to do this
            ├── NotFoundError       404 NotFound          no such bus, rule, entry, replay, user
            ├── ConflictError       409 Conflict          the state does not allow it now
            └── TooManyAttempts     429 TooManyAttempts   sign-in locked for a while

The HTTP layer answers ``{"code": ..., "message": ...}``; messages are full sentences naming
the value and what to do.
"""

from __future__ import annotations

from typing import ClassVar

from clientevents.errors import RequestError

__all__ = [
    "AdminError",
    "BadRequest",
    "ConflictError",
    "Forbidden",
    "NotFoundError",
    "NotSignedIn",
    "TooManyAttempts",
]


class AdminError(RequestError):
    """A refused admin request; ``status`` and ``code`` say how the HTTP layer answers."""

    status: int = 400
    code: ClassVar[str] = "BadRequest"

    def __init__(self, message: str, *, retry_after_secs: float | None = None) -> None:
        super().__init__(message, status=type(self).status)
        self.message = message
        self.retry_after_secs = retry_after_secs


class BadRequest(AdminError):
    """The request is malformed or names a value that is not valid."""


class NotSignedIn(AdminError):
    """No valid session cookie and no valid admin-key signature."""

    status = 401
    code = "NotSignedIn"


class Forbidden(AdminError):
    """The caller is known but may not do this (a read-only role, a bad CSRF token)."""

    status = 403
    code = "Forbidden"


class NotFoundError(AdminError):
    """The named object does not exist."""

    status = 404
    code = "NotFound"


class ConflictError(AdminError):
    """The object's state does not allow the operation now."""

    status = 409
    code = "Conflict"


class TooManyAttempts(AdminError):
    """Too many failed sign-ins: wait ``retry_after_secs``."""

    status = 429
    code = "TooManyAttempts"
