"""Fixtures of the integration suite: a backend shared by the tests of one module.

A module whose tests share a server (a module-scoped fixture) starts it on the backend of
``shared_backend`` (its own PostgreSQL schema and JetStream streams under
``CLIENTEVENTS_TEST_BACKEND=postgres+jetstream``; the embedded default otherwise), and marks
its tests ``pytest.mark.usefixtures("on_shared_backend")`` so that what they open or start
themselves (a command, a store, another process) reaches the same state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store_helpers import SharedBackend


@pytest.fixture(scope="module")
def shared_backend() -> Iterator[SharedBackend]:
    """The backend of the module's shared fixtures (set in CLIENTEVENTS_STORAGE while they
    start; its schema and streams are dropped after the module)."""
    backend = SharedBackend()
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def on_shared_backend(shared_backend: SharedBackend, monkeypatch: pytest.MonkeyPatch,
                      _test_backend: object) -> SharedBackend:
    """The test runs on the module's shared backend instead of a backend of its own."""
    for name, value in shared_backend.environ.items():
        monkeypatch.setenv(name, value)
    return shared_backend
