"""Named streams: durable logs that consumer groups read independently (Kinesis-like).

A stream is an append-only sequence of records (``id``, ``payload`` text, ``appended_at``).
Record ids increase in append order. A *consumer group* is a named reader with its own position:
each group sees every record, and the readers of one group share the work (a record handed to
one reader of a group is not handed to another until its visibility timeout passes).

- **Start**: a group is created by its first read, positioned by ``start``: ``"oldest"`` (every
  record still retained), ``"latest"`` (only records appended from then on) or a time in epoch
  seconds (records appended at or after it). Later reads ignore ``start``.
- **Acknowledge**: a read record is *in flight* for the stream's ``visibility_timeout_secs``.
  :meth:`StreamStore.ack` settles it for good; one that is not acknowledged in time is handed out
  again (its ``delivery_count`` goes up), before any newer record.
- **Retention**: records older than the stream's ``retention_hours`` are no longer read, and are
  deleted (trimmed) as appends and reads go by, or by :meth:`StreamStore.trim`.
- **Long poll**: ``read(..., wait_secs=N)`` waits up to N seconds for a record. Appends in the
  same process wake waiting readers at once; appends from another process (the workers) are
  seen within ``poll_interval_secs``, by a cheap indexed read, not by a write.

Tables (owned here): ``stream_records``, ``stream_groups``, ``stream_pending``.

Example::

    streams = StreamStore(db, settings)
    db.write(lambda conn: streams.append(conn, "clicks", ['{"n": 1}']))
    records = await streams.read("clicks", "analytics", max_records=10, wait_secs=5)
    await streams.ack("clicks", "analytics", [r.id for r in records])
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from clientevents.errors import NotFound
from clientevents.store.engine import register_schema
from clientevents.streams import groups as _groups

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.store.port import SqlConnection, StateStore

__all__ = [
    "MAX_RECORDS",
    "SCHEMA",
    "InvalidStreamRequest",
    "StreamRecord",
    "StreamStore",
    "UnknownStream",
]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS stream_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    payload TEXT NOT NULL,
    appended_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS stream_records_stream ON stream_records (stream, id);
CREATE INDEX IF NOT EXISTS stream_records_time ON stream_records (stream, appended_at);
CREATE TABLE IF NOT EXISTS stream_groups (
    stream TEXT NOT NULL,
    grp TEXT NOT NULL,
    position INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (stream, grp)
);
CREATE TABLE IF NOT EXISTS stream_pending (
    stream TEXT NOT NULL,
    grp TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    PRIMARY KEY (stream, grp, record_id)
);
CREATE INDEX IF NOT EXISTS stream_pending_visible ON stream_pending (stream, grp, visible_at);
"""

register_schema("streams", SCHEMA)

MAX_RECORDS: Final = 10_000
"""Most records one read returns (Kinesis' GetRecords limit)."""

_GROUP_NAME = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

#: How often, at most, appends and reads of one stream also trim it.
TRIM_INTERVAL_SECS: Final = 60.0


class UnknownStream(NotFound):
    """The stream is not configured."""


