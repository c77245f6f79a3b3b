"""The exception hierarchy of clientevents, in one place.

::

    ClientEventsError
    ├── ConfigError(path)                 a configuration file or value is invalid
    ├── StoreError                        the embedded or external state store failed
    │   ├── Conflict
    │   └── NotFound
    └── DeliveryError                     a target could not take a delivery
        ├── RetryableDeliveryError(after_secs)
        └── PermanentDeliveryError        dead-lettered, never retried

The rule language has its own errors next to it: ``clientevents.patterns.InvalidEventPattern``
and ``clientevents.transform.TransformError`` (both are ``ValueError`` subclasses, so library
users can catch them without importing this module).
"""

from __future__ import annotations


class ClientEventsError(Exception):
    """Root of every error clientevents raises on purpose."""


class ConfigError(ClientEventsError):
    """A configuration problem, with the file and the dotted field path it concerns."""

    def __init__(self, message: str, *, path: str = "", file: str = "") -> None:
        self.path = path
        self.file = file
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(ClientEventsError):
    """The state store could not complete an operation."""


class Conflict(StoreError):
    """The operation conflicts with existing state (a duplicate name, a stale version)."""


class NotFound(StoreError):
    """The named object does not exist."""


class DeliveryError(ClientEventsError):
    """A target failed to take a delivery."""

    def __init__(self, message: str, *, code: str = "DeliveryFailed") -> None:
        self.code = code
        super().__init__(message)


class RetryableDeliveryError(DeliveryError):
    """A transient failure: the delivery is retried within the target's retry policy."""

    def __init__(
        self, message: str, *, code: str = "TransientError", after_secs: float | None = None
    ) -> None:
        self.after_secs = after_secs
        super().__init__(message, code=code)


class PermanentDeliveryError(DeliveryError):
    """A failure that retrying cannot fix: the delivery goes to the dead-letter queue at once."""
