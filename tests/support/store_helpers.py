"""Opening test state stores on SQLite or PostgreSQL (shared by every test folder)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "PG_DSN", "TEST_STORE", "OtherConnection", "close_test_store", "open_test_store",
    "pg_schema_name", "require_service", "storage_section",
]

def require_service(name: str, host: str, port: int) -> None:
    """Skip when a local service is not listening, or fail when CLIENTEVENTS_REQUIRE_SERVICES=1."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as exc:
        reason = f"{name} is not reachable on {host}:{port} ({exc})"
    if os.environ.get("CLIENTEVENTS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CLIENTEVENTS_REQUIRE_SERVICES=1 makes that a failure.")
    pytest.skip(reason)


#: The store the default test fixtures open: ``sqlite`` (default) or ``postgres``
#: (``CLIENTEVENTS_TEST_STORE=postgres``, to run the integration and end-to-end suites on PG).
TEST_STORE = os.environ.get("CLIENTEVENTS_TEST_STORE", "sqlite")

#: The PostgreSQL server of the tests (the machine's shared one; each test gets its own schema).
PG_DSN = os.environ.get(
    "CLIENTEVENTS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


def pg_schema_name() -> str:
    """A fresh schema name for one test (dropped by whoever opened it)."""
    return f"t_{uuid.uuid4().hex[:16]}"


def storage_section(schema: str) -> dict[str, Any]:
    """The ``storage:`` configuration of a PostgreSQL test store in ``schema``."""
    return {"store": "postgres", "postgres": {"dsn": PG_DSN, "schema": schema}}


def open_test_store(tmp_path: Path, backend: str = TEST_STORE) -> Any:
    """A fresh state store: the SQLite file in ``tmp_path`` or a new PostgreSQL schema
    (skipped, or failed under CLIENTEVENTS_REQUIRE_SERVICES=1, when PostgreSQL is down)."""
    if backend == "sqlite":
        from clientevents.store.sqlite import Database

        return Database(tmp_path / "clientevents.db")
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from clientevents.store.postgres import PostgresDatabase

    return PostgresDatabase(PG_DSN, schema=pg_schema_name(), pool_max=4)


def close_test_store(db: Any) -> None:
    """Close ``db``; a PostgreSQL store's schema is dropped."""
    db.close()
    drop = getattr(db, "drop_schema", None)
    if drop is not None:
        drop()


class OtherConnection:
    """A connection of its own to ``db``'s data, as another process would open one (``?``
    placeholders; each statement commits when :meth:`commit` is called, or at once on PG)."""

    def __init__(self, db: Any) -> None:
        if db.dialect.name == "sqlite":
            import sqlite3

            self._conn: Any = sqlite3.connect(db.path)
            self._raw: Any = self._conn
        else:
            import psycopg

            from clientevents.store.postgres import PgConnection

            self._raw = psycopg.connect(db.dsn, autocommit=True,
                                        options=f"-c search_path={db.schema}")
            self._conn = PgConnection(self._raw)

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._conn.execute(sql, params)

    def commit(self) -> None:
        if hasattr(self._raw, "in_transaction") and not hasattr(self._raw, "pgconn"):
            self._raw.commit()

    def close(self) -> None:
        self._raw.close()


_CREATED_SCHEMAS: set[str] = set()


def _drop_created_schemas() -> None:
    if not _CREATED_SCHEMAS:
        return
    import psycopg

    try:
        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5) as conn:
            for schema in _CREATED_SCHEMAS:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error:
        pass


def serve_config_for_test_store(data_dir: Path, config: Path | None) -> Path | None:
    """With ``CLIENTEVENTS_TEST_STORE=postgres``: the configuration a ``clientevents serve``
    test runs, with a ``storage:`` section choosing a schema of its own (one per data folder,
    so a restart finds its state; dropped when the test process ends). Otherwise ``config``."""
    if TEST_STORE != "postgres":
        return config
    import atexit
    import hashlib

    import yaml

    from clientevents.config.defaults import BLUEPRINT

    if config is None:
        document: dict[str, Any] = dict(BLUEPRINT)
    else:
        document = yaml.safe_load(config.read_text()) or {}
    if "storage" in document:
        return config
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    schema = f"t_{digest}"
    if not _CREATED_SCHEMAS:
        atexit.register(_drop_created_schemas)
    _CREATED_SCHEMAS.add(schema)
    document["storage"] = storage_section(schema)
    if config is not None and "data_dir" not in document:
        document["data_dir"] = str(data_dir)
    path = data_dir.parent / f"{data_dir.name}-postgres.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document))
    return path
