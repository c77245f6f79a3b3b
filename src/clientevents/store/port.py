"""The state-store port: what components may ask of the database that holds their state.

Two implementations keep the same semantics: :class:`clientevents.store.sqlite.Database` (one
SQLite file, the embedded default) and :class:`clientevents.store.postgres.PostgresDatabase`
(PostgreSQL through psycopg 3 and a connection pool). :func:`clientevents.store.factory.open_store`
chooses one from the ``storage:`` settings.

- ``write(fn)`` / ``await awrite(fn)`` / ``submit(fn, on_done)``: ``fn(conn)`` runs in the next
  group commit inside its own savepoint; the call returns once the commit is durable.
  ``submit(..., order=key)``: in its group, ``fn`` runs after every function without an order
  and with the others sorted by ``key`` (PostgreSQL; SQLite ignores it): a function that locks
  a row every process updates and whose result it needs (the event log's ``log_head``) takes it
  in one place of every group, after the other functions' rows.
- ``read(fn)``: ``fn(conn)`` on a read connection (its statements see every committed write).
- ``ensure_schema(ddl)``: create tables after the store opened (idempotent DDL in the portable
  subset, see :mod:`clientevents.store.dialect`).
- ``write_failure``: the error of the last write that failed because the store could not write
  (a full disk, an unreachable server); ``None`` again once a write commits.
- ``change_token(channel)``: a value that moves when something was committed on ``channel``
  (``"*"``: anything at all) since the caller last looked, in any process. The router waits for
  new log rows with it; the user-state cache is invalidated with it.
- ``dialect``: the SQL differences (:class:`clientevents.store.dialect.Dialect`).

The connection handed to write and read functions is a :class:`SqlConnection`: ``execute`` and
``executemany`` with ``?`` placeholders, returning a cursor with ``fetchone``, ``fetchall``,
``rowcount`` and iteration. ``sqlite3.Connection`` satisfies it; the PostgreSQL store wraps its
connections to do the same. Components type their functions with it, never with a driver's class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from clientevents.store.dialect import Dialect

T = TypeVar("T")

DoneFn = Callable[[Any, BaseException | None], None]


class SqlCursor(Protocol):
    """The part of a DB-API cursor components use."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


class SqlConnection(Protocol):
    """The connection a write or read function receives (``?`` placeholders on every store)."""

    dialect: Dialect

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> SqlCursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> SqlCursor: ...


class StateStore(Protocol):
    """The state-store port (see the module's documentation)."""

    dialect: Dialect
    write_failure: BaseException | None

    @property
    def description(self) -> str: ...

    def write(self, fn: Callable[[Any], T]) -> T: ...

    async def awrite(self, fn: Callable[[Any], T]) -> T: ...

    def submit(
        self, fn: Callable[[Any], Any], on_done: DoneFn, *, not_before: float = 0.0,
        gathered: Any = None, order: tuple[str, ...] | None = None,
    ) -> None: ...

    def read(self, fn: Callable[[Any], T]) -> T: ...

    def ensure_schema(self, ddl: str, *, postgres: str | None = None) -> None: ...

    def change_token(self, channel: str = "*") -> object: ...

    def close(self) -> None: ...


def execute_late(
    conn: SqlConnection, order: tuple[Any, ...], sql: str, parameters: Sequence[Any] = ()
) -> None:
    """Run ``sql`` in the current write, at the end of its group commit on a store that defers.

    For statements that only add to shared "hot" rows (counters every process updates): the
    PostgreSQL store runs the deferred statements of a whole group after its last function,
    sorted by ``order`` (e.g. ``("delivery_counters", target_key)``), so every process locks
    those rows in one order and holds them only until the commit; they are dropped with their
    function's savepoint if it fails. A function must not read back what it deferred. SQLite
    (one writer at a time) runs them at once.
    """
    late = getattr(conn, "execute_late", None)
    if late is None:
        conn.execute(sql, parameters)
    else:
        late(order, sql, parameters)
