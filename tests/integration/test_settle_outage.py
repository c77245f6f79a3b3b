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
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from pg_outage import RoleOutage, role_outage

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


def queued(outage: RoleOutage) -> int:
    """The deliveries of the target still in the store, read as the administrator."""
    row = outage.admin.execute(
        f'SELECT count(*) FROM "{outage.schema}".deliveries WHERE target_key = %s', (KEY,)
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def outage() -> Iterator[RoleOutage]:
    with role_outage("ce_settle") as made:
        yield made


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("max_in_flight", [None, 2], ids=["batch", "pipelined"])
def test_a_settle_refused_by_the_store_is_recorded_once_it_is_back(
    outage: RoleOutage, max_in_flight: int | None
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
            assert queued(outage) == 1  # not settled yet: its claim holds it
            outage.end()
            await _until(lambda: queued(outage) == 0, "the settle once the store is back")
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=DEADLINE_SECS)

    try:
        asyncio.run(main())
    finally:
        db.close()
    assert target.sent == ["event-1"]  # delivered once, settled once
    assert target.entered == 1
