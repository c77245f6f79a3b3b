"""One place that turns the ``storage:`` settings into a state store.

``open_store(settings, data_dir)`` is what the runtime, the gateway and the command line use:
the SQLite file ``<data_dir>/clientevents.db`` by default, or the PostgreSQL schema the settings
name. Optional drivers are imported only when chosen, with an install hint when missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from clientevents.errors import StoreError

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.config.storage import StorageSettings

__all__ = ["DB_FILE", "describe_store", "open_store", "store_path"]

DB_FILE = "clientevents.db"
"""The SQLite store's file name inside the data folder."""


class MissingExtra(StoreError):
    """The configuration chooses an implementation whose optional package is not installed."""


def store_path(data_dir: str | Path) -> Path:
    """The SQLite store's file in ``data_dir``."""
    return Path(data_dir) / DB_FILE


def open_store(settings: Settings | None, data_dir: str | Path) -> Any:
    """Open the state store ``settings.storage`` chooses (SQLite in ``data_dir`` by default).

    Raises:
        MissingExtra: PostgreSQL is chosen and psycopg is not installed.
        StoreError: the store cannot be opened (the server does not answer, ...).
    """
    storage = None if settings is None else settings.storage
    if storage is None or storage.store == "sqlite":
        from clientevents.store.sqlite import Database

        return Database(store_path(data_dir))
    return open_postgres(storage)


def open_postgres(storage: StorageSettings, *, schema: str | None = None) -> Any:
    """The PostgreSQL store of ``storage.postgres`` (in ``schema`` when given)."""
    try:
        from clientevents.store.postgres import PostgresDatabase
    except ImportError as exc:
        raise MissingExtra(
            f"storage.store is postgres but its driver is missing ({exc}); install it with "
            "pip install 'clientevents[postgres]'."
        ) from exc
    pg = storage.postgres
    return PostgresDatabase(
        pg.dsn,
        schema=schema or pg.schema_name,
        pool_min=pg.pool_min,
        pool_max=pg.pool_max,
        connect_timeout=pg.connect_timeout,
    )


def describe_store(settings: Settings | None, data_dir: str | Path) -> str:
    """Where the state lives, for people: the file, or the PostgreSQL server and schema."""
    storage = None if settings is None else settings.storage
    if storage is None or storage.store == "sqlite":
        return f"SQLite {store_path(data_dir)}"
    from clientevents.store.dialect import describe_dsn

    return f"PostgreSQL {describe_dsn(storage.postgres.dsn)} schema {storage.postgres.schema_name}"


def check_store(settings: Settings) -> str | None:
    """Whether the store ``settings`` choose answers: ``None`` when it does (or needs no
    server: the SQLite file is created at the first start), else what is wrong. Changes
    nothing on the server."""
    storage = settings.storage
    if storage.store == "sqlite":
        return None
    try:
        import psycopg
    except ImportError as exc:
        return (f"storage.store is postgres but its driver is missing ({exc}); install it with "
                "pip install 'clientevents[postgres]'.")
    pg = storage.postgres
    try:
        with psycopg.connect(pg.dsn, connect_timeout=max(1, round(pg.connect_timeout)),
                             autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL does not answer: {first}"
    return None
