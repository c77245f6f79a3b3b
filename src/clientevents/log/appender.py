"""Coalescing appends: every caller waiting at a commit shares one multi-row INSERT.

Under load, many threads and requests append a few events each at the same moment. Letting
each run its own write function would cost the database's writer thread several statements per
caller, and each statement gives up Python's GIL, so with many busy callers the writer waits
behind them and becomes the bottleneck. Instead, callers put their rows in a pending list; at
most one *drain* write is queued at a time, and when the writer runs it, it takes every row
pending at that moment and inserts them with a handful of multi-row ``INSERT`` statements. The
commit's completion callback then wakes every caller whose rows it held.

Semantics are those of :meth:`StateStore.write`: :meth:`LogAppender.append` returns once the rows
are on disk, and raises :class:`StoreError` if the commit failed (none of its rows are stored).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Sequence
from typing import Any

from clientevents.errors import StoreError
from clientevents.log.records import EVENT
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["DEFAULT_LINGER_SECS", "LogAppender"]

DEFAULT_LINGER_SECS = 0.0
"""How long a drain may wait for more callers before committing, when the last one held several
(0: never). Off by default: on the development machine a 2 ms wait made no difference the noise
did not hide for the gateway, and cost threaded ``put_events`` callers a third of their rate
(they all wait for the commit, so nothing overlaps its wait)."""

_INSERT_HEAD = (
    "INSERT INTO events (seq, bus, event_id, time, ingested_at, body, replay_name, replay_rules, "
    "count, format) VALUES "
)
_STEP = 32  # statement sizes: 1..31 rows, then multiples of 32 up to _MAX_CHUNK
_MAX_CHUNK = 512  # rows per statement: 5,120 bound values, well under SQLite's limit
_STATEMENTS: dict[int, str] = {}
_WIDTH = 10  # bound values per row
# The last position ever given: AUTOINCREMENT's counter (kept by SQLite even when explicit
# positions are inserted), or the highest seq present (a file whose counter row is missing).
_LAST_POSITION = (
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
    "coalesce((SELECT max(seq) FROM events), 0))"
)


#: The channel a commit that appended to the log notifies (``StateStore.change_token``).
LOG_CHANNEL = "log"

# PostgreSQL: positions come from the head row, locked until the appending transaction commits,
# so appenders of every process take positions in the order they commit: a consumer that read
# "after p" can never miss a row committed later with a position at or below p.
_RESERVE_PG = "UPDATE log_head SET position = position + ? WHERE id = 1 RETURNING position"


def _last_position(conn: SqlConnection, total: int) -> int:
    """The position before the ``total`` this append takes."""
    if conn.dialect.name == "postgres":
        (head,) = conn.execute(_RESERVE_PG, (total,)).fetchone()
        conn.dialect.notify(conn, LOG_CHANNEL)
        return int(head) - total
    (position,) = conn.execute(_LAST_POSITION).fetchone()
    return int(position)


def _statement(rows: int) -> str:
    text = _STATEMENTS.get(rows)
    if text is None:
        text = _STATEMENTS[rows] = _INSERT_HEAD + ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * rows)
    return text


def insert_rows(conn: SqlConnection, rows: Sequence[Sequence[object]]) -> None:
    """Insert records into ``events`` with at most a few statements, giving them positions.

    Each row is a :class:`~clientevents.log.records.LogRow` (a 7-tuple is a single event). A
    record of ``count`` events takes the next ``count`` positions and its ``seq`` is the last
    of them; the caller's write holds the database's write lock, so no other writer takes
    positions meanwhile. Positions continue from the highest ever given (SQLite's
    AUTOINCREMENT counter follows explicit ``seq`` values), so a trim never lets one be reused.

    The rows below a multiple of 32 go in one statement, the rest in statements of up to
    512 rows, each a multiple of 32: at most 47 distinct statement texts (so they stay in
    the connection's statement cache) and, up to 512 rows, at most two statements. Each
    statement gives up the GIL once; fewer statements keep the writer thread off the GIL's
    queue.
    """
    if not rows:
        return
    total_events = 0
    for row in rows:
        total_events += row[7] if len(row) == _WIDTH - 1 and type(row[7]) is int else 1
    position = _last_position(conn, total_events)
    params: list[object] = []
    extend = params.extend
    for row in rows:
        if len(row) == _WIDTH - 1:
            count = row[7]
            if type(count) is not int or count < 1:
                raise ValueError(f"A log record holds at least one event, not {count!r}.")
            position += count
            extend((position, *row))
        elif len(row) == _WIDTH - 3:  # a single event: count 1, format EVENT
            position += 1
            extend((position, *row, 1, EVENT))
        else:
            raise ValueError(
                f"A log row has 7 or 9 columns (see LogRow), not {len(row)}: {row!r:.200}."
            )
    total = len(rows)
    start = total % _STEP
    if start:
        conn.execute(_statement(start), params[: start * _WIDTH])
    while start < total:
        size = min(_MAX_CHUNK, total - start)
        conn.execute(
            _statement(size), params[start * _WIDTH : (start + size) * _WIDTH]
        )
        start += size


class _Waiter:
    __slots__ = ("error", "future", "lock", "loop", "next", "rows")

    def __init__(
        self,
        rows: Sequence[Sequence[object]],
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.rows = rows
        self.loop = loop
        self.future = future
        self.error: BaseException | None = None
        self.next: _Waiter | None = None
        self.lock: threading.Lock | None = None
        if loop is None:
            self.lock = threading.Lock()
            self.lock.acquire()

    def resolve(self, error: BaseException | None) -> None:
        if self.lock is not None:
            self.error = error
            self.lock.release()
        else:
            assert self.loop is not None and self.future is not None
            try:
                self.loop.call_soon_threadsafe(_resolve_future, self.future, error)
            except RuntimeError:  # its event loop is closed: nobody is waiting any more
                pass

    def wake_next(self) -> None:
        """Pass the wake-up on to the next blocking waiter of the same commit."""
        following = self.next
        if following is not None:
            self.next = None
            following.resolve(following.error)


def _pass_on_later(waiter: _Waiter) -> None:
    assert waiter.lock is not None
    waiter.lock.acquire()
    waiter.wake_next()


def _wake_all(waiters: list[_Waiter], error: BaseException | None) -> None:
    """Tell every waiter of a commit its outcome.

    Asyncio waiters are resolved at once, with one call into each event loop. Blocking
    waiters are chained: only the first is woken here, and each wakes the next on its way out
    (:meth:`_Waiter.wake_next`). Waking
    them all at once would make them all compete for the GIL at the same moment, and that
    contention (a few context switches per caller) costs more than their own work.
    """
    last: _Waiter | None = None
    first: _Waiter | None = None
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for waiter in waiters:
        if waiter.lock is None:
            assert waiter.loop is not None and waiter.future is not None
            futures = by_loop.get(waiter.loop)
            if futures is None:
                by_loop[waiter.loop] = [waiter.future]
            else:
                futures.append(waiter.future)
            continue
        waiter.error = error
        if last is None:
            first = waiter
        else:
            last.next = waiter
        last = waiter
    for loop, futures in by_loop.items():
        # One call a loop, not one a waiter: each call wakes the loop through its self-pipe
        # and costs the writer thread the GIL once more.
        try:
            loop.call_soon_threadsafe(_resolve_futures, futures, error)
        except RuntimeError:  # its event loop is closed: nobody is waiting any more
            pass
    if first is not None:
        first.resolve(error)


def _resolve_future(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


def _resolve_futures(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.cancelled():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


class LogAppender:
    """Appends rows to ``events``; concurrent callers share statements and commits.

    Args:
        db: the database whose writer thread runs the inserts.

    Attributes:
        drains: how many drain writes ran (each is part of one commit).
        rows_appended: how many records those writes inserted.
    """

    def __init__(self, db: StateStore, *, linger_secs: float = DEFAULT_LINGER_SECS) -> None:
        if linger_secs < 0:
            raise ValueError(f"linger_secs must be 0 or more, not {linger_secs!r}.")
        self.db = db
        self.linger_secs = linger_secs
        # Lock-free hand-off: appending to a deque is atomic, and ``_scheduled`` is only ever
        # tried without blocking, so a caller never sleeps here, only on its own commit.
        self._pending: collections.deque[_Waiter] = collections.deque()
        self._scheduled = threading.Lock()
        self._last_group = 0  # callers the last drain held
        self._target = 0  # callers the drain being gathered waits for (0: it does not wait)
        self._gathered = threading.Event()
        self.drains = 0
        self.rows_appended = 0

    def append(self, rows: Sequence[Sequence[object]]) -> None:
        """Append ``rows`` (:class:`~clientevents.log.records.LogRow`); return once they are
        on disk.

        Raises:
            StoreError: the commit failed; none of ``rows`` were stored.
        """
        waiter = _Waiter(rows)
        self._enqueue(waiter)
        assert waiter.lock is not None
        try:
            waiter.lock.acquire()
        except BaseException:
            # Interrupted while waiting (KeyboardInterrupt in the main thread): the callers
            # chained behind this one must still be woken when the commit ends.
            threading.Thread(target=_pass_on_later, args=(waiter,), daemon=True).start()
            raise
        waiter.wake_next()
        if waiter.error is not None:
            raise waiter.error

    async def aappend(self, rows: Sequence[Sequence[object]]) -> None:
        """The asyncio twin of :meth:`append`."""
        await self.append_future(rows)

    def append_future(self, rows: Sequence[Sequence[object]]) -> asyncio.Future[None]:
        """Start appending ``rows``; the future (of the running loop) ends with the commit.

        What :meth:`aappend` awaits, for callers that await it themselves (one coroutine
        less on a hot path). The future's exception is the :class:`StoreError` of a failed
        commit.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(_Waiter(rows, loop, future))
        return future

    def _enqueue(self, waiter: _Waiter) -> None:
        pending = self._pending
        pending.append(waiter)
        if self._scheduled.acquire(blocking=False):
            self._schedule()
        elif self._target and len(pending) >= self._target:
            self._target = 0  # one wake-up is enough
            self._gathered.set()

    def _take(self) -> list[_Waiter]:
        # Unschedule first, then take: a waiter added after the take finds the flag free and
        # schedules the next drain (which may find nothing, and then inserts nothing).
        self._scheduled.release()
        taken: list[_Waiter] = []
        pending = self._pending
        while pending:
            taken.append(pending.popleft())
        return taken

    def _schedule(self) -> None:
        taken: list[_Waiter] = []
        ran = False

        def drain(conn: SqlConnection) -> int:
            nonlocal ran
            if not ran:  # the store may run it again (its transaction rolled back): same rows
                ran = True
                taken.extend(self._take())
            rows: list[Sequence[object]] = []
            for waiter in taken:
                rows.extend(waiter.rows)
            self._last_group = len(taken)
            self._target = 0
            if rows:
                insert_rows(conn, rows)
            return len(rows)

        def done(appended: Any, error: BaseException | None) -> None:
            if error is None and appended:
                self.drains += 1  # the writer thread is the only one counting
                self.rows_appended += appended
            waiters = taken if ran else self._take()
            if error is not None and not isinstance(error, StoreError):
                wrapped = StoreError(f"Appending to the event log failed: {error}")
                wrapped.__cause__ = error
                error = wrapped
            _wake_all(waiters, error)

        # Under load (the last drain held several callers), the next commit waits until as
        # many callers are pending, or for at most linger_secs: fewer commits, each paying its
        # fixed cost (a transaction, the writer thread's turns at the GIL, an fsync) for more
        # events, while a steady load (each caller back as soon as it is answered) never
        # waits longer than it takes its callers to return.
        not_before = 0.0
        self._target = 0
        if self.linger_secs and self._last_group > 1:
            self._gathered.clear()
            self._target = self._last_group
            if len(self._pending) >= self._target:
                self._gathered.set()
            not_before = time.monotonic() + self.linger_secs
        try:
            # The drain locks the head row every appending process needs: ordered, it runs
            # after its group's other functions, so it holds the row only to the commit.
            self.db.submit(drain, done, not_before=not_before, gathered=self._gathered,
                           order=("log_head",))
        except StoreError as exc:  # the database is closed
            _wake_all(self._take(), exc)
