"""The event log of every bus, in the embedded SQLite database.

One append-only table ``events`` holds the records of all buses: a record is one event, or
the events of one ingest request stored together (:mod:`clientevents.log.records`). Every
event has a position, its offset: global, monotonic, never reused after a trim. A record's
``seq`` is the position of its last event. Consumers (the router, archives) read a bus
*per event* after their committed offset (:meth:`EventLog.read_after` expands records) and
commit the new offset with :meth:`EventLog.commit_offset` inside the same write as the work the
batch produced: a crash then neither loses nor repeats a hand-off.

Example::

    log = EventLog(db)
    db.write(lambda conn: log.append(conn, rows))          # durable on return
    batch = log.read_after("orders", log.offset("router", "orders"), 500)
    db.write(lambda conn: (work(conn, batch), log.commit_offset(conn, "router", "orders",
                                                                batch[-1].seq)))
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from clientevents.errors import Conflict
from clientevents.log.appender import LOG_CHANNEL, LogAppender, insert_rows
from clientevents.log.port import CommitWaiter, LogBatch
from clientevents.log.records import LogRecord, Row, expand_row
from clientevents.store import driver_errors
from clientevents.store.dialect import POSTGRES
from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["LOG_CHANNEL", "SCHEMA", "EventLog", "LogRecord", "SqlConsumer"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    bus TEXT NOT NULL,
    event_id TEXT NOT NULL,
    time REAL NOT NULL,
    ingested_at REAL NOT NULL,
    body TEXT NOT NULL,
    replay_name TEXT NULL,
    replay_rules TEXT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    format INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_bus_seq ON events (bus, seq);
CREATE TABLE IF NOT EXISTS consumer_offsets (
    grp TEXT NOT NULL,
    bus TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (grp, bus)
) WITHOUT ROWID;
"""

#: PostgreSQL: the head row hands out positions (see :mod:`clientevents.log.appender`).
PG_SCHEMA = POSTGRES.ddl(SCHEMA) + """
CREATE TABLE IF NOT EXISTS log_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO log_head (id, position) SELECT 1, coalesce(max(seq), 0) FROM events
ON CONFLICT (id) DO NOTHING;
"""

register_schema("log", SCHEMA, postgres=PG_SCHEMA)

_COLUMNS = (
    "seq, bus, event_id, time, ingested_at, body, replay_name, replay_rules, count, format"
)

#: Columns added since the first release, with their definitions (older files get them).
_ADDED_COLUMNS = {
    "count": "INTEGER NOT NULL DEFAULT 1",
    "format": "INTEGER NOT NULL DEFAULT 0",
}


