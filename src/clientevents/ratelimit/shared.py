"""Rate limits that hold across processes: a token bucket kept in the state store.

One row per key in ``rate_buckets`` (``key``, ``tokens``, ``stamp``), and one atomic
conditional ``UPDATE`` per reservation: the bucket is refilled for the time since ``stamp``
(capped at the burst) and ``n`` tokens are taken *only if* that many are there, all in the
statement's ``WHERE`` and ``SET``. The database serialises the updates of one row (SQLite's
write lock across the processes of one machine; PostgreSQL's row lock across machines), so
however many processes take from one bucket, it never hands out more than it holds. Only
standard SQL is used (``CASE``, arithmetic, ``INSERT ... ON CONFLICT DO NOTHING``), with
named parameters translated to the driver's style, so the same statements run on SQLite and
PostgreSQL.

A refused full reservation reads the row and asks again for what is left (a bounded number
of times, since others may take it meanwhile), so a dispatcher wanting 20 calls gets the 3
there are. Times are the callers' wall clocks (``time.time()``): the processes sharing a bucket
need synchronised clocks (NTP); a clock behind the others' never refills the bucket early (the
elapsed time is never negative and the stamp never goes back).

::

    bucket = SharedBucket(SqliteRunner(db), rate=10.0, burst=1)      # or PsycopgRunner(...)
    granted, wait = await bucket.take("dest:tickets", 5)    # (1, 0.0), then (0, 0.09) ...

:class:`SharedCallLimiter` is an API destination's :class:`~clientevents.ratelimit.CallLimiter`
over a shared bucket; :class:`SharedKeyedLimiter` is a stage's per-client limit. Why a table
in the state store and not JetStream's key-value store: ``docs/scaling.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, TypeVar

from clientevents.errors import StoreError
from clientevents.ratelimit.bucket import TokenBucket
from clientevents.ratelimit.window import Grant, WindowLimiter
from clientevents.store.engine import register_schema
from clientevents.store.port import StateStore

__all__ = [
    "DDL",
    "ENV_SHARED",
    "PsycopgRunner",
    "SharedBucket",
    "SharedCallLimiter",
    "SharedKeyedLimiter",
    "SqlRunner",
    "SqliteRunner",
    "Steps",
    "StoreRunner",
    "call_bucket_shape",
    "shared_limits_wanted",
]

T = TypeVar("T")

DDL = """
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    stamp DOUBLE PRECISION NOT NULL
);
"""
"""The table of the shared buckets (standard SQL: SQLite and PostgreSQL)."""

register_schema("rate_buckets", DDL)

ENV_SHARED = "CLIENTEVENTS_SHARED_RATE_LIMITS"
"""``1``: rate limits are shared between processes; ``0``: each process keeps its own; unset:
shared when more than one process may serve (set by ``clientevents gateway`` and by
``--http-workers`` above 1; a ``clientevents worker`` not started by ``serve``)."""

#: How often a refused reservation asks again for what is left before it gives up for now.
_ATTEMPTS = 3

# The tokens after a refill at :now, capped at the burst (the elapsed time is never negative).
_REFILLED = ("CASE WHEN tokens + (CASE WHEN :now > stamp THEN :now - stamp ELSE 0 END) * :rate"
             " > :burst THEN :burst"
             " ELSE tokens + (CASE WHEN :now > stamp THEN :now - stamp ELSE 0 END) * :rate END")

_TAKE = (f"UPDATE rate_buckets SET tokens = {_REFILLED} - :n,"
         " stamp = CASE WHEN :now > stamp THEN :now ELSE stamp END"
         f" WHERE key = :key AND {_REFILLED} >= :n - 0.000000001")
_READ = "SELECT tokens, stamp FROM rate_buckets WHERE key = :key"
_CREATE = ("INSERT INTO rate_buckets (key, tokens, stamp) VALUES (:key, :burst, :now)"
           " ON CONFLICT (key) DO NOTHING")
_RETURN = ("UPDATE rate_buckets SET tokens = CASE WHEN tokens + :n > :burst THEN :burst"
           " ELSE tokens + :n END WHERE key = :key")

_NAMED = re.compile(r":([a-z]+)")


def _pyformat(sql: str) -> str:
    """``:name`` parameters as ``%(name)s`` (psycopg)."""
    return _NAMED.sub(r"%(\1)s", sql)


Steps = Generator[tuple[str, dict[str, Any]], tuple[int, Any], T]
"""A store operation as statements: it yields ``(sql, params)``, receives ``(rowcount, first
row or None)`` and returns its result; a runner drives it inside one transaction."""


class SqlRunner(Protocol):
    """Runs a store operation (:data:`Steps`) in one transaction of the state store.

    ``paramstyle`` is ``"named"`` (``:name``, sqlite3) or ``"pyformat"`` (``%(name)s``,
    psycopg). The embedded default's is :class:`SqliteRunner`; PostgreSQL's is
    :class:`PsycopgRunner`. ``remote``: each statement is a round trip to a server (what a
    take costs then caps how many one process makes a second)."""

    paramstyle: str
    remote: bool

    async def run(self, steps: Steps[T]) -> T:
        """Drive ``steps`` in one transaction; their result once committed."""
        ...


def _drive(conn: Any, steps: Steps[T]) -> T:
    answer: Any = None
    while True:
        try:
            sql, params = steps.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result
        # ``:name`` parameters as the store port's ``?`` placeholders (SQLite and PostgreSQL).
        values = tuple(params[name] for name in _NAMED.findall(sql))
        cur = conn.execute(_NAMED.sub("?", sql), values)
        answer = (cur.rowcount, cur.fetchone() if sql.startswith("SELECT") else None)


async def _adrive(conn: Any, steps: Steps[T], translate: Callable[[str], str] | None = None) -> T:
    """Drive ``steps`` on a psycopg async connection (``translate``: the statements for its
    placeholders, when the steps do not yield them in its style already)."""
    answer: Any = None
    while True:
        try:
            sql, params = steps.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result
        cur = await conn.execute(sql if translate is None else translate(sql), params)
        row = await cur.fetchone() if sql.startswith("SELECT") else None
        answer = (cur.rowcount, row)


class StoreRunner:
    """The deployment's state store (:class:`~clientevents.store.port.StateStore`, SQLite or
    PostgreSQL).

    SQLite: one group-committed write a run (the processes of one machine share the file and
    its write lock). PostgreSQL: not the store's group commit, where a bucket's row would stay
    locked while the rest of the group runs (every process taking from the bucket would wait
    for the other's whole group, and groups meeting bucket and counter rows in different
    orders could deadlock), but an autocommit connection of the runner's own to the store's
    schema: each statement of a take is a transaction of its own, atomic on its one row (the
    take's ``UPDATE`` is conditional, the creation ``ON CONFLICT DO NOTHING``), committed
    without waiting for the WAL flush (a server crash may forget the last takes: a bucket
    refills a little early once)."""

    paramstyle = "named"

    def __init__(self, db: StateStore) -> None:
        self.db = db
        self.remote = db.dialect.name == "postgres" and hasattr(db, "dsn")
        self._conn: Any = None
        self._lock: Any = None
        self._loop: Any = None

    async def run(self, steps: Steps[T]) -> T:
        if self.remote:
            return await self._run_pg(steps)
        return await self.db.awrite(lambda conn: _drive(conn, steps))

    async def _run_pg(self, steps: Steps[T]) -> T:
        import asyncio

        import psycopg

        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection and a lock belong to one event loop
            _finish(self._conn)
            self._loop, self._lock, self._conn = loop, asyncio.Lock(), None
        async with self._lock:
            conn = self._conn
            if conn is None or conn.closed:
                db: Any = self.db
                conn = self._conn = await psycopg.AsyncConnection.connect(
                    db.dsn, autocommit=True, prepare_threshold=None,
                    connect_timeout=max(1, round(getattr(db, "connect_timeout", 5))),
                    options=f"-c search_path={db.schema} -c synchronous_commit=off",
                )
                # A runner dropped without close() (a target never closed) still closes it.
                weakref.finalize(self, _finish, conn)
            try:
                return await _adrive(conn, steps, _pyformat)
            except psycopg.Error as exc:
                if conn.broken:
                    self._conn = None
                raise StoreError(f"A shared rate limit's bucket could not be written: {exc}"
                                 ) from exc

    async def close(self) -> None:
        """Close the PostgreSQL connection, if one was opened (the next run opens another)."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def _finish(conn: Any) -> None:
    """Close the socket of a connection whose event loop is gone (it cannot be awaited)."""
    if conn is not None and not conn.closed:
        with contextlib.suppress(Exception):
            conn.pgconn.finish()


#: The name the embedded default's runner had first.
SqliteRunner = StoreRunner


class PsycopgRunner:
    """PostgreSQL through psycopg 3: one async connection (``connect()`` makes it, again after
    it broke), each run one transaction on it. The table is created on first use."""

    paramstyle = "pyformat"
    remote = True

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._lock: Any = None

    async def run(self, steps: Steps[T]) -> T:
        import asyncio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = self._conn
            if conn is None or conn.closed:
                conn = await self._connect()
                try:
                    await conn.execute(DDL)
                    await conn.commit()
                except Exception as exc:
                    # Two processes creating the table at once: one wins, the other sees a
                    # unique violation in the catalogue, or its row type already there
                    # (42710); the table is there either way.
                    await conn.rollback()
                    if getattr(exc, "sqlstate", None) not in ("23505", "42P07", "42710"):
                        await conn.close()
                        raise
                self._conn = conn
            try:
                async with conn.transaction():
                    return await _adrive(conn, steps)
            except Exception:
                if conn.broken:
                    self._conn = None
                raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class SharedBucket:
    """Token buckets of ``rate`` tokens a second and at most ``burst`` tokens, one per key,
    kept in the state store so that every process taking from a key shares its bucket.

    Args:
        runner: the store's transaction runner (:class:`SqliteRunner`, :class:`PsycopgRunner`).
        rate: tokens added per second.
        burst: the most tokens a bucket holds (a new bucket starts full).
        clock: wall-clock seconds (shared between processes).
    """

    def __init__(
        self,
        runner: SqlRunner,
        *,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        TokenBucket(rate, burst)  # the same checks as an in-process bucket
        self.runner = runner
        self.rate = float(rate)
        self.burst = int(burst)
        self.clock = clock
        fmt = _pyformat if runner.paramstyle == "pyformat" else (lambda sql: sql)
        self._sql = {name: fmt(sql) for name, sql in
                     (("take", _TAKE), ("read", _READ), ("create", _CREATE),
                      ("return", _RETURN))}

    async def take(self, key: str, want: int) -> tuple[int, float]:
        """Take up to ``want`` tokens from ``key``'s bucket: ``(taken, 0.0)``, or ``(0, wait)``
        with the seconds until a token will be there."""
        if want < 1:
            return 0, 0.0
        return await self._run("take", key, want)

    async def give_back(self, key: str, count: int) -> None:
        """Return ``count`` unused tokens (capped at the burst)."""
        if count > 0:
            await self._run("return", key, count)

    async def close(self) -> None:
        """Close the runner's connection, if it keeps one (the next take opens another)."""
        close = getattr(self.runner, "close", None)
        if close is not None:
            await close()

    async def _run(self, op: str, key: str, n: int) -> tuple[int, float]:
        return await self.runner.run(self._steps(op, key, n, self.clock()))

    def _steps(self, op: str, key: str, n: int, now: float) -> Steps[tuple[int, float]]:
        """The statements of one operation, as a generator: it yields ``(sql, params)`` and
        receives ``(rowcount, row)``; its return value is ``(taken, wait)``."""
        params: dict[str, Any] = {"key": key, "now": now, "rate": self.rate,
                                  "burst": float(self.burst), "n": float(n)}
        if op == "return":
            yield self._sql["return"], params
            return 0, 0.0
        want = min(n, self.burst)  # a bucket never holds more
        created = False
        for _ in range(_ATTEMPTS):
            params["n"] = float(want)
            rowcount, _row = yield self._sql["take"], params
            if rowcount == 1:
                return want, 0.0
            _count, row = yield self._sql["read"], params
            if row is None:
                if created:  # pragma: no cover - a row cannot vanish between two statements
                    break
                yield self._sql["create"], params
                created = True
                continue
            tokens, stamp = float(row[0]), float(row[1])
            available = min(float(self.burst), tokens + max(0.0, now - stamp) * self.rate)
            whole = math.floor(available + 1e-9)
            if whole < 1:
                return 0, max((1.0 - available) / self.rate, 0.001)
            want = min(want, whole)
        return 0, max(1.0 / self.rate, 0.001)


CALL_BURST_SHARE = 50
"""A chunked call bucket holds ``limit // CALL_BURST_SHARE`` tokens (at least 1)."""


def call_bucket_shape(limit: int, window_secs: float = 1.0, *,
                      chunked: bool = True) -> tuple[float, int]:
    """``(rate, burst)`` of the shared bucket of a destination allowed ``limit`` calls per
    ``window_secs``: no half-open window of ``window_secs`` can take more than ``limit``
    tokens from it (the ``burst`` it holds, then ``limit - burst`` more as it refills).
    ``chunked``: a burst of ``limit // CALL_BURST_SHARE`` (at least 1), else 1."""
    burst = max(1, int(limit) // CALL_BURST_SHARE) if chunked else 1
    return (limit - burst + 1) / window_secs, burst


class SharedCallLimiter:
    """An API destination's :class:`~clientevents.ratelimit.CallLimiter` shared by every
    process that calls the destination.

    The promise of ``invocation_rate_limit_per_sec`` (no one-second window holds more than
    ``limit`` calls) is kept across processes by the shared bucket's shape
    (:func:`call_bucket_shape`): it holds ``burst`` tokens and refills at
    ``(limit - burst + 1) / window`` tokens a second, so any window of ``window_secs`` holds
    at most ``burst + (limit - burst + 1) - 1 = limit`` starts, whichever process makes
    them. On a local store (SQLite) ``burst`` is 1: a take is a local write, and the calls'
    starts are spaced evenly. Where a take is a round trip (PostgreSQL), one a call would cap
    a process's calls at its round trips a second, so there the bucket holds a fiftieth of
    the limit (at least 1) and one take reserves up to that many calls: a limit of 1,000
    costs some 50 takes a second instead of 1,000, for at most 2% of its sustained rate.
    Within the process, the in-process :class:`~clientevents.ratelimit.WindowLimiter` still
    counts each call until a window after it finished (the latency part of the promise).
    Unused reservations go back to the shared bucket.
    """

    def __init__(self, bucket: SharedBucket, key: str, limit: int,
                 *, window_secs: float = 1.0) -> None:
        self.bucket = bucket
        self.key = key
        self.local = WindowLimiter(limit, window_secs=window_secs)
        self._returns: set[Any] = set()

    @classmethod
    def for_destination(cls, runner: SqlRunner, name: str, limit: int,
                        *, window_secs: float = 1.0) -> SharedCallLimiter:
        """The limiter of API destination ``name`` (its bucket key is ``dest:<name>``)."""
        rate, burst = call_bucket_shape(limit, window_secs, chunked=runner.remote)
        bucket = SharedBucket(runner, rate=rate, burst=burst)
        return cls(bucket, f"dest:{name}", limit, window_secs=window_secs)

    async def reserve(self, want: int) -> Grant:
        local = await self.local.reserve(want)
        if local.count == 0:
            return local
        taken, wait = await self.bucket.take(self.key, local.count)
        if taken < local.count:
            self.local.release(local.count - taken)
        if taken == 0:
            return Grant(0, wait)
        return Grant(taken)

    def start(self) -> None:
        self.local.start()

    def finish(self) -> None:
        self.local.finish()

    async def close(self) -> None:
        """Let the reservations being given back finish, then close the bucket's runner."""
        if self._returns:
            await asyncio.gather(*self._returns, return_exceptions=True)
        await self.bucket.close()

    def release(self, count: int) -> None:
        self.local.release(count)
        if count > 0:
            task = asyncio.get_running_loop().create_task(self.bucket.give_back(self.key, count))
            self._returns.add(task)
            task.add_done_callback(self._returns.discard)


class SharedKeyedLimiter:
    """A stage's per-client limit shared by every gateway process: one shared bucket per
    client id (key ``stage:<stage>:<client id>``).

    An in-process bucket of the same rate and burst answers first: it has seen only this
    process's requests, so when it refuses, the shared bucket (which has seen at least those)
    would refuse too, and a client over its limit costs no store round trip.

    Tokens are taken from the shared bucket a *chunk* at a time (a tenth of a second's worth
    of the rate, at least 1, at most the burst) and spent locally for up to
    ``chunk_ttl_secs``: one store write per chunk instead of one per request. The limit never
    goes over (a token is taken from the shared bucket before it is spent); what a process
    holds unspent is at most a chunk per client, which other processes cannot use until it
    expires.
    """

    def __init__(self, runner: SqlRunner, stage: str, rate: float, burst: int,
                 *, chunk_ttl_secs: float = 1.0, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        from clientevents.ratelimit.bucket import KeyedLimiter

        self.bucket = SharedBucket(runner, rate=rate, burst=burst, clock=clock)
        self.local = KeyedLimiter(rate, burst)
        self.prefix = f"stage:{stage}:"
        self.chunk = max(1, min(burst, int(rate * 0.1)))
        self.chunk_ttl_secs = chunk_ttl_secs
        self.max_keys = max_keys
        self.clock = clock
        self._held: dict[str, tuple[int, float]] = {}  # key -> (tokens held, expiry)

    async def take(self, key: str) -> float:
        """0.0 when the request may go on, else the seconds until it would."""
        wait = self.local.take(key)
        if wait > 0.0:
            return wait
        now = self.clock()
        held = self._held.get(key)
        if held is not None and held[0] > 0 and now < held[1]:
            self._held[key] = (held[0] - 1, held[1])
            return 0.0
        taken, wait = await self.bucket.take(self.prefix + key, self.chunk)
        if not taken:
            return wait
        if len(self._held) >= self.max_keys:
            self._held = {k: v for k, v in self._held.items() if v[0] > 0 and now < v[1]}
            if len(self._held) >= self.max_keys:
                self._held.clear()
        self._held[key] = (taken - 1, now + self.chunk_ttl_secs)
        return 0.0

    async def close(self) -> None:
        """Close the shared bucket's runner."""
        await self.bucket.close()


def shared_limits_wanted(default: bool) -> bool:
    """Whether rate limits are shared: :data:`ENV_SHARED` when set, else ``default``."""
    value = os.environ.get(ENV_SHARED, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


def shared_call_limiter(db: StateStore, name: str, limit: int | None) -> SharedCallLimiter | None:
    """API destination ``name``'s limiter when rate limits are shared between processes
    (:func:`shared_limits_wanted`), else ``None`` (the destination keeps its in-process one).

    ``clientevents worker`` sets :data:`ENV_SHARED` when ``serve`` did not start it (other
    workers may run); under ``serve`` (one worker process) and in a library, the limit is
    in-process."""
    if not limit or not shared_limits_wanted(False):
        return None
    return SharedCallLimiter.for_destination(StoreRunner(db), name, limit)
