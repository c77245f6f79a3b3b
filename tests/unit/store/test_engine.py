from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from clientevents.errors import StoreError
from clientevents.store.engine import Database

DDL = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"


def _insert(value: str):
    def fn(conn: sqlite3.Connection) -> int:
        cur = conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        assert cur.lastrowid is not None
        return cur.lastrowid

    return fn


def test_write_is_visible_to_a_new_connection(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        row_id = db.write(_insert("a"))
        other = sqlite3.connect(tmp_path / "db.sqlite")
        assert other.execute("SELECT id, v FROM t").fetchall() == [(row_id, "a")]
        other.close()


def test_one_failing_write_does_not_fail_its_group(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        db.write(_insert("dup"))
        results: dict[str, object] = {}
        barrier = threading.Barrier(20)

        def worker(i: int) -> None:
            barrier.wait()
            value = "dup" if i == 0 else f"v{i}"
            try:
                results[value] = db.write(_insert(value))
            except sqlite3.IntegrityError as exc:
                results[value] = exc

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert isinstance(results["dup"], sqlite3.IntegrityError)
        count = db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])
        assert count == 20


def test_async_writes(tmp_path: Path) -> None:
    async def main(db: Database) -> list[int]:
        return await asyncio.gather(*(db.awrite(_insert(f"x{i}")) for i in range(50)))

    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        ids = asyncio.run(main(db))
        assert len(set(ids)) == 50


def test_closed_database_refuses_writes(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite")
    db.close()
    with pytest.raises(StoreError, match="closed"):
        db.write(_insert("late"))
