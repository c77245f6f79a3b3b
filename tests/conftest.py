"""Shared fixtures: environment hygiene and real-service availability."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Helpers several test folders share (the recording HTTP server) are imported by name.
sys.path.insert(0, str(Path(__file__).parent / "support"))

# Store helpers live in tests/support/store_helpers.py (importable from every folder, whose own
# conftest.py would shadow this one); require_service stays importable from here too.
from store_helpers import (
    TEST_BACKEND,
    backend_storage,
    close_test_store,
    drop_backend_storage,
    open_test_store,
)
from store_helpers import require_service as require_service

_KEPT_ENV = (
    "CLIENTEVENTS_REQUIRE_SERVICES", "CLIENTEVENTS_TEST_STORE", "CLIENTEVENTS_TEST_PG_DSN",
    "CLIENTEVENTS_TEST_BACKEND", "CLIENTEVENTS_TEST_NATS_URL",
)
_BACKEND_FOLDERS = ("integration", "e2e")


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


@pytest.fixture(autouse=True)
def _test_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                  _clean_env: None) -> Iterator[dict[str, Any] | None]:
    """Under ``CLIENTEVENTS_TEST_BACKEND=postgres+jetstream``, every integration and end-to-end
    test runs on its own PostgreSQL schema and JetStream streams: ``CLIENTEVENTS_STORAGE``
    hands them to every configuration the test loads (and to the processes it starts)."""
    folder = Path(str(request.node.fspath)).relative_to(Path(__file__).parent).parts[0]
    if TEST_BACKEND == "embedded" or folder not in _BACKEND_FOLDERS:
        yield None
        return
    if TEST_BACKEND != "postgres+jetstream":
        pytest.fail(f"CLIENTEVENTS_TEST_BACKEND must be embedded or postgres+jetstream, "
                    f"not {TEST_BACKEND!r}.")
    section = backend_storage()
    monkeypatch.setenv("CLIENTEVENTS_STORAGE", json.dumps(section))
    try:
        yield section
    finally:
        drop_backend_storage(section)



def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the backend switch, a test marked ``own_backend`` (it chooses its storage itself:
    servers or a schema of its own) would run exactly as in the embedded pass: leave it out.

    In a pytest-xdist worker, the long folders come first (end-to-end, then integration, then
    the rest): files are handed to the workers in this order, so the last ones handed out are
    short and no worker is left running a long file alone at the end."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {"e2e": 0, "integration": 1}
        items.sort(key=lambda item: rank.get(item.path.parent.name, 2))
    if TEST_BACKEND == "embedded":
        return
    kept = [item for item in items if item.get_closest_marker("own_backend") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
