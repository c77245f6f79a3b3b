"""Errors of the archive and replay API, each with EventBridge's error code.

::

    ClientEventsError
    ├── InvalidReplayRequest (ValueError)   ValidationException: a bad name, window or rule
    └── StoreError
        ├── NotFound
        │   └── ResourceNotFound            ResourceNotFoundException: no such archive/replay/rule
        └── Conflict
            ├── ResourceAlreadyExists       ResourceAlreadyExistsException: the replay name is taken
            ├── IllegalStatus               IllegalStatusException: cancel of a finished replay
            └── ReplayLimitExceeded         LimitExceededException: too many active replays

``code`` is the EventBridge error name an HTTP layer answers with; the message names the value
and the fix.
"""

from __future__ import annotations

from typing import ClassVar

from clientevents.errors import ClientEventsError, Conflict, NotFound

__all__ = [
    "IllegalStatus",
    "InvalidReplayRequest",
    "ReplayLimitExceeded",
    "ResourceAlreadyExists",
    "ResourceNotFound",
]


class InvalidReplayRequest(ClientEventsError, ValueError):
    """A StartReplay argument is invalid (name, description, window, rules)."""

    code: ClassVar[str] = "ValidationException"


class ResourceNotFound(NotFound):
    """The named archive, replay or rule does not exist."""

    code: ClassVar[str] = "ResourceNotFoundException"


class ResourceAlreadyExists(Conflict):
    """A replay with this name already exists (names are never reused)."""

    code: ClassVar[str] = "ResourceAlreadyExistsException"


class IllegalStatus(Conflict):
    """The replay is not in a state that allows the operation (cancel: STARTING or RUNNING)."""

    code: ClassVar[str] = "IllegalStatusException"


class ReplayLimitExceeded(Conflict):
    """As many replays as allowed are already active."""

    code: ClassVar[str] = "LimitExceededException"
