"""The database remembers that the store refused a write, until a write commits again.

A full database is made for real with SQLite's ``max_page_count``: an insert past it fails with
SQLITE_FULL ("database or disk is full"), as on a full disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from clientevents.config import default_settings
from clientevents.errors import StoreError
from clientevents.events.publisher import Publisher
from clientevents.store.engine import Database

DETAIL = '{"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}}'


def _fill(db: Database) -> None:
    """Cap the file at its current size: the next insert that needs a page fails."""
    pages = db.read(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    db.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages}"))


def _unfill(db: Database) -> None:
    db.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))


def _big_rows(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,) for _ in range(50)])


def test_a_refused_write_is_remembered_until_a_write_commits(tmp_path: Path) -> None:
    with Database(tmp_path / "clientevents.db") as db:
        db.write(lambda c: c.execute("CREATE TABLE filler (x BLOB)"))
        assert db.write_failure is None
        _fill(db)
        # When a write needs more room than the store has
        with pytest.raises(sqlite3.OperationalError, match="full"):
            db.write(_big_rows)
        # I expect the failure remembered
        assert isinstance(db.write_failure, sqlite3.OperationalError)
        # and forgotten as soon as a write commits again
        _unfill(db)
        db.write(_big_rows)
        assert db.write_failure is None


def test_a_write_function_that_is_simply_wrong_is_not_a_store_failure(tmp_path: Path) -> None:
    with Database(tmp_path / "clientevents.db") as db:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            db.write(lambda c: c.execute("INSERT INTO nowhere VALUES (1)"))
        assert db.write_failure is None


def test_the_gateways_publish_path_raises_and_put_events_names_no_path(tmp_path: Path) -> None:
    with Database(tmp_path / "clientevents.db") as db:
        publisher = Publisher(db, default_settings())
        db.write(_big_rows)
        _fill(db)
        entries = [{"Source": "app", "DetailType": "t", "Detail": DETAIL,
                    "EventBusName": "client_event_bus"}] * 10
        big = [{"Source": "app", "DetailType": "t", "EventBusName": "client_event_bus",
                "Detail": '{"pad": "' + "y" * 60_000 + '"}'}] * 10
        # PutEvents answers InternalFailure per entry, without the database's path
        answer = publisher.put_events(big)
        assert answer["FailedEntryCount"] == 10
        assert {e["ErrorCode"] for e in answer["Entries"]} == {"InternalFailure"}
        assert all(str(tmp_path) not in e["ErrorMessage"] for e in answer["Entries"])
        # the gateway's call raises: nothing of the request was stored
        with pytest.raises(StoreError):
            asyncio.run(publisher.put_details_async(
                [{"pad": "y" * 60_000}] * 10, source="clientevents", detail_type="prod",
                resources=["c1"], bus="client_event_bus"))
        assert db.write_failure is not None
        _unfill(db)
        assert publisher.put_events(entries)["FailedEntryCount"] == 0
        assert db.write_failure is None
