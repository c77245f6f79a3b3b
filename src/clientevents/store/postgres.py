"""The state store on PostgreSQL (psycopg 3 and psycopg_pool), with the SQLite store's semantics.

- **Group commit**: one writer thread and one writer connection take every write function
  waiting, run them in one transaction, each inside its own savepoint (a failing function rolls
  back alone), and ``COMMIT`` once; callers return after the commit.
- **Conflicts between processes**: a function the server rolls back to resolve a conflict
  with another transaction (SQLSTATE class 40: a deadlock, a serialization failure) rolls back
  to its savepoint alone and runs again in a later group, up to :data:`ROLLBACK_RETRIES` times,
  before its caller gets the error; it does not set :attr:`PostgresDatabase.write_failure`.
  Statements deferred with :func:`clientevents.store.port.execute_late` (shared counters) run
  after the group's last function, sorted by their order key, so every process locks those
  rows in one order and only until its commit.
- **Reads** run on pooled connections in autocommit mode: every statement sees every commit.
- **Several processes** may write at once: components that claim work use the dialect's
  ``FOR UPDATE SKIP LOCKED``; the event log takes positions from a head row it locks until its
  transaction commits, so positions follow commit order (see :mod:`clientevents.log.appender`).
- **Unreachable server**: a write that fails because the connection is gone sets
  :attr:`PostgresDatabase.write_failure` (the gateway then answers 503) and the writer connects
  again for the next group; the pool replaces broken read connections itself.
- **Change notification**: :meth:`change_token` counts ``NOTIFY``s per channel on a listener
  connection (``LISTEN "<schema>:<channel>"``); writers send them with the dialect's
  ``notify`` in the transaction of the change, so they arrive only if it commits.
- **Schema**: every registered DDL runs at open, under an advisory lock so that several
  processes opening at once do not race, in the configured schema (created if missing).

psycopg is imported by :func:`clientevents.store.factory.open_store` only when the configuration
chooses PostgreSQL (``pip install 'clientevents[postgres]'``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import sql as pgsql
from psycopg.adapt import Dumper, Loader
from psycopg_pool import ConnectionPool

from clientevents.errors import StoreError
from clientevents.store import sqlite as _sqlite
from clientevents.store.dialect import POSTGRES, Dialect, describe_dsn
from clientevents.store.groupcommit import GroupCommit, _Job
from clientevents.store.migrations import apply_migrations

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: How long a listener or writer waits before it tries to connect again after a failure.
RECONNECT_SECS = 0.5

#: How many times a write function the server rolled back (a deadlock, a serialization
#: failure) runs again, each time in a later group, before its caller gets the error.
ROLLBACK_RETRIES = 5

_TRANSLATED: dict[str, str] = {}

# SQLite's COLLATE NOCASE (usernames): equal regardless of case, in the store's own schema.
_NOCASE = (
    "CREATE COLLATION IF NOT EXISTS nocase "
    "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
)


def translate(sql: str) -> str:
    """``sql`` with ``?`` placeholders (outside quotes) as ``%s`` and every ``%`` doubled."""
    text = _TRANSLATED.get(sql)
    if text is not None:
        return text
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        if ch == "%":
            out.append("%%")
            continue
        out.append(ch)
    text = "".join(out)
    if len(_TRANSLATED) > 4096:
        _TRANSLATED.clear()
    _TRANSLATED[sql] = text
    return text


class _BoolDumper(Dumper):
    """Booleans as integers: the schema keeps SQLite's ``INTEGER`` flags (``enabled``, ...)."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """``numeric`` (what ``sum`` of a ``BIGINT`` gives) as an int, or a float if fractional."""

    def load(self, data: Any) -> Any:
        text = bytes(data)
        if b"." in text or b"e" in text or b"N" in text:
            return float(text)
        return int(text)


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolDumper)
    conn.adapters.register_loader("numeric", _NumericLoader)


class PgConnection:
    """A psycopg connection that takes ``?`` placeholders, as the write and read functions use."""

    dialect: Dialect = POSTGRES

    __slots__ = ("late", "raw")

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        #: Where a write function's deferred statements go (``None``: outside a write).
        self.late: list[tuple[tuple[Any, ...], str, Sequence[Any]]] | None = None

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self.raw.execute(translate(sql), parameters)

    def executemany(self, sql: str, parameters: Any, /) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(translate(sql), parameters)
        return cur

    def executescript(self, script: str) -> None:
        self.raw.execute(script)

    def execute_late(self, order: tuple[Any, ...], sql: str, parameters: Sequence[Any] = ()
                     ) -> None:
        """Run ``sql`` after the group's last function, in ``order`` (see
        :func:`clientevents.store.port.execute_late`); at once outside a group."""
        if self.late is None:
            self.execute(sql, parameters)
        else:
            self.late.append((order, sql, parameters))