class EventLog:
    """Append, read and trim the ``events`` table; track consumer offsets.

    The SQL implementation of :class:`~clientevents.log.port.EventLogPort`: the log lives in
    the state store, so a consumer's offset moves in the same transaction as its work.
    The static methods take the connection of a :meth:`StateStore.write` function (they never
    commit); reads use the calling thread's read connection.
    """

    consumers_share_work = False
    """See :attr:`~clientevents.log.port.EventLogPort.consumers_share_work`."""

    def __init__(self, db: StateStore) -> None:
        self.db = db
        db.ensure_schema(SCHEMA, postgres=PG_SCHEMA)
        self._upgrade()
        self._appender: LogAppender | None = None
        self._appender_lock = threading.Lock()

    @property
    def appender(self) -> LogAppender:
        """The group-commit appender behind :meth:`append_records` (made on first use)."""
        appender = self._appender
        if appender is None:
            with self._appender_lock:
                appender = self._appender
                if appender is None:
                    appender = self._appender = LogAppender(self.db)
        return appender

    # -- the port --------------------------------------------------------------------------

    def append_records(self, rows: Sequence[Sequence[object]]) -> None:
        """Append records in the next group commit; return once it is on disk."""
        self.appender.append(rows)

    def append_future(self, rows: Sequence[Sequence[object]]) -> asyncio.Future[None]:
        """Start appending ``rows``; the future ends with the commit."""
        return self.appender.append_future(rows)

    async def aappend(self, rows: Sequence[Sequence[object]]) -> None:
        """The asyncio twin of :meth:`append_records`."""
        await self.appender.append_future(rows)

    def append_in(self, conn: Any, rows: Sequence[Sequence[object]]) -> None:
        """Append inside the caller's write (durable with its commit)."""
        insert_rows(conn, rows)

    def consumer(self, bus: str, group: str) -> SqlConsumer:
        """A member of ``group`` on ``bus``: its offset moves with each commit's write."""
        return SqlConsumer(self, bus, group)

    def ensure_group(self, group: str, bus: str, start: int) -> bool:
        """Give ``group`` the offset ``start`` on ``bus`` unless it has one."""

        def create(conn: SqlConnection) -> bool:
            cur = conn.execute(
                "INSERT INTO consumer_offsets (grp, bus, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, bus) DO NOTHING",
                (group, bus, start),
            )
            return cur.rowcount > 0

        return bool(self.db.write(create))

    def drop_group(self, group: str, bus: str) -> bool:
        """Forget ``group``'s offset on ``bus``."""
        return bool(self.db.write(lambda conn: EventLog.drop_offset(conn, group, bus)))

    def groups(self, prefix: str = "") -> list[tuple[str, str]]:
        """``(group, bus)`` of every group with an offset whose name starts with ``prefix``."""
        rows = self.db.read(
            lambda conn: conn.execute("SELECT grp, bus FROM consumer_offsets").fetchall()
        )
        return sorted((str(g), str(b)) for g, b in rows if str(g).startswith(prefix))

    def trim_before(
        self, bus: str, *, upto_seq: int, ingested_before: float, limit: int = 10_000
    ) -> int:
        """:meth:`trim` in a write of its own."""
        return int(self.db.write(
            lambda conn: EventLog.trim(conn, bus, upto_seq=upto_seq,
                                       ingested_before=ingested_before, limit=limit)
        ))

    def close(self) -> None:
        """Nothing to release: the database is the caller's."""

    def _upgrade(self) -> None:
        """Add the columns a database made by an older release lacks (each a no-op later)."""
        present = self.db.read(lambda conn: conn.dialect.columns(conn, "events"))
        for name, definition in _ADDED_COLUMNS.items():
            if name in present:
                continue

            def add(conn: SqlConnection, name: str = name, definition: str = definition
                    ) -> None:
                try:
                    conn.execute(f"ALTER TABLE events ADD COLUMN {name} {definition}")
                except driver_errors() as exc:
                    if not conn.dialect.is_duplicate_column(exc):  # another process added it
                        raise

            self.db.write(add)

    # -- writes (inside db.write) --------------------------------------------------------

    @staticmethod
    def append(conn: SqlConnection, rows: Sequence[Sequence[object]]) -> None:
        """Append records: each row is a :class:`~clientevents.log.records.LogRow`, ``(bus,
        event_id, time, ingested_at, body, replay_name, replay_rules[, count, format])``."""
        insert_rows(conn, rows)

    @staticmethod
    def drop_offset(conn: SqlConnection, group: str, bus: str) -> bool:
        """Forget ``group``'s offset on ``bus`` (a consumer that no longer exists), so the log's
        retention stops waiting for it. Return whether there was one."""
        cur = conn.execute("DELETE FROM consumer_offsets WHERE grp = ? AND bus = ?", (group, bus))
        return cur.rowcount > 0

    @staticmethod
    def commit_offset(
        conn: SqlConnection, group: str, bus: str, seq: int, *, expected: int | None = None
    ) -> None:
        """Record that ``group`` has consumed ``bus`` up to and including ``seq``.

        With ``expected``, the offset moves only from that value (compare and set): a second
        consumer of the same group that raced this one raises :class:`Conflict`, so the write
        it belongs to rolls back instead of handing the batch off twice.
        """
        if expected is None:
            conn.execute(
                "INSERT INTO consumer_offsets (grp, bus, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, bus) DO UPDATE SET seq = excluded.seq",
                (group, bus, seq),
            )
            return
        cur = conn.execute(
            "UPDATE consumer_offsets SET seq = ? WHERE grp = ? AND bus = ? AND seq = ?",
            (seq, group, bus, expected),
        )
        if cur.rowcount == 1:
            return
        row = conn.execute(
            "SELECT seq FROM consumer_offsets WHERE grp = ? AND bus = ?", (group, bus)
        ).fetchone()
        if row is None and expected == 0:
            # Two consumers starting the group at once: the second one's insert finds the
            # first one's row (committed meanwhile) and is a conflict like any other.
            inserted = conn.execute(
                "INSERT INTO consumer_offsets (grp, bus, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, bus) DO NOTHING", (group, bus, seq)
            )
            if inserted.rowcount == 1:
                return
        current = None if row is None else row[0]
        raise Conflict(
            f"Consumer group {group!r} on bus {bus!r} is at offset {current}, not {expected}: "
            "another consumer of the same group moved it first; the batch is read again."
        )

    @staticmethod
    def trim(conn: SqlConnection, bus: str, *, upto_seq: int, ingested_before: float,
             limit: int = 10_000) -> int:
        """Delete up to ``limit`` records of ``bus`` whose events all have positions up to
        ``upto_seq`` and were ingested before ``ingested_before``; return how many records
        were deleted."""
        cur = conn.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE bus = ? AND seq <= ? "
            "AND ingested_at < ? ORDER BY seq LIMIT ?)",
            (bus, upto_seq, ingested_before, limit),
        )
        return cur.rowcount

    # -- reads ---------------------------------------------------------------------------

    def read_after(self, bus: str, after_seq: int, limit: int) -> list[LogRecord]:
        """Up to ``limit`` events of ``bus`` with positions after ``after_seq``, in order."""
        sql = f"SELECT {_COLUMNS} FROM events WHERE bus = ? AND seq > ? ORDER BY seq"
        return self.db.read(lambda conn: _expand(conn, sql, (bus, after_seq), after_seq, limit))

    def read_time_range(
        self, bus: str, start: float, end: float, after_seq: int, limit: int
    ) -> list[LogRecord]:
        """Up to ``limit`` events of ``bus`` after position ``after_seq`` whose event time is in
        ``[start, end)`` (epoch seconds), in position order. Page with the last ``seq``."""
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE bus = ? AND seq > ? AND time >= ? "
            "AND time < ? ORDER BY seq"
        )
        params = (bus, after_seq, start, end)
        return self.db.read(lambda conn: _expand(conn, sql, params, after_seq, limit))

    def offset(self, group: str, bus: str) -> int:
        """The last ``seq`` of ``bus`` that ``group`` committed (0 before its first commit)."""
        row = self.db.read(
            lambda conn: conn.execute(
                "SELECT seq FROM consumer_offsets WHERE grp = ? AND bus = ?", (group, bus)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    def offsets(self, bus: str) -> dict[str, int]:
        """Every consumer group's committed offset on ``bus``."""
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT grp, seq FROM consumer_offsets WHERE bus = ?", (bus,)
            ).fetchall()
        )
        return {str(grp): int(seq) for grp, seq in rows}

    def head(self, bus: str) -> int:
        """The position of the last event of ``bus`` still in the log (0 when it holds none)."""
        sql = "SELECT max(seq) FROM events WHERE bus = ?"
        row = self.db.read(lambda conn: conn.execute(sql, (bus,)).fetchone())
        return 0 if row is None or row[0] is None else int(row[0])

    def count(self, bus: str) -> int:
        """How many events of ``bus`` the log holds."""
        sql = "SELECT coalesce(sum(count), 0) FROM events WHERE bus = ?"
        row = self.db.read(lambda conn: conn.execute(sql, (bus,)).fetchone())
        return int(row[0])


