"""A dispatcher whose settle write meets a PostgreSQL outage records the outcome as soon as the
store is back, instead of leaving the claim to wait out its lease (120 s) and sending the
delivery again.

The outage is real and confined to the test: the store connects as a role of the test's own,
which is made unable to log in and whose connections are terminated (``pg_terminate_backend``)
while the target's call is in flight; the shared server keeps running for everyone else.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from store_helpers import PG_DSN, require_service

from clientevents.store.postgres import PostgresDatabase
from clientevents.targets.base import Ok, Outcome, Target
from clientevents.targets.dispatcher import Dispatcher, DispatchOptions
from clientevents.targets.queue import ClaimedDelivery, Delivery, enqueue, target_key
from clientevents.targets.retry import RetryLimits

pytestmark = [pytest.mark.integration, pytest.mark.own_backend]

DEADLINE_SECS = 30.0  # far below the lease: a settle left to the lease fails the test
LEASE_SECS = 120.0
KEY = target_key("bus", "rule", "t")


class HeldTarget(Target):
    """Answers Ok once the test opens ``gate``; counts the calls and the deliveries sent."""

    kind = "held"

    def __init__(self, max_in_flight: int | None) -> None:
        self.max_in_flight = max_in_flight
        self.gate = asyncio.Event()
        self.entered = 0
        self.sent: list[str] = []

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        self.entered += 1
        await self.gate.wait()
        self.sent += [d.event_id for d in deliveries]
        return [Ok() for _ in deliveries]


class Outage:
    """A login role of the test's own and an administrator's connection that cuts it off."""

    def __init__(self) -> None:
        import psycopg
        from psycopg.conninfo import make_conninfo

        self.role = f"ce_settle_{uuid.uuid4().hex[:10]}"
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=5)
        database = self.admin.info.dbname
        self.admin.execute(f'CREATE ROLE "{self.role}" LOGIN')
        self.admin.execute(f'GRANT CREATE ON DATABASE "{database}" TO "{self.role}"')
        self.admin.execute(f'CREATE SCHEMA "{self.schema}" AUTHORIZATION "{self.role}"')
        self.dsn = make_conninfo(PG_DSN, user=self.role)

    def begin(self) -> None:
        """The store's server is gone for this role: no new connection, the open ones cut."""
        self.admin.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
        self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE usename = %s", (self.role,))

    def end(self) -> None:
        self.admin.execute(f'ALTER ROLE "{self.role}" LOGIN')

    def queued(self) -> int:
        row = self.admin.execute(
            f'SELECT count(*) FROM "{self.schema}".deliveries WHERE target_key = %s', (KEY,)
        ).fetchone()
        assert row is not None
        return int(row[0])

    def remove(self) -> None:
        self.admin.execute(f'ALTER ROLE "{self.role}" NOLOGIN')
        self.admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE usename = %s", (self.role,))
        self.admin.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.admin.execute(f'DROP OWNED BY "{self.role}"')
        self.admin.execute(f'DROP ROLE IF EXISTS "{self.role}"')
        self.admin.close()


@pytest.fixture
def outage() -> Iterator[Outage]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    made = Outage()
    try:
        yield made
    finally:
        made.remove()


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("max_in_flight", [None, 2], ids=["batch", "pipelined"])
def test_a_settle_refused_by_the_store_is_recorded_once_it_is_back(
    outage: Outage, max_in_flight: int | None
) -> None:
    db = PostgresDatabase(outage.dsn, schema=outage.schema, pool_min=0, pool_max=2,
                          connect_timeout=2.0)
    target = HeldTarget(max_in_flight)
    dispatcher = Dispatcher(
        db, KEY, target,
        limits=RetryLimits(maximum_event_age_secs=3600, maximum_retry_attempts=5),
        keep_dead_letters=True,
        options=DispatchOptions(lease_secs=LEASE_SECS, send_timeout_secs=60.0,
                                poll_interval_secs=0.05),
    )
    now = time.time()
    db.write(lambda conn: enqueue(conn, [
        Delivery(KEY, "bus", "rule", "t", "event-1", '{"n": 1}', now)]))

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            await _until(lambda: target.entered == 1, "the call to start")
            outage.begin()
            target.gate.set()  # answered while the store cannot be reached
            await _until(lambda: db.write_failure is not None, "the settle to fail")
            assert outage.queued() == 1  # not settled yet: its claim holds it
            outage.end()
            await _until(lambda: outage.queued() == 0, "the settle once the store is back")
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=DEADLINE_SECS)

    try:
        asyncio.run(main())
    finally:
        db.close()
    assert target.sent == ["event-1"]  # delivered once, settled once
    assert target.entered == 1
