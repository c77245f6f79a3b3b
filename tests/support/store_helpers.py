"""Opening test state stores on SQLite or PostgreSQL (shared by every test folder)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "NATS_URL", "PG_DSN", "TEST_BACKEND", "TEST_STORE", "OtherConnection", "backend_storage",
    "close_test_store", "drop_backend_storage", "drop_test_streams", "open_second_store",
    "open_test_store", "pg_schema_name", "require_service", "storage_section",
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


#: The state store of the JetStream archive tests outside the backend switch: ``sqlite``
#: (default) or ``postgres`` (``CLIENTEVENTS_TEST_STORE=postgres``); also what
#: :func:`open_test_store` opens when not told. The integration and end-to-end suites run on
#: PostgreSQL under ``CLIENTEVENTS_TEST_BACKEND`` (below), not under this variable.
TEST_STORE = os.environ.get("CLIENTEVENTS_TEST_STORE", "sqlite")

#: The backends the integration and end-to-end suites run on: ``embedded`` (default: SQLite and
#: local files) or ``postgres+jetstream`` (``CLIENTEVENTS_TEST_BACKEND=postgres+jetstream``:
#: each test gets its own PostgreSQL schema and JetStream stream prefix, handed to every
#: configuration it loads, in process or in a spawned ``clientevents``, through the
#: ``CLIENTEVENTS_STORAGE`` variable; both are dropped after the test).
TEST_BACKEND = os.environ.get("CLIENTEVENTS_TEST_BACKEND", "embedded")

#: The NATS server (with JetStream) of the tests: the machine's shared one.
NATS_URL = os.environ.get("CLIENTEVENTS_TEST_NATS_URL", "nats://127.0.0.1:4222")

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


def backend_storage(tag: str | None = None) -> dict[str, Any]:
    """The ``storage:`` section of one test on PostgreSQL + JetStream: a fresh schema and a
    fresh stream prefix (``tag``, default random), on the machine's shared servers."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("NATS", "127.0.0.1", 4222)
    name = tag or pg_schema_name()
    return {
        "store": "postgres",
        "log": "jetstream",
        "postgres": {"dsn": PG_DSN, "schema": name, "pool_min": 0, "pool_max": 4},
        "jetstream": {"servers": [NATS_URL], "stream_prefix": name, "duplicate_window": "2m"},
    }


def drop_backend_storage(section: dict[str, Any]) -> None:
    """Drop what :func:`backend_storage`'s test left: its schema and its streams."""
    import psycopg

    schema = section["postgres"]["schema"]
    try:
        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.Error:
        pass
    drop_test_streams(section["jetstream"]["stream_prefix"])


def drop_test_streams(stream_prefix: str) -> None:
    """Delete the shared NATS server's streams of ``stream_prefix`` (best effort)."""
    import asyncio
    import threading

    import nats

    prefix = stream_prefix + "_"

    async def drop_streams() -> None:
        client = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = client.jetstream()
            for stream in await js.streams_info():
                if stream.config.name and stream.config.name.startswith(prefix):
                    await js.delete_stream(stream.config.name)
        finally:
            await client.close()

    def run() -> None:
        try:
            asyncio.run(drop_streams())
        except Exception:  # cleanup is best effort; the next run uses new names
            pass

    # In a thread of its own: the test's thread may be running an event loop (a browser's).
    thread = threading.Thread(target=run, name="drop-test-streams")
    thread.start()
    thread.join()


def open_test_store(tmp_path: Path, backend: str = TEST_STORE) -> Any:
    """A fresh state store: the SQLite file in ``tmp_path`` or a new PostgreSQL schema
    (skipped, or failed under CLIENTEVENTS_REQUIRE_SERVICES=1, when PostgreSQL is down)."""
    if backend == "sqlite":
        from clientevents.store.sqlite import Database

        return Database(tmp_path / "clientevents.db")
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from clientevents.store.postgres import PostgresDatabase

    return PostgresDatabase(PG_DSN, schema=pg_schema_name(), pool_max=4)


def open_second_store(db: Any) -> Any:
    """Another store on ``db``'s data, as another process would open it (the caller closes it;
    ``db``'s schema is not dropped with it)."""
    if db.dialect.name == "sqlite":
        from clientevents.store.sqlite import Database

        return Database(db.path)
    from clientevents.store.postgres import PostgresDatabase

    return PostgresDatabase(db.dsn, schema=db.schema, pool_max=2)


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


# -- integration and end-to-end suites: what a test builds itself runs on the test backend -----
#
# The autouse ``_test_backend`` fixture sets CLIENTEVENTS_STORAGE for one test. Settings a test
# validates with ``environ={}``, stores it opens itself and servers a module shares (started
# before any test's fixtures) need the section handed to them: these helpers do that.

STORAGE_VARIABLE = "CLIENTEVENTS_STORAGE"


def current_storage() -> dict[str, Any] | None:
    """The ``storage:`` section the running test was given (``None`` on the embedded default)."""
    import json

    text = os.environ.get(STORAGE_VARIABLE)
    return None if not text else dict(json.loads(text))


def with_test_storage(document: dict[str, Any],
                      storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """``document`` (a configuration) with the backend's ``storage:`` section (``storage``, else
    the running test's) when it has none; unchanged on the embedded default."""
    section = current_storage() if storage is None else storage
    if section is None or "storage" in document:
        return document
    return {**document, "storage": section}


def storage_environ(storage: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
    """Variables for ``validate_settings(environ=...)`` or a child process: ``extra`` plus
    CLIENTEVENTS_STORAGE holding ``storage`` (else the running test's), when there is one."""
    import json

    section = current_storage() if storage is None else storage
    environ = dict(extra)
    if section is not None:
        environ[STORAGE_VARIABLE] = json.dumps(section)
    return environ


class SharedBackend:
    """For a fixture wider than one test (a server a whole module uses): under the backend
    switch, a schema and streams of its own, set in CLIENTEVENTS_STORAGE while the fixture
    starts what it shares (so every configuration it loads runs on them), dropped at
    :meth:`close` (or at the end of a ``with`` block). ``storage`` is ``None`` on the embedded
    default."""

    def __init__(self) -> None:
        self.storage: dict[str, Any] | None = None
        self._patch = pytest.MonkeyPatch()
        if TEST_BACKEND == "embedded":
            return
        self.storage = backend_storage()
        self._patch.setenv(STORAGE_VARIABLE, storage_environ(self.storage)[STORAGE_VARIABLE])

    @property
    def environ(self) -> dict[str, str]:
        """The variables to start the fixture's processes with, and to hand the commands run
        against them: CLIENTEVENTS_STORAGE under the backend switch, none on the default."""
        return {} if self.storage is None else storage_environ(self.storage)

    def close(self) -> None:
        self._patch.undo()
        if self.storage is not None:
            drop_backend_storage(self.storage)

    def __enter__(self) -> SharedBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_service_store(settings: Any, data_dir: Path) -> Any:
    """The state store a service with ``settings`` in ``data_dir`` uses (what the service
    itself opens: the SQLite file, or its PostgreSQL schema)."""
    from clientevents.store.factory import open_store

    return open_store(settings, data_dir)


def open_storage_store(data_dir: Path, storage: dict[str, Any] | None = None) -> Any:
    """The state store of the backend's ``storage:`` section (``storage``, else the running
    test's), or the SQLite file in ``data_dir`` on the embedded default."""
    from clientevents.config import validate_settings

    settings = validate_settings(with_test_storage({"data_dir": str(data_dir)}, storage),
                                 file="<test>", environ={})
    return open_service_store(settings, data_dir)