class SqlConsumer:
    """A consumer group member on the SQL log: the group's offset is one row of
    ``consumer_offsets``, moved by compare-and-set in the same write as the batch's work, so
    of two members that fetched the same events only the first commit stores anything (the
    other raises :class:`Conflict` and fetches afresh).

    Fetching advances a local cursor, so the next batch can be fetched and worked on while
    the previous one commits (commits complete in submission order: one writer thread).
    """

    def __init__(self, log: EventLog, bus: str, group: str) -> None:
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
            deadline = time.monotonic() + wait_secs
            store = self.log.db
            version = store.change_token(LOG_CHANNEL)
            while not records and time.monotonic() < deadline:
                time.sleep(0.002)
                current = store.change_token(LOG_CHANNEL)
                if current != version:
                    version = current
                    records = self.log.read_after(self.bus, cursor, max_events)
        batch = LogBatch(self.bus, self.group, records, cursor)
        if records:
            self._cursor = records[-1].seq
        return batch

    def submit(self, batch: LogBatch, write: Callable[[Any], T]) -> CommitWaiter:
        pending = CommitWaiter(self)
        group, bus, last, after = self.group, self.bus, batch.last_seq, batch.after

        def run(conn: SqlConnection) -> T:
            result = write(conn)
            EventLog.commit_offset(conn, group, bus, last, expected=after)
            return result

        # ordered: every process locks the offset rows of its groups in one order
        self.log.db.submit(run, pending.finish, order=("consumer_offsets", group, bus))
        return pending

    def commit(self, batch: LogBatch, write: Callable[[Any], T]) -> T:
        result: T = self.submit(batch, write).wait()
        return result

    def rewind(self) -> None:
        self._cursor = None

    def close(self) -> None:
        self._cursor = None


def _expand(
    conn: SqlConnection, sql: str, params: Sequence[object], after: int, limit: int
) -> list[LogRecord]:
    """The events of the records ``sql`` selects (in ``seq`` order) after position ``after``,
    at most ``limit``; stops stepping the statement once it has them."""
    out: list[LogRecord] = []
    if limit <= 0:
        return out
    cursor = conn.execute(sql, params)
    try:
        row: Row
        for row in cursor:
            expand_row(row, after, limit - len(out), out)
            if len(out) >= limit:
                break
    finally:
        cursor.close()
    return out
