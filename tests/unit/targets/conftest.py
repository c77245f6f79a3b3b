"""Fixtures for the delivery tests: a real database, a fake clock, the controlled target."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import Controlled, FakeClock

from clientevents.store.engine import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "clientevents.db") as database:
        yield database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def controlled() -> Controlled:
    return Controlled()


