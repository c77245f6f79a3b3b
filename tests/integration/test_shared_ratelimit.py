"""Shared rate limits: one bucket in the state store, never over-granted whoever takes from it.

The clocks are frozen, so a bucket never refills during a test: however many processes (SQLite)
or connections (PostgreSQL) take from one bucket at once, exactly ``burst`` tokens are handed
out in total.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import close_test_store, open_test_store, require_service

from clientevents.ratelimit.shared import (
    PsycopgRunner,
    SharedBucket,
    SharedCallLimiter,
    SharedKeyedLimiter,
    SqliteRunner,
    StoreRunner,
    call_bucket_shape,
)
from clientevents.store.engine import Database

pytestmark = [pytest.mark.integration, pytest.mark.own_backend]

NOW = 1_800_000_000.0
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


def _frozen() -> float:
    return NOW


def _take_many(path: str, key: str, burst: int, tries: int, out: Any) -> None:
    """In a process of its own: take one token ``tries`` times; put the count granted."""

    async def main() -> int:
        db = Database(path)
        try:
            bucket = SharedBucket(SqliteRunner(db), rate=1.0, burst=burst, clock=_frozen)
            granted = 0
            for _ in range(tries):
                taken, _wait = await bucket.take(key, 1)
                granted += taken
            return granted
        finally:
            db.close()

    out.put(asyncio.run(main()))


def test_processes_sharing_a_sqlite_bucket_get_exactly_the_burst(tmp_path: Path) -> None:
    path = str(tmp_path / "clientevents.db")
    Database(path).close()  # the table exists before the processes race
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_many, args=(path, "stage:prod:c1", 60, 50, out))
             for _ in range(3)]
    for proc in procs:
        proc.start()
    granted = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert sum(granted) == 60, granted
    assert all(g > 0 for g in granted) or sum(granted) == 60


def test_a_reservation_gets_what_is_left_and_the_wait_for_more(tmp_path: Path) -> None:
    asyncio.run(_a_reservation_gets_what_is_left_and_the_wait_for_more(tmp_path))


async def _a_reservation_gets_what_is_left_and_the_wait_for_more(tmp_path: Path) -> None:
    db = Database(tmp_path / "clientevents.db")
    try:
        now = [NOW]
        bucket = SharedBucket(SqliteRunner(db), rate=4.0, burst=10, clock=lambda: now[0])
        assert await bucket.take("k", 7) == (7, 0.0)
        assert await bucket.take("k", 7) == (3, 0.0)  # what is left, not nothing
        taken, wait = await bucket.take("k", 1)
        assert taken == 0 and wait == pytest.approx(0.25)
        now[0] += 0.5  # two tokens refilled
        assert await bucket.take("k", 5) == (2, 0.0)
        await bucket.give_back("k", 100)  # capped at the burst
        assert await bucket.take("k", 50) == (10, 0.0)
        assert (await bucket.take("other", 1))[0] == 1  # keys are separate buckets
        now[0] -= 100  # a clock behind the others' refills nothing
        assert (await bucket.take("k", 1))[0] == 0
    finally:
        db.close()


def test_a_shared_call_limiter_spaces_the_calls_of_all_processes(tmp_path: Path) -> None:
    asyncio.run(_a_shared_call_limiter_spaces_the_calls_of_all_processes(tmp_path))


async def _a_shared_call_limiter_spaces_the_calls_of_all_processes(tmp_path: Path) -> None:
    db = Database(tmp_path / "clientevents.db")
    try:
        now = [NOW]
        runner = SqliteRunner(db)
        # Two processes' limiters of one destination: one bucket, key dest:<name>.
        first, second = (SharedCallLimiter(SharedBucket(runner, rate=10.0, burst=1,
                                                        clock=lambda: now[0]),
                                           "dest:tickets", 10) for _ in range(2))
        grant = await first.reserve(20)
        assert grant.count == 1
        refused = await second.reserve(20)
        assert refused.count == 0 and refused.retry_after_secs == pytest.approx(0.1)
        assert second.local.counting == 0  # the local reservation was handed back
        now[0] += 0.125  # (a step a float at this magnitude holds exactly)
        assert (await second.reserve(5)).count == 1
        first.start()
        first.finish()
        # an unused reservation goes back to the shared bucket
        now[0] += 0.125  # (a step a float at this magnitude holds exactly)
        assert (await first.reserve(1)).count == 1
        first.release(1)
        await asyncio.sleep(0)
        await asyncio.gather(*first._returns)
        assert (await second.reserve(1)).count == 1
    finally:
        db.close()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
@pytest.mark.parametrize("limit", [10, 100, 1000])
def test_a_destinations_shared_bucket_never_lets_a_window_hold_more_than_its_limit(
    tmp_path: Path, limit: int, store: str
) -> None:
    asyncio.run(_a_destinations_shared_bucket_never_lets_a_window_hold_more_than_its_limit(
        tmp_path, limit, store))


async def _a_destinations_shared_bucket_never_lets_a_window_hold_more_than_its_limit(
    tmp_path: Path, limit: int, store: str
) -> None:
    db = open_test_store(tmp_path, store)
    runner = StoreRunner(db)
    try:
        now = [NOW]
        # Two processes' limiters of one destination take as much as they can at every tick
        # of a frozen clock (a little over the time the bucket takes to refill) for 2 seconds.
        limiters = [SharedCallLimiter.for_destination(runner, "tickets", limit)
                    for _ in range(2)]
        for limiter in limiters:
            limiter.bucket.clock = lambda: now[0]
        remote = store == "postgres"
        rate, burst = call_bucket_shape(limit, chunked=remote)
        starts: list[float] = []
        most = 0
        step = burst / rate * 1.001  # just over a refill (exact ones meet float error)
        for tick in range(round(2.0 / step)):
            now[0] = NOW + tick * step
            for limiter in limiters:
                taken, _ = await limiter.bucket.take(limiter.key, 10_000)
                most = max(most, taken)
                starts += [now[0]] * taken
        # No half-open second holds more than the limit...
        for i, start in enumerate(starts):
            assert sum(1 for s in starts[i:] if s < start + 1.0) <= limit
        # ...one take reserves up to the bucket's burst: one call on SQLite, a fiftieth of
        # the limit (at least 1) where a take is a round trip...
        assert most == burst == (max(1, limit // 50) if remote else 1)
        # ...and the sustained rate is the limit's, less at most 2%.
        assert rate >= limit * 0.98
        assert len(starts) >= rate * (now[0] - NOW) * 0.95
    finally:
        await runner.close()
        close_test_store(db)


def test_a_shared_keyed_limiter_refuses_locally_first(tmp_path: Path) -> None:
    asyncio.run(_a_shared_keyed_limiter_refuses_locally_first(tmp_path))


async def _a_shared_keyed_limiter_refuses_locally_first(tmp_path: Path) -> None:
    db = Database(tmp_path / "clientevents.db")
    try:
        runner = SqliteRunner(db)
        one = SharedKeyedLimiter(runner, "prod", rate=0.001, burst=3)
        two = SharedKeyedLimiter(runner, "prod", rate=0.001, burst=3)
        answers = [await one.take("client"), await two.take("client"), await one.take("client"),
                   await two.take("client"), await one.take("client")]
        assert [a == 0.0 for a in answers] == [True, True, True, False, False]
        assert await one.take("another") == 0.0
    finally:
        db.close()


def test_a_shared_keyed_limiter_takes_tokens_a_chunk_at_a_time(tmp_path: Path) -> None:
    asyncio.run(_chunks(tmp_path))


async def _chunks(tmp_path: Path) -> None:
    db = Database(tmp_path / "clientevents.db")
    try:
        runner = SqliteRunner(db)
        one, two = (SharedKeyedLimiter(runner, "prod", rate=100.0, burst=25, clock=_frozen)
                    for _ in range(2))
        assert one.chunk == 10
        # the first request takes a chunk of 10 from the store; the next nine spend it locally
        for _ in range(10):
            assert await one.take("client") == 0.0
        [(tokens,)] = db.read(lambda c: c.execute(
            "SELECT tokens FROM rate_buckets WHERE key = 'stage:prod:client'").fetchall())
        assert tokens == 15
        # the other process gets the rest, in chunks, and no more: 25 in all
        granted = sum([await two.take("client") == 0.0 for _ in range(20)])
        assert granted == 15
    finally:
        db.close()


# -- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture
def pg_schema() -> Iterator[Callable[[], Any]]:
    """A fresh PostgreSQL schema of the shared server; connections made into it."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    schema = f"ratelimit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")

    async def connect() -> Any:
        return await psycopg.AsyncConnection.connect(PG_DSN, options=f"-c search_path={schema}")

    try:
        yield connect
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_connections_sharing_a_postgres_bucket_get_exactly_the_burst(
    pg_schema: Callable[[], Any],
) -> None:
    asyncio.run(_connections_sharing_a_postgres_bucket(pg_schema))


