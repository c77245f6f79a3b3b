"""The event-log port: what every component needs of a bus's log, whatever stores it.

Implementations: :class:`~clientevents.log.eventlog.EventLog` (the embedded SQLite file, and the
same SQL on any state store), :class:`~clientevents.log.memory.MemoryEventLog` (one process, for
tests and the proof that the seam holds) and :class:`~clientevents.log.jetstream.JetStreamEventLog`
(NATS JetStream). ``tests/conformance/test_event_log.py`` holds every one of them to the same
contract.

The contract:

- **Append** (:meth:`EventLogPort.append_records`, :meth:`EventLogPort.append_future`) returns
  once the records are durable (a SQLite commit, a JetStream publish acknowledgement) and raises
  :class:`~clientevents.errors.StoreError` when they could not be stored (none of them is then
  visible to a reader... except on JetStream, where a publish that timed out may still have
  been stored: the caller's retry carries the same event ids and is dropped by the stream's
  de-duplication window).
- **Positions**: every event has a position, monotonic per bus and never reused; a record of
  ``n`` events has ``n`` increasing positions and its ``seq`` (the :class:`LogRecord` of its
  last event) is the greatest. Positions need not be consecutive between records (JetStream's
  are ``stream sequence << 16 | index``).
- **Reads by position**: :meth:`read_after`, :meth:`read_time_range`, :meth:`head`.
- **Consumer groups**: ``consumer = log.consumer(bus, group)``; ``batch = consumer.fetch(max,
  wait_secs)``; ``consumer.commit(batch, write)`` runs ``write(conn)`` in the state store and
  marks the batch consumed. *The hand-off is committed downstream first, then acknowledged
  upstream*: the SQLite log moves the group's offset in the same transaction as ``write``; a log
  without that transaction (JetStream) records the batch's records as handed off in the same
  state-store transaction as ``write`` and acknowledges the messages after it commits. A crash
  in between redelivers the batch, and the hand-off record makes the redelivery a no-op, so a
  hand-off is never doubled and never lost. A batch fetched and not committed is fetched again
  (by any consumer of the group; on JetStream once its lease, the ack wait, runs out).
- **Retention**: :meth:`trim_before` deletes records every group has passed that are old enough.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from clientevents.log.records import LogRecord

__all__ = ["CommitWaiter", "EventLogPort", "LogBatch", "LogConsumer", "PendingCommit"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(slots=True)
class LogBatch:
    """Events one consumer fetched: ``records`` in position order (empty when none were
    waiting). ``after`` is the position the batch starts after; ``token`` belongs to the
    implementation (the JetStream messages to acknowledge)."""

    bus: str
    group: str
    records: list[LogRecord]
    after: int = 0
    token: Any = field(default=None, repr=False)

    @property
    def last_seq(self) -> int:
        """The position of the batch's last event (``after`` when it is empty)."""
        return self.records[-1].seq if self.records else self.after

    def __len__(self) -> int:
        return len(self.records)


class PendingCommit(Protocol[T_co]):
    """A commit under way; :meth:`wait` blocks until it ends."""

    def wait(self) -> T_co:
        """The write's result once the batch is consumed.

        Raises:
            Conflict: another consumer of the group handed (part of) the batch off first;
                nothing of this write was stored, and the consumer fetches afresh.
            StoreError: the state store failed; nothing was stored, the batch comes again.
        """
        ...


@runtime_checkable
class LogConsumer(Protocol):
    """One member of a consumer group on one bus (any number may share a group)."""

    bus: str
    group: str

    def fetch(self, max_events: int, wait_secs: float = 0.0) -> LogBatch:
        """The next events of the group not yet handed off (at most ``max_events``; a record
        fetched whole may exceed it on JetStream, whose messages are records), waiting up to
        ``wait_secs`` for some when none are waiting."""
        ...

    def submit(self, batch: LogBatch, write: Callable[[Any], T]) -> PendingCommit[T]:
        """Start committing ``batch`` with ``write(conn)`` (a state-store write function: it
        must not commit and must be idempotent only in the sense that it may run again for a
        redelivered batch that was never committed). Commits of one consumer complete in
        the order they were submitted, so a consumer may fetch and route the next batch while
        one commits."""
        ...

    def commit(self, batch: LogBatch, write: Callable[[Any], T]) -> T:
        """:meth:`submit` and wait."""
        ...

    def rewind(self) -> None:
        """Forget what was fetched and not committed (after a failed or conflicting commit):
        the next fetch starts again from the group's committed state."""
        ...

    def close(self) -> None:
        """Stop consuming; what this consumer fetched and did not commit goes to the others."""
        ...


