"""Fixtures for the delivery tests: a real database, a fake clock, the controlled target."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from delivery_helpers import Controlled, FakeClock

from clientevents.store.engine import Database


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def controlled() -> Controlled:
    return Controlled()


