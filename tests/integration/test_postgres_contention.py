"""Two processes' group commits meeting the same hot rows on PostgreSQL.

Each store is one writer connection, as each process of a deployment has. Their groups settle
two targets, count two rules and trim an archive in opposite orders, every write pausing while
it holds what it wrote: the counters are written late, in one order in every process, so no
write is rolled back by a deadlock, none fails, and every increment is counted once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import close_test_store, open_test_store

from clientevents.archive.archiver import _trim_chunk
from clientevents.archive.schema import SCHEMA as ARCHIVE_SCHEMA
from clientevents.routing.counters import matches_per_minute, record_matches
from clientevents.store.port import SqlConnection
from clientevents.targets.counters import SettleCounts, delivery_state, record_settled

pytestmark = [pytest.mark.integration, pytest.mark.own_backend]

ROUNDS = 4
PAUSE = 0.05
MINUTE = 29_000_000


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    from clientevents.store.postgres import PostgresDatabase

    db = open_test_store(tmp_path, "postgres")
    db.ensure_schema(ARCHIVE_SCHEMA)
    db.write(lambda conn: conn.execute(
        "INSERT INTO archives_state (archive, bus, created_at) VALUES ('arch', 'shop', 0)"))
    other = PostgresDatabase(db.dsn, schema=db.schema, pool_max=2)
    try:
        yield db, other
    finally:
        other.close()
        close_test_store(db)


def _paused(write: Callable[[SqlConnection], None]) -> Callable[[SqlConnection], None]:
    def fn(conn: SqlConnection) -> None:
        write(conn)
        time.sleep(PAUSE)  # hold what was written while the other store's group runs
    return fn


WRITES: list[Callable[[SqlConnection], None]] = [
    _paused(lambda conn: record_settled(conn, "bus/r/t1", SettleCounts(delivered=1), 1.0)),
    _paused(lambda conn: record_matches(conn, "shop", {"r1": 1, "r2": 1}, minute=MINUTE)),
    _paused(lambda conn: _trim_chunk(conn, "arch", 0.0, 1.0)),
    _paused(lambda conn: record_settled(conn, "bus/r/t2", SettleCounts(retried=1), 1.0)),
    _paused(lambda conn: record_matches(conn, "shop", {"r2": 1, "r1": 1}, minute=MINUTE)),
]


def test_groups_meeting_the_counters_in_opposite_orders_never_deadlock(
    stores: tuple[Any, Any],
) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2, timeout=60)

    def run(store: Any, writes: list[Callable[[SqlConnection], None]]) -> None:
        for _ in range(ROUNDS):
            barrier.wait()
            finished = threading.Semaphore(0)

            def done(_result: Any, error: BaseException | None,
                     finished: threading.Semaphore = finished) -> None:
                if error is not None:
                    errors.append(error)
                finished.release()

            # one group: the writer waits for the rest to be queued behind the first
            store.submit(writes[0], done, not_before=time.monotonic() + 0.02)
            for write in writes[1:]:
                store.submit(write, done)
            for _ in writes:
                assert finished.acquire(timeout=60), "a write never finished"

    db, other = stores
    threads = [threading.Thread(target=run, args=(db, WRITES)),
               threading.Thread(target=run, args=(other, WRITES[::-1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a store hung"
    assert errors == []
    assert (db.write_failure, other.write_failure) == (None, None)
    assert (db.rollback_retries, other.rollback_retries) == (0, 0)
    state = db.read(delivery_state)
    assert (state["bus/r/t1"].delivered, state["bus/r/t2"].retried) == (2 * ROUNDS, 2 * ROUNDS)
    counted = db.read(lambda conn: matches_per_minute(conn, "shop", since_minute=MINUTE))
    assert counted == {"r1": {MINUTE: 4 * ROUNDS}, "r2": {MINUTE: 4 * ROUNDS}}
    [(trimmed_at,)] = db.read(lambda conn: conn.execute(
        "SELECT last_trimmed_at FROM archives_state WHERE archive = 'arch'").fetchall())
    assert trimmed_at == 1.0
