"""The embedded SQLite state store every embedded component shares: one file, WAL, group commit.

Every durable write in the embedded default goes through :meth:`Database.write` (or its
asyncio twin :meth:`Database.awrite`). Writes are functions of a connection; one writer
thread takes all the functions that are waiting, runs them in a single transaction, each
inside its own savepoint (so one failing write does not fail the others), and commits once
with ``synchronous=FULL``. A caller returns only after the commit that holds its write is on
disk. This is group commit: under many concurrent callers the cost of the fsync is shared,
and a lone caller pays one commit. (A group of one function runs without a savepoint: each
statement gives up the GIL and must win it back, so the writer runs as few as it can.)
:meth:`Database.submit` queues a function with a completion callback instead of a waiting
caller, for components that wake their own waiters (the event log's appender).

Reads use one connection per thread (WAL readers never block the writer).

Schemas are registered by the modules that own them (:func:`register_schema`) and created
when a :class:`Database` opens, so each component keeps its own tables next to its code; a
column added to an existing table is registered (:func:`register_column`) and added to an
older file's table when it opens.

Several processes may open the same file (gateway and workers): SQLite serialises their
writers with its file lock. The writer waits for another process's lock itself, retrying
``BEGIN IMMEDIATE`` every 0.1 to 1 ms (SQLite's busy handler sleeps 1, 2, 5, 10 ... ms, which
would add tens of milliseconds whenever the processes meet); readers use ``busy_timeout``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from clientevents.errors import StoreError
from clientevents.store.dialect import SQLITE, Dialect
from clientevents.store.groupcommit import MAX_GROUP as MAX_GROUP
from clientevents.store.groupcommit import DoneFn as DoneFn
from clientevents.store.groupcommit import GroupCommit, _Job
from clientevents.store.groupcommit import WriteFn as WriteFn
from clientevents.store.migrations import MIGRATIONS_DDL, apply_migrations, pending_migrations

T = TypeVar("T")

logger = logging.getLogger(__name__)

_SCHEMAS: dict[str, str] = {}
_PG_SCHEMAS: dict[str, str] = {}


def register_schema(name: str, ddl: str, *, postgres: str | None = None) -> None:
    """Register the tables of one component; ``ddl`` must be idempotent (``IF NOT EXISTS``).

    ``ddl`` is portable (SQLite's types, mapped by :meth:`Dialect.ddl`); ``postgres`` replaces
    it on PostgreSQL where it cannot be (triggers).
    """
    _SCHEMAS[name] = ddl
    if postgres is not None:
        _PG_SCHEMAS[name] = postgres


_COLUMNS: dict[tuple[str, str], str] = {}

register_schema("store.migrations", MIGRATIONS_DDL)


def register_column(table: str, column: str, declaration: str) -> None:
    """Register a column added to a table after its first release.

    ``CREATE TABLE IF NOT EXISTS`` leaves an older file's table as it was; when a database
    opens, each registered column its table lacks is added (``ALTER TABLE ... ADD COLUMN``).
    The table's own DDL lists the column too, for new files.
    """
    _COLUMNS[(table, column)] = declaration


def schemas(dialect: Dialect = SQLITE) -> list[str]:
    """The DDL of every registered component for ``dialect``, in registration order."""
    if dialect is SQLITE:
        return list(_SCHEMAS.values())
    return [_PG_SCHEMAS.get(name) or dialect.ddl(ddl) for name, ddl in _SCHEMAS.items()]


def added_columns() -> dict[tuple[str, str], str]:
    """The registered added columns: ``{(table, column): declaration}``."""
    return dict(_COLUMNS)


class _Connection(sqlite3.Connection):
    """A SQLite connection that names its dialect (:class:`~.port.SqlConnection`)."""

    dialect: Dialect = SQLITE


def _add_columns(conn: sqlite3.Connection) -> None:
    for (table, column), declaration in _COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if present and column not in present:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise



def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations not applied yet, one process at a time (the write lock, taken
    only when a read shows one is missing: an up-to-date file is opened without it)."""
    if not pending_migrations(conn):
        return
    _begin(conn)
    try:
        apply_migrations(conn, SQLITE)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: str | Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the settings every clientevents connection uses."""
    conn = sqlite3.connect(
        str(path),
        timeout=30.0,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=256,
        factory=_Connection,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _create_private(path: Path) -> None:
    """Create the database file ``0600`` (its folder ``0700``) if it does not exist yet.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so they are private
    too, whatever the process's umask.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


BUSY_TIMEOUT_SECS = 30.0
"""How long a write waits for another process's write lock before it fails."""

#: SQLite's primary result codes of a store that cannot write (full, I/O error, read-only, ...).
_REFUSING_CODES = frozenset({
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY,
})


def _refuses_writes(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the store cannot write at all (not that one write was wrong)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _REFUSING_CODES


def _begin(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, retrying every 0.1 to 1 ms while another process writes."""
    delay = 0.0001
    deadline = 0.0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + BUSY_TIMEOUT_SECS
            elif now > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.001)


class Database(GroupCommit):
    """One SQLite file shared by the embedded log and stores.

    Example::

        db = Database(data_dir / "clientevents.db")
        ids = db.write(lambda conn: insert_rows(conn, rows))   # durable on return
        rows = db.read(lambda conn: conn.execute("SELECT ...").fetchall())
        db.close()
    """

    dialect: Dialect = SQLITE

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        _create_private(self.path)
        self._synchronous = synchronous
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: The error of the last write when it failed because the store could not write (a
        #: full disk, an I/O error); ``None`` again as soon as a write commits.
        self.write_failure: BaseException | None = None
        self._writer_conn = connect(self.path, synchronous=synchronous)
        for ddl in _SCHEMAS.values():
            self._writer_conn.executescript(ddl)
        _add_columns(self._writer_conn)
        _migrate(self._writer_conn)
        # The writer waits for other processes' write locks itself (see _begin): SQLite's own
        # busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, so a writer that
        # finds the lock taken for a moment would stall for tens of milliseconds.
        self._writer_conn.execute("PRAGMA busy_timeout=0")
        self._start_writer("clientevents-db-writer")

    # -- writes (group commit: :class:`~clientevents.store.groupcommit.GroupCommit`) ---------

    def _closed_error(self) -> StoreError:
        return StoreError(f"The database {self.path} is closed.")

    def _writer_stopped(self) -> None:
        self._writer_conn.close()

    def _commit_group(self, jobs: list[_Job]) -> None:
        conn = self._writer_conn
        if len(jobs) == 1:
            self._commit_one(conn, jobs[0])
            return
        results: list[tuple[Any, BaseException | None]] = []
        try:
            _begin(conn)
            for job in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(conn)
                except BaseException as exc:  # each job's own error goes back to its caller
                    if isinstance(exc, sqlite3.Error) and not conn.in_transaction:
                        raise  # SQLite rolled everything back (a full disk): all jobs fail
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((None, exc))
                else:
                    conn.execute("RELEASE job")
                    results.append((result, None))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            error = self._failed(conn, exc)
            for job in jobs:
                job.resolve(None, error)
            return
        self.write_failure = None
        for _, err in results:
            if _refuses_writes(err):
                self.write_failure = err
        for job, (result, err) in zip(jobs, results, strict=True):
            job.resolve(result, err)

    def _commit_one(self, conn: sqlite3.Connection, job: _Job) -> None:
        """A group of one: no savepoint, a failing function rolls the transaction back.

        Each statement gives up the GIL and has to win it back; under load the writer saves
        two of them per commit this way.
        """
        try:
            _begin(conn)
            try:
                result = job.fn(conn)
            except BaseException as exc:  # the job's own error goes back to its caller
                if conn.in_transaction:  # SQLite ends it itself on some errors (a full disk)
                    conn.execute("ROLLBACK")
                if _refuses_writes(exc):
                    self.write_failure = exc
                job.resolve(None, exc)
                return
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            job.resolve(None, self._failed(conn, exc))
            return
        self.write_failure = None
        job.resolve(result, None)

    def _failed(self, conn: sqlite3.Connection, exc: sqlite3.Error) -> StoreError:
        """Roll back after a failed commit; remember the failure; the error for the callers."""
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self.write_failure = exc
        error = StoreError(f"Commit to {self.path} failed: {exc}")
        error.__cause__ = exc
        return error

    # -- reads ----------------------------------------------------------------------------

    def ensure_schema(self, ddl: str, *, postgres: str | None = None) -> None:
        """Create tables that were not registered before this database opened (idempotent DDL;
        ``postgres`` is the PostgreSQL store's variant, unused here)."""
        conn = connect(self.path, synchronous=self._synchronous)
        try:
            conn.executescript(ddl)
            _add_columns(conn)
            _migrate(conn)
        finally:
            conn.close()

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (created on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self._synchronous)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on this thread's read connection."""
        return fn(self.reader())

    def change_token(self, channel: str = "*") -> object:
        """A value that moves when any connection (of any process) committed since this
        thread's read connection last looked: SQLite's ``data_version``. It does not tell
        channels apart; a caller re-reads what it caches when it moves."""
        return int(self.reader().execute("PRAGMA data_version").fetchone()[0])

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Finish pending writes, then close every connection."""
        if not self._stop_writer():
            return
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._readers.clear()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
