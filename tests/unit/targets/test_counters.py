"""Delivery counters: written in the dispatcher's settle write, one row per target, durable."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import (
    Controlled,
    FakeClock,
    MaxRandom,
    delivery,
    log_target,
    make_settings,
    put,
)

from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Permanent, Retry, TargetContext
from clientevents.targets.counters import delivery_state
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.queue import target_key
from clientevents.targets.retry import Backoff

KEY = target_key("b1", "r1", "t1")
NOW = 1_000_000.0


def _dispatchers(db: Database, controlled: Controlled, clock: FakeClock,
                 targets: list[dict[str, Any]]) -> Dispatchers:
    settings = make_settings(targets)
    opts = DispatchOptions(backoff=Backoff(base_secs=10, cap_secs=10, rng=MaxRandom()),
                           clock=clock)
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    return Dispatchers(db, settings, context, options=opts, registry=controlled.registry)


def test_outcomes_are_counted_per_target(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a target that takes "ok*", refuses "bad*" for good and fails "slow*" once
    config = log_target("t1", retry_policy={"maximum_retry_attempts": 1})
    dispatchers = _dispatchers(db, controlled, clock, [config])

    def answer(d: Any) -> Any:
        if d.payload.startswith("bad"):
            return Permanent("HTTP400", "no such field")
        if d.payload.startswith("slow"):
            return Retry("HTTP503", f"busy {d.attempt}")
        return Ok()

    controlled.targets["t1"].script = answer
    put(db, [delivery(p, enqueued_at=NOW) for p in ("ok1", "ok2", "bad1", "slow1")])
    # When every delivery is tried until it is settled for good
    asyncio.run(dispatchers.drain_once())
    clock.advance(60)
    asyncio.run(dispatchers.drain_once())
    # I expect two delivered, one retry, two dead letters (the refused and the exhausted one)
    state = db.read(delivery_state)[KEY]
    assert (state.delivered, state.retried, state.dead_lettered, state.dropped) == (2, 1, 2, 0)
    assert (state.pending, state.retrying, state.dead_letters) == (0, 0, 2)
    assert state.last_error_code == "HTTP503"
    assert state.last_error_message == "busy 2"
    assert state.last_error_at == NOW + 60
    assert state.last_delivered_at == NOW


def test_a_retrying_delivery_shows_as_pending_and_retrying(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock, [log_target("t1")])
    controlled.targets["t1"].script = lambda d: Retry("Timeout", "slow")
    put(db, [delivery("a", enqueued_at=NOW - 1), delivery("b", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    state = db.read(delivery_state)[KEY]
    assert (state.pending, state.retrying, state.retried) == (2, 2, 2)
    assert state.oldest_enqueued_at == NOW - 1


def test_a_target_without_dead_letters_counts_drops(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock, [log_target("t1", dead_letter=False)])
    controlled.targets["t1"].script = lambda d: Permanent("HTTP404", "gone")
    put(db, [delivery("a", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    state = db.read(delivery_state)[KEY]
    assert (state.dead_lettered, state.dropped, state.dead_letters) == (0, 1, 0)


def test_counters_survive_reopening_the_database(
    tmp_path: Path, controlled: Controlled, clock: FakeClock
) -> None:
    path = tmp_path / "clientevents.db"
    with Database(path) as db:
        dispatchers = _dispatchers(db, controlled, clock, [log_target("t1")])
        put(db, [delivery(str(i), enqueued_at=NOW) for i in range(5)])
        asyncio.run(dispatchers.drain_once())
    with Database(path) as db:
        assert db.read(delivery_state)[KEY].delivered == 5


def test_one_counter_write_per_batch_not_per_delivery(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a batch of 50 deliveries settled in one write (SQLite's statement trace counts them)
    if db.dialect.name != "sqlite":
        pytest.skip("counts statements with SQLite's trace callback")
    dispatchers = _dispatchers(db, controlled, clock, [log_target("t1")])
    put(db, [delivery(str(i), enqueued_at=NOW) for i in range(50)])
    statements: list[str] = []

    def trace(conn: Any) -> None:
        conn.set_trace_callback(statements.append)

    db.write(trace)
    asyncio.run(dispatchers.drain_once())
    db.write(lambda conn: conn.set_trace_callback(None))
    # I expect a single upsert of the counters
    upserts = [s for s in statements if "delivery_counters" in s]
    assert len(upserts) == 1