class InvalidStreamRequest(ValueError):
    """A read or acknowledgement with an invalid argument; the message names it."""


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record as a reader receives it.

    Attributes:
        id: the record id (acknowledge with it); increases in append order.
        payload: the record's text.
        appended_at: when it was appended, epoch seconds.
        delivery_count: how many times this group has been handed the record (1 the first time).
    """

    id: int
    payload: str
    appended_at: float
    delivery_count: int


@dataclass(frozen=True, slots=True)
class _StreamLimits:
    retention_secs: float
    visibility_timeout_secs: float


Start = str | int | float | datetime


class _Streams:
    """What every implementation of the streams shares: the configured streams and their
    limits, the checks of every argument, a read's long poll and an acknowledgement, around
    the storage's own :meth:`_claim`, :meth:`_wait` and :meth:`_settle`."""

    def __init__(
        self,
        settings: Settings | None,
        *,
        poll_interval_secs: float,
        clock: Callable[[], float],
    ) -> None:
        if poll_interval_secs <= 0:
            raise ValueError(f"poll_interval_secs must be positive, not {poll_interval_secs}.")
        self.poll_interval_secs = poll_interval_secs
        self.clock = clock
        self._limits: dict[str, _StreamLimits] = {}
        for cfg in settings.streams if settings is not None else ():
            self._limits[cfg.name] = _StreamLimits(
                retention_secs=float(cfg.retention_hours) * 3600.0,
                visibility_timeout_secs=float(cfg.visibility_timeout_secs),
            )

    # -- what exists ----------------------------------------------------------------------

    @property
    def stream_names(self) -> list[str]:
        """The configured streams, in configuration order."""
        return list(self._limits)

    def has_stream(self, stream: str) -> bool:
        """Whether ``stream`` is configured."""
        return stream in self._limits

    def _limits_of(self, stream: str) -> _StreamLimits:
        limits = self._limits.get(stream)
        if limits is None:
            known = ", ".join(sorted(self._limits)) or "none"
            raise UnknownStream(
                f"Stream {stream!r} is not configured (configured streams: {known}); "
                "add it under streams in the configuration."
            )
        return limits

    # -- reading --------------------------------------------------------------------------

    async def read(
        self,
        stream: str,
        group: str,
        *,
        max_records: int = 100,
        wait_secs: float = 0.0,
        start: Start = "oldest",
    ) -> list[StreamRecord]:
        """Hand this group up to ``max_records`` records: overdue in-flight ones, then new ones.

        Args:
            stream: a configured stream.
            group: the consumer group (1-128 of ``A-Z a-z 0-9 . _ : -``); created on first read.
            max_records: 1 to :data:`MAX_RECORDS`.
            wait_secs: wait up to this long for a record when none is available (long poll).
            start: where a new group begins: ``"oldest"``, ``"latest"`` or a time (epoch
                seconds or an aware ``datetime``). Ignored once the group exists.

        Raises:
            UnknownStream: the stream is not configured.
            InvalidStreamRequest: a bad group name, ``max_records``, ``wait_secs`` or ``start``.
        """
        limits = self._limits_of(stream)
        _check_group(group)
        if isinstance(max_records, bool) or not isinstance(max_records, int) or not (
            1 <= max_records <= MAX_RECORDS
        ):
            raise InvalidStreamRequest(
                f"max_records must be an integer from 1 to {MAX_RECORDS}, not {max_records!r}."
            )
        if isinstance(wait_secs, bool) or not isinstance(wait_secs, int | float) or not (
            0 <= wait_secs < float("inf")
        ):
            raise InvalidStreamRequest(
                f"wait_secs must be a number of seconds, 0 or more, not {wait_secs!r}."
            )
        start_at = _start_value(start)
        records = await self._claim(stream, group, start_at, max_records, limits)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(wait_secs)
        while not records:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            if await self._wait(stream, group, limits, min(self.poll_interval_secs, remaining)):
                records = await self._claim(stream, group, start_at, max_records, limits)
        return records

    async def ack(self, stream: str, group: str, ids: Sequence[int]) -> int:
        """Acknowledge records this group read; return how many were in flight.

        Ids that are not in flight for the group (already acknowledged, never read) are ignored.

        Raises:
            UnknownStream: the stream is not configured.
            InvalidStreamRequest: a bad group name or a non-integer id.
        """
        self._limits_of(stream)
        _check_group(group)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int)]
        if bad:
            raise InvalidStreamRequest(f"Record ids must be integers; got {bad[0]!r}.")
        if not ids:
            return 0
        return await self._settle(stream, group, list(ids))

    # -- the storage's part ---------------------------------------------------------------

    async def _claim(
        self, stream: str, group: str, start: str | float, limit: int, limits: _StreamLimits
    ) -> list[StreamRecord]:
        """Hand the group up to ``limit`` records now (creating it at ``start``)."""
        raise NotImplementedError

    async def _wait(
        self, stream: str, group: str, limits: _StreamLimits, timeout: float
    ) -> bool:
        """Wait up to ``timeout`` for records; whether a claim may find some now."""
        raise NotImplementedError

    async def _settle(self, stream: str, group: str, ids: list[int]) -> int:
        """End the group's in-flight records ``ids``; how many were in flight."""
        raise NotImplementedError


