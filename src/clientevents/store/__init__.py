"""State stores: the port (:mod:`.port`), SQLite (:mod:`.sqlite`), PostgreSQL (:mod:`.postgres`),
the dialect (:mod:`.dialect`) and the factory (:mod:`.factory`)."""

from clientevents.store.sqlite import Database, register_column, register_schema


def driver_errors(*more: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The database drivers' error classes and ``more`` (``except driver_errors(OSError):``):
    SQLite's, and psycopg's when it is loaded."""
    import sqlite3
    import sys

    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (sqlite3.Error, *more)
    return (sqlite3.Error, psycopg.Error, *more)


def outage_errors(*more: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The drivers' error classes that mean the store cannot serve now (locked, unreachable,
    out of space), not that a statement was wrong: SQLite's and psycopg's
    ``OperationalError``, and ``more``."""
    import sqlite3
    import sys

    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (sqlite3.OperationalError, *more)
    return (sqlite3.OperationalError, psycopg.OperationalError, *more)


__all__ = ["Database", "driver_errors", "outage_errors", "register_column", "register_schema"]
