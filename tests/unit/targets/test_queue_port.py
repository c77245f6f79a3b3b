"""The dispatchers reach the delivery queue only through its port: given the in-memory queue,
they deliver, retry and dead-letter from it, and the state store's queue tables stay empty."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from delivery_helpers import Controlled, FakeClock, MaxRandom, delivery, log_target, make_settings

from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Outcome, Permanent, Retry, TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.memory_queue import MemoryDeliveryQueue
from clientevents.targets.queue import SQL_DELIVERY_QUEUE, target_key
from clientevents.targets.retry import Backoff

KEY = target_key("b1", "r1", "t1")
NOW = 1_000_000.0
NO_CONN: Any = None  # the memory queue takes no state-store connection


def _dispatchers(
    db: Database, controlled: Controlled, clock: FakeClock, queue: MemoryDeliveryQueue
) -> Dispatchers:
    settings = make_settings([log_target("t1")])
    opts = DispatchOptions(backoff=Backoff(base_secs=10, cap_secs=10, rng=MaxRandom()),
                           clock=clock)
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    return Dispatchers(db, settings, context, options=opts, registry=controlled.registry,
                       queue=queue)


def test_dispatchers_deliver_retry_and_dead_letter_through_the_memory_queue(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    queue = MemoryDeliveryQueue()
    dispatchers = _dispatchers(db, controlled, clock, queue)
    target = controlled.targets["t1"]
    answers: dict[str, list[Outcome]] = {
        "ok": [Ok()],
        "retried": [Retry("HTTP503", "busy"), Ok()],
        "refused": [Permanent("HTTP400", "bad")],
    }
    target.script = lambda d: answers[d.payload][d.attempt - 1]
    clock.now = NOW
    queue.enqueue(NO_CONN, [delivery(p, enqueued_at=NOW) for p in answers])

    assert asyncio.run(dispatchers.drain_once()) == 3
    assert queue.queue_depths(NO_CONN) == {KEY: 1}
    assert queue.next_due_at(NO_CONN, KEY) == NOW + 10
    clock.advance(10)
    assert asyncio.run(dispatchers.drain_once()) == 1

    assert sorted(target.delivered) == ["ok", "refused", "retried", "retried"]
    assert queue.queue_depths(NO_CONN) == {}
    [letter] = queue.dead_letters(NO_CONN, KEY)
    assert (letter.payload, letter.error_code, letter.exhausted) == ("refused", "HTTP400",
                                                                    "Permanent")
    # the state store's queue was never used
    assert db.read(SQL_DELIVERY_QUEUE.queue_depths) == {}
    assert db.read(lambda conn: SQL_DELIVERY_QUEUE.dead_letters(conn)) == []
