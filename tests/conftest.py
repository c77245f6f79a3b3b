"""Shared fixtures: environment hygiene and real-service availability."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Helpers several test folders share (the recording HTTP server) are imported by name.
sys.path.insert(0, str(Path(__file__).parent / "support"))


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


_KEPT_ENV = ("CLIENTEVENTS_REQUIRE_SERVICES", "CLIENTEVENTS_TEST_STORE", "CLIENTEVENTS_TEST_PG_DSN")

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


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Each store-facing test runs on both stores."""
    return str(request.param)


@pytest.fixture
def state_store(tmp_path: Path, store_backend: str) -> Iterator[Any]:
    """A fresh state store of each backend, closed (and a PG schema dropped) after the test."""
    db = open_test_store(tmp_path, store_backend)
    try:
        yield db
    finally:
        close_test_store(db)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see the developer's CLIENTEVENTS_* settings (the service flag excepted)."""
    for key in list(os.environ):
        if key.startswith("CLIENTEVENTS_") and key not in _KEPT_ENV:
            monkeypatch.delenv(key, raising=False)
    yield