class StreamStore(_Streams):
    """The named streams of one database: the :class:`~clientevents.streams.port.StreamsPort`
    on the state store's tables (SQLite or PostgreSQL).

    Args:
        db: the shared database.
        settings: the configuration; its ``streams`` are the streams that exist.
        poll_interval_secs: how often a waiting reader looks for records appended by another
            process.
        clock: the time source (epoch seconds).
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings | None = None,
        *,
        poll_interval_secs: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, poll_interval_secs=poll_interval_secs, clock=clock)
        self.db = db
        self._last_trim: dict[str, float] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._lock = threading.Lock()
        db.ensure_schema(SCHEMA)

    # -- writing --------------------------------------------------------------------------

    def append(self, conn: SqlConnection, stream: str, payloads: Sequence[str]) -> list[int]:
        """Append records to ``stream`` inside a write; return their ids in order.

        Raises:
            UnknownStream: the stream is not configured.
        """
        limits = self._limits_of(stream)
        now = self.clock()
        # ids must follow commit order (a group reads "after its position"): one appender of
        # this stream at a time, in every process
        conn.dialect.lock(conn, f"stream:{stream}")
        ids = [
            int(
                conn.execute(
                    "INSERT INTO stream_records (stream, payload, appended_at) VALUES (?, ?, ?) "
                    "RETURNING id",
                    (stream, payload, now),
                ).fetchone()[0]
            )
            for payload in payloads
        ]
        self._maybe_trim(conn, stream, limits, now)
        if ids:
            self._notify(stream)
        return ids

    def _maybe_trim(
        self, conn: SqlConnection, stream: str, limits: _StreamLimits, now: float
    ) -> int:
        with self._lock:
            if now - self._last_trim.get(stream, float("-inf")) < TRIM_INTERVAL_SECS:
                return 0
            self._last_trim[stream] = now
        return _groups.trim_in(conn, stream, now - limits.retention_secs)

    def trim(self) -> int:
        """Delete the records past retention in every stream now; return how many.

        Runs one short write per chunk (:data:`~clientevents.streams.groups.TRIM_CHUNK`).
        """
        now = self.clock()
        cutoffs = {name: now - lim.retention_secs for name, lim in self._limits.items()}

        def run(conn: SqlConnection) -> int:
            return sum(_groups.trim_in(conn, name, cut) for name, cut in cutoffs.items())

        total = 0
        while True:
            deleted = self.db.write(run)
            total += deleted
            if deleted == 0:
                return total

    # -- reading --------------------------------------------------------------------------

    async def _claim(
        self, stream: str, group: str, start: str | float, limit: int, limits: _StreamLimits
    ) -> list[StreamRecord]:
        def claim(conn: SqlConnection) -> list[StreamRecord]:
            now = self.clock()
            self._maybe_trim(conn, stream, limits, now)
            return _groups.claim_in(
                conn,
                stream,
                group,
                now=now,
                start=start,
                limit=limit,
                retention_secs=limits.retention_secs,
                visibility_secs=limits.visibility_timeout_secs,
            )

        return await self.db.awrite(claim)

    async def _wait(
        self, stream: str, group: str, limits: _StreamLimits, timeout: float
    ) -> bool:
        woken = await self._wait_for_append(stream, timeout)
        return woken or await asyncio.to_thread(self._available, stream, group, limits)

    def _available(self, stream: str, group: str, limits: _StreamLimits) -> bool:
        now = self.clock()
        return self.db.read(
            lambda conn: _groups.available(conn, stream, group, now, now - limits.retention_secs)
        )

    async def _settle(self, stream: str, group: str, ids: list[int]) -> int:
        def delete(conn: SqlConnection) -> int:
            done = 0
            for start in range(0, len(ids), 500):  # bound values per statement
                chunk = ids[start : start + 500]
                done += conn.execute(
                    "DELETE FROM stream_pending WHERE stream = ? AND grp = ? "
                    f"AND record_id IN ({','.join('?' * len(chunk))})",
                    (stream, group, *chunk),
                ).rowcount
            return done

        return await self.db.awrite(delete)

    def peek(self, stream: str, *, after_id: int = 0, limit: int = 100) -> list[StreamRecord]:
        """Up to ``limit`` retained records with ids above ``after_id``, in order, without
        handing them to any group (for a reader that acknowledges nothing, such as
        ``clientevents tail``). Their ``delivery_count`` is 0.

        Raises:
            UnknownStream: the stream is not configured.
        """
        limits = self._limits_of(stream)
        since = self.clock() - limits.retention_secs
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT id, payload, appended_at FROM stream_records WHERE stream = ? "
                "AND id > ? AND appended_at >= ? ORDER BY id LIMIT ?",
                (stream, after_id, since, limit),
            ).fetchall()
        )
        return [StreamRecord(int(i), str(p), float(t), 0) for i, p, t in rows]

    def last_id(self, stream: str) -> int:
        """The id of the newest record of ``stream`` (0 when it has none).

        Raises:
            UnknownStream: the stream is not configured.
        """
        self._limits_of(stream)
        row = self.db.read(
            lambda conn: conn.execute(
                "SELECT max(id) FROM stream_records WHERE stream = ?", (stream,)
            ).fetchone()
        )
        return 0 if row is None or row[0] is None else int(row[0])

    def groups(self, stream: str) -> list[dict[str, Any]]:
        """The stream's consumer groups: name, position, in-flight count and lag."""
        self._limits_of(stream)
        return self.db.read(lambda conn: _groups.describe(conn, stream))

    # -- waking readers -------------------------------------------------------------------

    async def _wait_for_append(self, stream: str, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            self._waiters.setdefault(stream, set()).add(entry)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(stream)
                if waiting is not None:
                    waiting.discard(entry)

    def _notify(self, stream: str) -> None:
        """Wake this process's readers of ``stream``; their next claim runs after this commit.

        Called inside the append's write, so a woken reader goes straight to a claim: the claim
        is a later write on the same writer, and sees the appended records.
        """
        with self._lock:
            waiting = list(self._waiters.get(stream, ()))
        for loop, fut in waiting:
            try:
                loop.call_soon_threadsafe(_wake, fut)
            except RuntimeError:
                pass  # that loop is closed; its reader is gone


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _check_group(group: str) -> None:
    if not isinstance(group, str) or not _GROUP_NAME.match(group):
        raise InvalidStreamRequest(
            f"Consumer group {group!r} is not valid: use 1 to 128 letters, digits, "
            "'.', '_', ':' or '-'."
        )


def _start_value(start: Start) -> str | float:
    if isinstance(start, str):
        if start in ("oldest", "latest"):
            return start
        raise InvalidStreamRequest(
            f"start must be 'oldest', 'latest' or a time in epoch seconds, not {start!r}."
        )
    if isinstance(start, bool):
        raise InvalidStreamRequest(f"start must not be a boolean ({start!r}).")
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise InvalidStreamRequest(
                f"start {start.isoformat()} has no time zone; give an aware datetime."
            )
        return start.timestamp()
    if isinstance(start, int | float) and 0 <= start < float("inf"):
        return float(start)
    raise InvalidStreamRequest(
        f"start must be 'oldest', 'latest' or a time in epoch seconds, not {start!r}."
    )