@runtime_checkable
class EventLogPort(Protocol):
    """The log of every bus (see the module's contract)."""

    #: Whether the members of a group split its events between them (JetStream's shared
    #: durable consumer: each message goes to one member). When false (the SQL and in-memory
    #: logs: every member fetches from the group's one committed offset and the first commit
    #: wins), a consumer that writes outside the state store before it commits (a
    #: delivery-stream feed) lets one member of its group at a time read.
    consumers_share_work: bool

    def append_records(self, rows: Sequence[Sequence[object]]) -> None:
        """Append :class:`~clientevents.log.records.LogRow` records; return once durable.

        Raises:
            StoreError: they could not be stored.
        """
        ...

    def append_future(self, rows: Sequence[Sequence[object]]) -> asyncio.Future[None]:
        """Start appending ``rows``; the future (of the running loop) ends once they are
        durable, or with :class:`~clientevents.errors.StoreError`."""
        ...

    async def aappend(self, rows: Sequence[Sequence[object]]) -> None:
        """The asyncio twin of :meth:`append_records`."""
        ...

    def append_in(self, conn: Any, rows: Sequence[Sequence[object]]) -> None:
        """Append inside a state-store write the caller runs (a bus target's re-publish, a
        replay). The SQLite log joins the transaction; a log elsewhere stores the records
        before returning (the write's own commit then acknowledges them upstream, and a
        repeat is dropped by the log's de-duplication of event ids)."""
        ...

    def read_after(self, bus: str, after_seq: int, limit: int) -> list[LogRecord]:
        """Up to ``limit`` events of ``bus`` with positions after ``after_seq``, in order."""
        ...

    def read_time_range(
        self, bus: str, start: float, end: float, after_seq: int, limit: int
    ) -> list[LogRecord]:
        """Up to ``limit`` events of ``bus`` after ``after_seq`` whose time is in
        ``[start, end)``, in position order."""
        ...

    def head(self, bus: str) -> int:
        """A position at or after the last event of ``bus`` and before any later append
        (0 when it holds none): ``read_after(bus, head(bus), n)`` is what comes next."""
        ...

    def count(self, bus: str) -> int:
        """How many events of ``bus`` the log holds."""
        ...

    def consumer(self, bus: str, group: str) -> LogConsumer:
        """A member of ``group`` on ``bus`` (the group starts at the log's beginning unless
        :meth:`ensure_group` placed it)."""
        ...

    def offset(self, group: str, bus: str) -> int:
        """The position up to which ``group`` has consumed ``bus`` (0 before anything)."""
        ...

    def offsets(self, bus: str) -> dict[str, int]:
        """Every group's :meth:`offset` on ``bus``."""
        ...

    def ensure_group(self, group: str, bus: str, start: int) -> bool:
        """Create ``group`` on ``bus`` with everything up to ``start`` consumed, unless it
        exists; return whether it was created."""
        ...

    def drop_group(self, group: str, bus: str) -> bool:
        """Forget ``group`` on ``bus`` (so retention stops waiting for it)."""
        ...

    def groups(self, prefix: str = "") -> list[tuple[str, str]]:
        """``(group, bus)`` of every group whose name starts with ``prefix``."""
        ...

    def trim_before(
        self, bus: str, *, upto_seq: int, ingested_before: float, limit: int = 10_000
    ) -> int:
        """Delete up to ``limit`` records of ``bus`` whose events are all at or before
        ``upto_seq`` and were ingested before ``ingested_before``; return how many."""
        ...

    def close(self) -> None:
        """Release connections (the state store is the caller's to close)."""
        ...


class CommitWaiter:
    """The :class:`PendingCommit` the implementations hand out: :meth:`finish` (from the
    thread that ends the commit) records its outcome; :meth:`wait` returns the write's result,
    or rewinds ``consumer`` (on the caller's thread, so it fetches afresh) and raises."""

    __slots__ = ("_done", "consumer", "error", "result")

    def __init__(self, consumer: LogConsumer) -> None:
        self.consumer = consumer
        self.result: Any = None
        self.error: BaseException | None = None
        self._done = threading.Event()

    def finish(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self._done.set()

    def wait(self) -> Any:
        self._done.wait()
        if self.error is not None:
            self.consumer.rewind()
            raise self.error
        return self.result