async def _connections_sharing_a_postgres_bucket(pg_schema: Callable[[], Any]) -> None:
    runners = [PsycopgRunner(pg_schema) for _ in range(4)]
    buckets = [SharedBucket(r, rate=1.0, burst=40, clock=_frozen) for r in runners]
    try:
        async def take_all(bucket: SharedBucket) -> int:
            granted = 0
            for _ in range(25):
                granted += (await bucket.take("dest:tickets", 1))[0]
            return granted

        granted = await asyncio.gather(*(take_all(b) for b in buckets))
        assert sum(granted) == 40, granted
        # partial grants and the wait work the same as on SQLite
        assert await buckets[0].take("k", 50) == (40, 0.0)
        taken, wait = await buckets[1].take("k", 1)
        assert taken == 0 and wait == pytest.approx(1.0)
    finally:
        for runner in runners:
            await runner.close()


def test_store_runners_on_postgres_share_a_bucket_beside_the_group_commit(tmp_path: Path) -> None:
    db = open_test_store(tmp_path, "postgres")
    try:
        asyncio.run(_store_runners_on_postgres(db))
    finally:
        close_test_store(db)


async def _store_runners_on_postgres(db: Any) -> None:
    import threading

    from clientevents.store.postgres import PostgresDatabase

    other = PostgresDatabase(db.dsn, schema=db.schema, pool_max=2)  # another process's store
    runners = [StoreRunner(db), StoreRunner(db), StoreRunner(other), StoreRunner(other)]
    buckets = [SharedBucket(r, rate=1.0, burst=40, clock=_frozen) for r in runners]
    release = threading.Event()
    held = threading.Event()

    def hold(_conn: Any) -> None:  # the writer's group stays open until released
        held.set()
        release.wait(60)

    try:
        db.submit(hold, lambda _result, _error: None)
        assert held.wait(30)

        async def take_all(bucket: SharedBucket) -> int:
            granted = 0
            for _ in range(25):
                granted += (await bucket.take("dest:tickets", 1))[0]
            return granted

        # the takes do not wait for the busy writer's group
        granted = await asyncio.wait_for(
            asyncio.gather(*(take_all(b) for b in buckets)), timeout=30)
        assert sum(granted) == 40, granted
        assert await asyncio.wait_for(buckets[0].take("k", 50), timeout=30) == (40, 0.0)
        taken, wait = await buckets[2].take("k", 1)
        assert taken == 0 and wait == pytest.approx(1.0)
    finally:
        release.set()
        for runner in runners:
            await runner.close()
        other.close()


def test_a_postgres_runner_never_leaves_its_connection_open(tmp_path: Path) -> None:
    """Closed with its limiter, finished when its event loop changes, finished when dropped."""
    import gc

    db = open_test_store(tmp_path, "postgres")
    try:
        runner: Any = StoreRunner(db)
        limiter = SharedCallLimiter(SharedBucket(runner, rate=1.0, burst=10, clock=_frozen),
                                    "dest:tickets", 10)

        async def take() -> Any:
            assert await limiter.bucket.take(limiter.key, 1) == (1, 0.0)
            return runner._conn

        first = asyncio.run(take())
        second = asyncio.run(take())  # another event loop: the first loop's connection is done
        assert first.closed and not second.closed

        async def close() -> None:
            await limiter.close()

        asyncio.run(close())
        assert second.closed

        dropped = StoreRunner(db)
        bucket = SharedBucket(dropped, rate=1.0, burst=5, clock=_frozen)
        asyncio.run(bucket.take("k", 1))
        conn = dropped._conn
        assert conn is not None and not conn.closed
        del bucket, dropped
        gc.collect()
        assert conn.closed
    finally:
        close_test_store(db)
