from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from clientevents.store.engine import Database

DDL = "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"


def test_a_write_waits_for_another_process_write_lock(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        other = sqlite3.connect(
            tmp_path / "db.sqlite", isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock ...
        other.execute("INSERT INTO t (v) VALUES ('other')")

        def release() -> None:
            time.sleep(0.05)
            other.execute("COMMIT")  # ... for a moment

        releaser = threading.Thread(target=release)
        releaser.start()
        db.write(lambda c: c.execute("INSERT INTO t (v) VALUES ('mine')"))
        releaser.join()
        other.close()
        rows = db.read(lambda c: c.execute("SELECT v FROM t ORDER BY id").fetchall())
        assert rows == [("other",), ("mine",)]


def test_submit_calls_back_after_the_commit(tmp_path: Path) -> None:
    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        outcomes: list[tuple[Any, BaseException | None]] = []
        done = threading.Event()

        def on_done(result: Any, error: BaseException | None) -> None:
            # The row is committed: a fresh connection sees it.
            fresh = sqlite3.connect(tmp_path / "db.sqlite")
            outcomes.append((fresh.execute("SELECT count(*) FROM t").fetchone()[0], error))
            fresh.close()
            done.set()

        db.submit(lambda c: c.execute("INSERT INTO t (v) VALUES ('x')").lastrowid, on_done)
        assert done.wait(10)
        assert outcomes == [(1, None)]

        failed = threading.Event()
        errors: list[BaseException | None] = []

        def on_fail(result: Any, error: BaseException | None) -> None:
            errors.append(error)
            failed.set()

        db.submit(lambda c: c.execute("INSERT INTO t (v) VALUES (NULL)"), on_fail)
        assert failed.wait(10)
        assert isinstance(errors[0], sqlite3.IntegrityError)


def test_a_closed_event_loop_does_not_stop_the_writer(tmp_path: Path) -> None:
    import asyncio

    with Database(tmp_path / "db.sqlite") as db:
        db.ensure_schema(DDL)
        gate = threading.Event()

        def slow(c: sqlite3.Connection) -> None:
            gate.wait(10)  # holds the writer until the loop below is closed

        blocker = threading.Thread(target=db.write, args=(slow,))
        blocker.start()

        async def abandon() -> None:
            task = asyncio.ensure_future(
                db.awrite(lambda c: c.execute("INSERT INTO t (v) VALUES ('late')"))
            )
            await asyncio.sleep(0.01)
            task.cancel()

        asyncio.run(abandon())  # the loop is closed while its write is still queued
        gate.set()
        blocker.join()
        after = threading.Thread(
            target=db.write, args=(lambda c: c.execute("INSERT INTO t (v) VALUES ('after')"),)
        )
        after.start()
        after.join(30)  # a dead writer thread would leave this write waiting for ever
        assert not after.is_alive(), "the writer thread stopped"
        values = db.read(lambda c: [r[0] for r in c.execute("SELECT v FROM t")])
        assert "after" in values
