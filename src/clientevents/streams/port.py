"""The streams port: what components need of the named streams, whatever keeps them.

Implementation: :class:`~clientevents.streams.store.StreamStore` (tables in the state store,
SQLite or PostgreSQL). ``tests/conformance/test_streams.py`` holds it to this contract on both.

The contract (``docs/streams.md``):

- **Append** (:meth:`StreamsPort.append`) runs inside the caller's state-store write (the
  ``stream`` target appends in the write that settles its deliveries: one record per delivery)
  and returns the new records' ids, increasing in commit order, per stream.
- **Read** (:meth:`StreamsPort.read`) by consumer group: each group sees every record once
  (readers within a group share the work); a group is created by its first read at ``start``
  (``"oldest"``, ``"latest"`` or a time). A record read is *in flight* for the stream's
  visibility timeout; one not acknowledged in time is handed out again, before newer records,
  with its ``delivery_count`` increased. Groups are independent of each other.
- **Acknowledge** (:meth:`StreamsPort.ack`) settles in-flight records for good; ids not in
  flight for the group are ignored.
- **Peek** and **last id** read without handing anything to a group; **groups** describes them.
- **Retention**: records older than the stream's retention are never read again;
  :meth:`StreamsPort.trim` deletes them (a prefix of the stream), with their in-flight entries.
- A stream that is not configured is :class:`~clientevents.streams.store.UnknownStream`; a bad
  argument is :class:`~clientevents.streams.store.InvalidStreamRequest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from clientevents.store.port import SqlConnection
    from clientevents.streams.store import StreamRecord

__all__ = ["StreamsPort"]


@runtime_checkable
class StreamsPort(Protocol):
    """The named streams of one deployment (see the module's documentation)."""

    @property
    def stream_names(self) -> list[str]:
        """The configured streams, in configuration order."""
        ...

    def has_stream(self, stream: str) -> bool:
        """Whether ``stream`` is configured."""
        ...

    def append(self, conn: SqlConnection, stream: str, payloads: Sequence[str]) -> list[int]:
        """Append records inside the caller's write; their ids, in order."""
        ...

    async def read(
        self,
        stream: str,
        group: str,
        *,
        max_records: int = 100,
        wait_secs: float = 0.0,
        start: str | int | float | datetime = "oldest",
    ) -> list[StreamRecord]:
        """Hand ``group`` up to ``max_records`` records: overdue in-flight ones, then new ones;
        wait up to ``wait_secs`` for one when none is there."""
        ...

    async def ack(self, stream: str, group: str, ids: Sequence[int]) -> int:
        """Settle records ``group`` read; how many were in flight."""
        ...

    def peek(self, stream: str, *, after_id: int = 0, limit: int = 100) -> list[StreamRecord]:
        """Retained records after ``after_id``, handed to no group (``delivery_count`` 0)."""
        ...

    def last_id(self, stream: str) -> int:
        """The newest record's id (0 when there is none)."""
        ...

    def groups(self, stream: str) -> list[dict[str, Any]]:
        """The stream's groups: ``group``, ``position``, ``created_at``, ``in_flight``, ``lag``."""
        ...

    def trim(self) -> int:
        """Delete every record past retention now; how many."""
        ...
