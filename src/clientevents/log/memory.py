"""The event log in this process's memory: for tests, and the proof that the port's seam holds.

Records live in lists (lost when the process ends); consumer offsets live beside them. A
commit's write runs in the given state store (:class:`~clientevents.store.port.StateStore`):
the group's offset is checked (compare and set) inside that write and moved once it commits,
so the contract is the SQL log's, without the SQL. Unlike JetStream it keeps no
de-duplication window: :meth:`MemoryEventLog.append_in` stores at once, and a caller's write
that rolls back and runs again appends again.

Example::

    log = MemoryEventLog(db)
    log.append_records([LogRow("orders", event_id, now, now, body, None, None)])
    consumer = log.consumer("orders", "router")
    batch = consumer.fetch(500)
    consumer.commit(batch, lambda conn: enqueue(conn, deliveries))
"""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from clientevents.errors import Conflict, StoreError
from clientevents.log.port import CommitWaiter, LogBatch
from clientevents.log.records import EVENT, LogRecord, Row, expand_row
from clientevents.store.port import StateStore

__all__ = ["MemoryConsumer", "MemoryEventLog"]

T = TypeVar("T")


class MemoryEventLog:
    """:class:`~clientevents.log.port.EventLogPort` in memory; ``db`` runs commits' writes."""

    consumers_share_work = False
    """See :attr:`~clientevents.log.port.EventLogPort.consumers_share_work`."""

    def __init__(self, db: StateStore) -> None:
        self.db = db
        self._lock = threading.Condition()
        self._position = 0
        self._records: dict[str, list[Row]] = {}
        self._seqs: dict[str, list[int]] = {}
        self._offsets: dict[tuple[str, str], int] = {}
        self._reserved: dict[tuple[str, str], int] = {}
        self.closed = False

    # -- appending -------------------------------------------------------------------------

    def append_records(self, rows: Sequence[Sequence[object]]) -> None:
        if self.closed:
            raise StoreError("The in-memory event log is closed.")
        built: list[Row] = []
        with self._lock:
            position = self._position
            for row in rows:
                fmt: object = EVENT
                if len(row) == 7:
                    count = 1
                elif len(row) == 9:
                    given, fmt = row[7], row[8]
                    if type(given) is not int or given < 1:
                        raise ValueError(f"A log record holds at least one event, not {given!r}.")
                    count = given
                else:
                    raise ValueError(f"A log row has 7 or 9 columns, not {len(row)}.")
                position += count
                built.append((position, *row[:7], count, fmt))  # type: ignore[arg-type]
            for record in built:
                bus = record[1]
                self._records.setdefault(bus, []).append(record)
                self._seqs.setdefault(bus, []).append(record[0])
            self._position = position
            self._lock.notify_all()

    def append_future(self, rows: Sequence[Sequence[object]]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self.append_records(rows)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)
        return future

    async def aappend(self, rows: Sequence[Sequence[object]]) -> None:
        self.append_records(rows)

    def append_in(self, conn: Any, rows: Sequence[Sequence[object]]) -> None:
        # Stored at once, before the caller's write commits (the contract of a log outside
        # the state store's transaction).
        self.append_records(rows)

    # -- reading ---------------------------------------------------------------------------

    def _after(self, bus: str, after: int) -> list[Row]:
        seqs = self._seqs.get(bus, [])
        return self._records.get(bus, [])[bisect.bisect_right(seqs, after):]

    def read_after(self, bus: str, after_seq: int, limit: int) -> list[LogRecord]:
        out: list[LogRecord] = []
        with self._lock:
            rows = self._after(bus, after_seq)
        for row in rows:
            if len(out) >= limit:
                break
            expand_row(row, after_seq, limit - len(out), out)
        return out

    def read_time_range(
        self, bus: str, start: float, end: float, after_seq: int, limit: int
    ) -> list[LogRecord]:
        out: list[LogRecord] = []
        with self._lock:
            rows = self._after(bus, after_seq)
        for row in rows:
            if len(out) >= limit:
                break
            if start <= row[3] < end:
                expand_row(row, after_seq, limit - len(out), out)
        return out

    def head(self, bus: str) -> int:
        with self._lock:
            seqs = self._seqs.get(bus)
            return seqs[-1] if seqs else 0

    def count(self, bus: str) -> int:
        with self._lock:
            return sum(row[8] for row in self._records.get(bus, []))

    def _wait(self, bus: str, after: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._after(bus, after) and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._lock.wait(left)

    # -- groups ----------------------------------------------------------------------------

    def consumer(self, bus: str, group: str) -> MemoryConsumer:
        return MemoryConsumer(self, bus, group)

    def offset(self, group: str, bus: str) -> int:
        with self._lock:
            return self._offsets.get((group, bus), 0)

    def offsets(self, bus: str) -> dict[str, int]:
        with self._lock:
            return {g: seq for (g, b), seq in self._offsets.items() if b == bus}

    def ensure_group(self, group: str, bus: str, start: int) -> bool:
        with self._lock:
            if (group, bus) in self._offsets:
                return False
            self._offsets[(group, bus)] = start
            return True

    def drop_group(self, group: str, bus: str) -> bool:
        with self._lock:
            return self._offsets.pop((group, bus), None) is not None

    def groups(self, prefix: str = "") -> list[tuple[str, str]]:
        with self._lock:
            return sorted(key for key in self._offsets if key[0].startswith(prefix))

    def _reserve(self, key: tuple[str, str], expected: int, last: int) -> None:
        with self._lock:
            current = self._reserved.get(key, self._offsets.get(key, 0))
            if current != expected:
                raise Conflict(
                    f"Consumer group {key[0]!r} on bus {key[1]!r} is at offset {current}, "
                    f"not {expected}: another consumer of the group committed first."
                )
            self._reserved[key] = last

    def _settle(self, key: tuple[str, str], last: int, ok: bool) -> None:
        with self._lock:
            if self._reserved.get(key) == last:
                del self._reserved[key]
            if ok:
                self._offsets[key] = max(last, self._offsets.get(key, 0))

    # -- retention -------------------------------------------------------------------------

    def trim_before(
        self, bus: str, *, upto_seq: int, ingested_before: float, limit: int = 10_000
    ) -> int:
        with self._lock:
            rows = self._records.get(bus, [])
            keep = [r for r in rows[:limit] if not (r[0] <= upto_seq and r[4] < ingested_before)]
            deleted = min(limit, len(rows)) - len(keep)
            rows[: min(limit, len(rows))] = keep
            self._seqs[bus] = [r[0] for r in rows]
            return deleted

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._lock.notify_all()


class MemoryConsumer:
    """A consumer group member on :class:`MemoryEventLog` (compare-and-set offsets)."""

    def __init__(self, log: MemoryEventLog, bus: str, group: str) -> None:
        self.log = log
        self.bus = bus
        self.group = group
        self._cursor: int | None = None

    def fetch(self, max_events: int, wait_secs: float = 0.0) -> LogBatch:
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self.log.offset(self.group, self.bus)
        records = self.log.read_after(self.bus, cursor, max_events)
        if not records and wait_secs > 0:
            self.log._wait(self.bus, cursor, wait_secs)
            records = self.log.read_after(self.bus, cursor, max_events)
        if records:
            self._cursor = records[-1].seq
        return LogBatch(self.bus, self.group, records, cursor)

    def submit(self, batch: LogBatch, write: Callable[[Any], T]) -> CommitWaiter:
        pending = CommitWaiter(self)
        key = (self.group, self.bus)
        last, after = batch.last_seq, batch.after
        log = self.log

        def run(conn: Any) -> T:
            result = write(conn)
            log._reserve(key, after, last)
            return result

        def done(result: Any, error: BaseException | None) -> None:
            reserved = not isinstance(error, Conflict)
            if reserved:
                log._settle(key, last, error is None)
            pending.finish(result, error)

        log.db.submit(run, done)
        return pending

    def commit(self, batch: LogBatch, write: Callable[[Any], T]) -> T:
        result: T = self.submit(batch, write).wait()
        return result

    def rewind(self) -> None:
        self._cursor = None

    def close(self) -> None:
        self._cursor = None
