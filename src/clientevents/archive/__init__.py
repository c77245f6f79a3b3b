"""Archives and replays: keep a bus's matching events, put a time window of them back on it.

::

    from clientevents.archive import Archiver, Archives, ReplayRunner, Replays

- :class:`Archiver` (workers): consumer group ``archive:<name>`` per archive; copies matching,
  non-replayed events into ``archive_events`` and trims expired copies.
- :class:`Archives`: list and describe archives (event count, size), read copies.
- :class:`Replays`: StartReplay, DescribeReplay, CancelReplay, ListReplays (any process).
- :class:`ReplayRunner` (workers): runs the replays the ``replays`` table holds.

See docs/archives.md.
"""

from __future__ import annotations

from clientevents.archive.archive import ArchivedEvent, ArchiveInfo, Archives
from clientevents.archive.archiver import Archiver
from clientevents.archive.errors import (
    IllegalStatus,
    InvalidReplayRequest,
    ReplayLimitExceeded,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from clientevents.archive.replay import MAX_ACTIVE_REPLAYS, Replay, Replays
from clientevents.archive.runner import ReplayRunner
from clientevents.archive.schema import (
    ACTIVE_STATES,
    CANCELLED,
    CANCELLING,
    COMPLETED,
    FAILED,
    REPLAY_STATES,
    RUNNING,
    STARTING,
)

__all__ = [
    "ACTIVE_STATES",
    "CANCELLED",
    "CANCELLING",
    "COMPLETED",
    "FAILED",
    "MAX_ACTIVE_REPLAYS",
    "REPLAY_STATES",
    "RUNNING",
    "STARTING",
    "ArchiveInfo",
    "ArchivedEvent",
    "Archiver",
    "Archives",
    "IllegalStatus",
    "InvalidReplayRequest",
    "Replay",
    "ReplayLimitExceeded",
    "ReplayRunner",
    "Replays",
    "ResourceAlreadyExists",
    "ResourceNotFound",
]
