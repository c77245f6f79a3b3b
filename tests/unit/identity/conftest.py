"""Fixtures for the identity unit tests: a real SQLite database, a settable clock, a user pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from identity_helpers import FakeClock, make_pool

from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool
from clientevents.store.engine import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture(scope="session")
def fast_hasher() -> PasswordHasher:
    """Argon2id with small parameters: the same code path, a fraction of the time."""
    return PasswordHasher(time_cost=1, memory_kib=1024)


@pytest.fixture
def pool(db: Database, tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher) -> UserPool:
    return make_pool(db, tmp_path, clock, fast_hasher)
