"""Dispatchers running: targets are independent, claims are bounded, stop is clean."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from delivery_helpers import Controlled, delivery, log_target, make_settings, put, rows, wait_until

from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Retry, TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.queue import queue_depths
from clientevents.targets.retry import Backoff


def _dispatchers(db: Database, controlled: Controlled, *, batch_size: int = 100) -> Dispatchers:
    settings = make_settings([log_target("slow"), log_target("fast")])
    options = DispatchOptions(batch_size=batch_size, poll_interval_secs=0.01)
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    return Dispatchers(db, settings, context, options=options, registry=controlled.registry)


def test_a_blocked_target_does_not_stop_another(db: Database, controlled: Controlled) -> None:
    dispatchers = _dispatchers(db, controlled)
    slow, fast = controlled.targets["slow"], controlled.targets["fast"]
    slow.gate = asyncio.Event()
    now = time.time()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        # Given the slow target is stuck in its first batch
        put(db, [delivery("s1", target_id="slow", enqueued_at=now)])
        await wait_until(lambda: slow.entered == 1)
        # When deliveries for the fast target keep arriving
        for i in range(3):
            put(db, [delivery(f"f{i}", target_id="fast", enqueued_at=now)])
            await wait_until(lambda i=i: len(fast.delivered) == i + 1)  # type: ignore[misc]
        # I expect them delivered while the slow one still waits
        assert fast.delivered == ["f0", "f1", "f2"]
        assert slow.delivered == []
        # And the slow one to finish once unblocked
        assert slow.gate is not None
        slow.gate.set()
        await wait_until(lambda: slow.delivered == ["s1"])
        stop.set()
        await task

    asyncio.run(main())
    assert db.read(queue_depths) == {}
    assert slow.closed and fast.closed


def test_claims_are_bounded_and_the_backlog_stays_on_disk(
    db: Database, controlled: Controlled
) -> None:
    dispatchers = _dispatchers(db, controlled, batch_size=10)
    slow = controlled.targets["slow"]
    slow.gate = asyncio.Event()
    put(db, [delivery(str(i), target_id="slow", enqueued_at=time.time()) for i in range(35)])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        # Given the target is stuck in its first batch
        await wait_until(lambda: slow.entered == 1)
        # I expect ten deliveries claimed, the other 25 untouched on disk
        claimed = rows(db, "SELECT count(*) FROM deliveries WHERE attempts > 0")
        assert claimed == [(10,)]
        assert db.read(queue_depths) == {"b1/r1/slow": 35}
        # When it is unblocked, everything is delivered in batches of at most ten, in order
        assert slow.gate is not None
        slow.gate.set()
        await wait_until(lambda: len(slow.delivered) == 35)
        stop.set()
        await task

    asyncio.run(main())
    assert max(len(call) for call in slow.calls) == 10
    assert slow.delivered == [str(i) for i in range(35)]
    assert db.read(queue_depths) == {}


def test_stop_while_idle_returns_and_closes_targets(db: Database, controlled: Controlled) -> None:
    dispatchers = _dispatchers(db, controlled)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        await asyncio.sleep(0.03)
        stop.set()
        await task

    asyncio.run(main())
    assert all(t.closed for t in controlled.targets.values())


def test_deliveries_of_unconfigured_targets_are_reported_and_kept(
    db: Database, controlled: Controlled, caplog: pytest.LogCaptureFixture
) -> None:
    dispatchers = _dispatchers(db, controlled)
    put(db, [delivery("lost", target_id="removed", enqueued_at=time.time())])

    async def main() -> None:
        stop = asyncio.Event()
        stop.set()
        await dispatchers.run(stop)

    with caplog.at_level(logging.WARNING, logger="clientevents.targets"):
        asyncio.run(main())
    assert any("b1/r1/removed" in r.getMessage() for r in caplog.records)
    assert db.read(queue_depths) == {"b1/r1/removed": 1}


def test_running_dispatchers_retry_after_the_backoff(db: Database, controlled: Controlled) -> None:
    # Given a target that fails its first attempt, and a backoff of at most 20 ms
    settings = make_settings([log_target("t1")])
    options = DispatchOptions(poll_interval_secs=30, backoff=Backoff(0.02, 0.02))
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    dispatchers = Dispatchers(db, settings, context, options=options,
                              registry=controlled.registry)
    target = controlled.targets["t1"]
    target.script = lambda d: Ok() if d.attempt > 1 else Retry("HTTP503", "busy")
    put(db, [delivery("a", enqueued_at=time.time())])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        # I expect the retry at its due time, not at the next poll (30 s away)
        await wait_until(lambda: len(target.calls) == 2)
        stop.set()
        await task

    asyncio.run(main())
    assert [d.attempt for call in target.calls for d in call] == [1, 2]
    assert db.read(queue_depths) == {}



def test_calls_in_flight_are_one_delivery_each_and_settle_as_they_answer(
    db: Database, controlled: Controlled
) -> None:
    dispatchers = _dispatchers(db, controlled)
    slow = controlled.targets["slow"]
    slow.max_in_flight = 2
    slow.script = lambda d: Retry("Busy", "later") if d.payload == "1" else Ok()
    put(db, [delivery(str(i), target_id="slow", enqueued_at=time.time()) for i in range(6)])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        await wait_until(lambda: len(slow.calls) >= 6)
        await wait_until(lambda: db.read(queue_depths) == {"b1/r1/slow": 1})
        stop.set()
        await task

    asyncio.run(main())
    assert all(len(call) == 1 for call in slow.calls)
    assert sorted(slow.delivered[:6]) == ["0", "1", "2", "3", "4", "5"]
    # The answered ones are deleted, the failed one rescheduled with its error
    assert rows(db, "SELECT payload, last_error_code FROM deliveries") == [("1", "Busy")]


def test_claimed_ahead_deliveries_not_sent_go_back_unspent_on_stop(
    db: Database, controlled: Controlled
) -> None:
    dispatchers = _dispatchers(db, controlled)
    slow = controlled.targets["slow"]
    slow.max_in_flight = 2
    slow.gate = asyncio.Event()
    put(db, [delivery(str(i), target_id="slow", enqueued_at=time.time()) for i in range(6)])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        # Given two calls are in flight and the other four are claimed ahead of them
        await wait_until(lambda: slow.entered == 2)
        await wait_until(lambda: rows(db, "SELECT count(*) FROM deliveries "
                                          "WHERE attempts > 0") == [(6,)])
        # When the dispatcher stops, then the calls answer
        stop.set()
        await asyncio.sleep(0)
        assert slow.gate is not None
        slow.gate.set()
        await task

    asyncio.run(main())
    # I expect the two calls settled and the four others back in the queue, due, unspent
    assert slow.entered == 2 and len(slow.delivered) == 2
    left = rows(db, "SELECT payload, attempts, claimed_by, due_at <= ? FROM deliveries "
                    "ORDER BY id", (time.time(),))
    sent = set(slow.delivered)
    assert left == [(str(i), 0, None, 1) for i in range(6) if str(i) not in sent]