def _rolled_back(exc: BaseException | None) -> bool:
    """Whether the server rolled the transaction back to resolve a conflict with another one
    (SQLSTATE class 40: a deadlock, a serialization failure): running it again may succeed."""
    return str(getattr(exc, "sqlstate", None) or "").startswith("40")


def _late_order(op: tuple[tuple[Any, ...], int, str, Sequence[Any]]) -> tuple[str, ...]:
    return tuple(str(part) for part in op[0])


def _first_line(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0]


class _PgJob(_Job):
    """A write function and how many times the server rolled it back already."""

    __slots__ = ("tries",)

    def __init__(self, fn: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(fn, **kwargs)
        self.tries = 0


def _job_order(job: _Job) -> tuple[Any, ...]:
    order = job.order
    return (0,) if order is None else (1, *(str(part) for part in order))


def _refuses_writes(exc: BaseException | None, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``exc`` says the server cannot take writes (not that one write was wrong, nor
    that it conflicted with another process's: :func:`_rolled_back`)."""
    if isinstance(exc, psycopg.OperationalError) and not _rolled_back(exc):
        return True
    if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.ReadOnlySqlTransaction):
        return True
    return conn is not None and (conn.closed or conn.broken)


class PostgresDatabase(GroupCommit):
    """The state store on one PostgreSQL schema.

    Example::

        db = PostgresDatabase("postgresql://127.0.0.1/test", schema="clientevents")
        db.write(lambda conn: conn.execute("INSERT INTO ... VALUES (?, ?)", (a, b)))
        rows = db.read(lambda conn: conn.execute("SELECT ...").fetchall())
        db.close()
    """

    dialect: Dialect = POSTGRES

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        pool_min: int = 1,
        pool_max: int = 8,
        connect_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.connect_timeout = connect_timeout
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, round(connect_timeout)),
            "options": f"-c search_path={schema}",
            "prepare_threshold": None,
        }
        #: The error of the last write that failed because the server could not take it.
        self.write_failure: BaseException | None = None
        #: How many times a write function ran again after the server rolled it back.
        self.rollback_retries = 0
        self._counters: dict[str, int] = {}
        self._counters_lock = threading.Lock()
        self._writer_listens: set[str] = set()
        self._listening: set[str] = set()
        #: What :meth:`ensure_schema` has made sure of already (its DDL and the added columns).
        self._ensured: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        self._listener_up = False
        self._stop = threading.Event()
        try:
            self._writer: psycopg.Connection[Any] | None = self._connect()
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self.description} does not answer: {exc}") from exc
        self._writer.add_notify_handler(self._notified)
        self._create_schema()
        self._pool = ConnectionPool(
            dsn,
            min_size=pool_min,
            max_size=max(pool_min, pool_max),
            kwargs=self._kwargs,
            configure=_configure,
            timeout=connect_timeout,
            open=True,
            name="clientevents-read",
        )
        self._start_writer("clientevents-pg-writer")
        self._listener = threading.Thread(target=self._listen, name="clientevents-pg-listener",
                                          daemon=True)
        self._listener.start()

    @property
    def description(self) -> str:
        return f"PostgreSQL {describe_dsn(self.dsn)} schema {self.schema}"

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.Connection.connect(self.dsn, **self._kwargs)
        _configure(conn)
        return conn

    # -- schema ---------------------------------------------------------------------------

    def _create_schema(self) -> None:
        conn = self._writer
        assert conn is not None
        lock = f"clientevents:{self.schema}:schema"
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
        try:
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                pgsql.Identifier(self.schema)))
            conn.execute(_NOCASE)
            for ddl in _sqlite.schemas(POSTGRES):
                conn.execute(ddl)
            self._add_columns(conn)
            apply_migrations(PgConnection(conn), POSTGRES, run=conn.execute)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))

    @staticmethod
    def _add_columns(conn: psycopg.Connection[Any]) -> None:
        # Only the missing ones: ALTER TABLE takes the table's ACCESS EXCLUSIVE lock even when
        # the column is there, and would wait for (and stall) every transaction using it.
        present = set(conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()").fetchall())
        tables = {table for table, _column in present}
        for (table, column), declaration in _sqlite.added_columns().items():
            if table not in tables or (table, column) in present:
                continue
            conn.execute(pgsql.SQL("ALTER TABLE IF EXISTS {} ADD COLUMN IF NOT EXISTS {} ").format(
                pgsql.Identifier(table), pgsql.Identifier(column))
                + pgsql.SQL(POSTGRES.ddl(declaration)))

    def ensure_schema(self, ddl: str, *, postgres: str | None = None) -> None:
        """Create tables registered after this store opened (idempotent, portable DDL)."""
        text = postgres if postgres is not None else POSTGRES.ddl(ddl)
        key = (text, frozenset(_sqlite.added_columns()))
        if key in self._ensured:  # components open it again and again (each admin request)
            return
        conn = self._connect()
        lock = f"clientevents:{self.schema}:schema"
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
            conn.execute(text)
            self._add_columns(conn)
            apply_migrations(PgConnection(conn), POSTGRES, run=conn.execute)
        finally:
            conn.close()
        self._ensured.add(key)

    # -- writes (group commit: :class:`~clientevents.store.groupcommit.GroupCommit`) ---------

    _job_type = _PgJob

    def _closed_error(self) -> StoreError:
        return StoreError(f"The store {self.description} is closed.")

    def _writer_stopped(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def _writer_conn(self) -> psycopg.Connection[Any]:
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
                self._writer = None
            self._writer = conn = self._connect()
            self._writer_listens = set()
            conn.add_notify_handler(self._notified)
        # The writer listens too: PostgreSQL hands a session its own notifications with the
        # COMMIT's answer, so a change this process commits moves the token before its caller
        # returns (read-your-writes); other processes' changes come through the listener.
        for channel in self._listening - self._writer_listens:
            conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self._channel(channel))))
            self._writer_listens.add(channel)
        return conn

    def _notified(self, note: psycopg.Notify) -> None:
        prefix = f"{self.schema}:"
        if note.channel.startswith(prefix):
            self._bump(note.channel[len(prefix):])

    def _bump(self, channel: str) -> None:
        with self._counters_lock:
            self._counters[channel] = self._counters.get(channel, 0) + 1

    def _commit_group(self, jobs: list[_Job]) -> None:
        if len(jobs) > 1 and any(j.order is not None for j in jobs):
            jobs = sorted(jobs, key=_job_order)  # stable: submission order among equals
        results: list[tuple[Any, BaseException | None]] = []
        late: list[tuple[tuple[Any, ...], int, str, Sequence[Any]]] = []
        again: list[_Job] = []  # rolled back by a deadlock or a serialization failure
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = self._writer_conn()
            wrapped = PgConnection(conn)
            single = len(jobs) == 1
            # Control statements share round trips: "BEGIN; SAVEPOINT job", then between two
            # functions "RELEASE SAVEPOINT job; SAVEPOINT job", and "RELEASE ...; COMMIT".
            control = "BEGIN"
            for index, job in enumerate(jobs):
                conn.execute(control if single else control + "; SAVEPOINT job")
                control = ""
                mine: list[tuple[tuple[Any, ...], str, Sequence[Any]]] = []
                wrapped.late = mine
                try:
                    result = job.fn(wrapped)
                except BaseException as exc:  # each job's own error goes back to its caller
                    wrapped.late = None
                    if _refuses_writes(exc, conn):
                        raise
                    conn.execute("ROLLBACK" if single else "ROLLBACK TO SAVEPOINT job")
                    if single:
                        self.write_failure = None
                        if not self._again(job, exc):
                            job.resolve(None, exc)
                        return
                    if _rolled_back(exc) and self._again(job, exc):
                        again.append(job)
                    results.append((None, exc))
                else:
                    wrapped.late = None
                    late.extend((order, index, sql, params) for order, sql, params in mine)
                    results.append((result, None))
                if not single:
                    control = "RELEASE SAVEPOINT job"
            if late:
                if control:
                    conn.execute(control)
                    control = ""
                if not self._run_late(conn, late, jobs, results, again):
                    return
            conn.execute(control + "; COMMIT" if control else "COMMIT")
        except (psycopg.Error, OSError) as exc:
            if _rolled_back(exc) and self._rolled_back_group(conn, jobs, again, exc):
                return
            error = self._failed(conn, exc)
            for job in jobs:
                if job not in again:
                    job.resolve(None, error)
            return
        self.write_failure = None
        for job, (result, err) in zip(jobs, results, strict=True):
            if job not in again:
                job.resolve(result, err)

    def _rolled_back_group(
        self,
        conn: psycopg.Connection[Any] | None,
        jobs: list[_Job],
        again: list[_Job],
        exc: BaseException,
    ) -> bool:
        """The server rolled back the whole group (its ``COMMIT``, a control statement): roll
        back and run every function again in the next group; ``False`` if the connection
        cannot even roll back (the caller then fails the group)."""
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            return False
        self.write_failure = None
        for job in jobs:
            if job not in again and not self._again(job, exc):
                job.resolve(None, self._error(exc))
        return True

    def _run_late(
        self,
        conn: psycopg.Connection[Any],
        late: list[tuple[tuple[Any, ...], int, str, Sequence[Any]]],
        jobs: list[_Job],
        results: list[tuple[Any, BaseException | None]],
        again: list[_Job],
    ) -> bool:
        """Run the group's deferred statements in their global order; ``False`` when one
        failed: the group is rolled back, its function fails (or runs again after a deadlock)
        and the others run again in the next group."""
        late.sort(key=_late_order)  # stable: one function's statements keep their order
        for _order, index, sql, params in late:
            try:
                conn.execute(translate(sql), params)
            except psycopg.Error as exc:
                if _refuses_writes(exc, conn) and not _rolled_back(exc):
                    raise
                conn.execute("ROLLBACK")
                self.write_failure = None
                culprit = jobs[index]
                for job, (_result, err) in zip(jobs, results, strict=True):
                    if job in again:
                        continue
                    if err is not None:
                        job.resolve(None, err)
                    elif job is culprit:
                        if not (_rolled_back(exc) and self._again(job, exc)):
                            job.resolve(None, self._error(exc))
                    else:
                        self._again(job, None)
                return False
        return True

    def _again(self, job: _Job, exc: BaseException | None) -> bool:
        """Queue ``job`` for the next group when ``exc`` rolled its transaction back (``None``:
        another function's failure did); ``False`` when it may not run again."""
        if exc is not None:
            if not _rolled_back(exc):
                return False
            assert isinstance(job, _PgJob)
            job.tries += 1
            tries = job.tries
            if tries > ROLLBACK_RETRIES:
                return False
            self.rollback_retries += 1
            logger.info("A write was rolled back by the server (%s); running it again. try=%d",
                        _first_line(exc), tries)
        self._retry.append(job)
        return True

    def _error(self, exc: BaseException) -> StoreError:
        error = StoreError(f"Commit to {self.description} failed: {exc}")
        error.__cause__ = exc
        return error

    def _failed(self, conn: psycopg.Connection[Any] | None, exc: BaseException) -> StoreError:
        """Roll back (or drop a broken connection); remember the failure; the callers' error."""
        if conn is not None:
            if conn.closed or conn.broken:
                conn.close()
                self._writer = None
            else:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    conn.close()
                    self._writer = None
        if _refuses_writes(exc, conn):
            self.write_failure = exc
        return self._error(exc)

    # -- reads ----------------------------------------------------------------------------

    def read(self, fn: Callable[[PgConnection], T]) -> T:
        """Run ``fn`` on a pooled connection (autocommit: each statement sees every commit).

        A connection the server dropped (it restarted) is discarded and ``fn`` runs once more on
        another: reads change nothing, so running one again is safe."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as raw:
                    return fn(PgConnection(raw))
            except psycopg_pool.PoolTimeout as exc:
                raise StoreError(f"{self.description} does not answer: {exc}") from exc
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- change notification ---------------------------------------------------------------

    def change_token(self, channel: str = "*") -> object:
        """How many ``NOTIFY``s ``channel`` received; a new object each call while the listener
        is not connected (so nothing cached on it is trusted meanwhile)."""
        if channel not in self._listening:
            self._listening.add(channel)
            self._counters.setdefault(channel, 0)
            return object()
        if not self._listener_up:
            return object()
        return self._counters.get(channel, 0)

    def _channel(self, channel: str) -> str:
        return f"{self.schema}:{channel}"

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except psycopg.Error:
                self._stop.wait(RECONNECT_SECS)
                continue
            try:
                listened: set[str] = set()
                while not self._stop.is_set():
                    for channel in list(self._listening - listened):
                        conn.execute(pgsql.SQL("LISTEN {}").format(
                            pgsql.Identifier(self._channel(channel))))
                        listened.add(channel)
                        self._bump(channel)
                    self._listener_up = True
                    for note in conn.notifies(timeout=0.2, stop_after=64):
                        self._notified(note)
            except psycopg.Error:
                logger.warning("The PostgreSQL change listener lost its connection; reconnecting.")
            finally:
                self._listener_up = False
                # what was missed while down is unknown: every cached value must be re-read
                for name in list(self._counters):
                    self._bump(name)
                conn.close()
            self._stop.wait(RECONNECT_SECS)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Finish pending writes, then close every connection."""
        if not self._stop_writer():
            return
        self._stop.set()
        self._listener.join(timeout=5)
        self._pool.close()

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests; irreversible)."""
        with psycopg.Connection.connect(self.dsn, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                pgsql.Identifier(self.schema)))

    def __enter__(self) -> PostgresDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

