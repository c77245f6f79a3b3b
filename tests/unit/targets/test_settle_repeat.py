"""A settle write repeated (its first commit landed but the answer was lost, and the dispatcher
tried again) changes nothing the second time: no delivery removed twice, no dead letter
written twice, no outcome counted twice. ``Dispatcher.settle_write`` relies on it."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from delivery_helpers import Controlled, FakeClock, delivery, log_target, make_settings, put, rows

from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Outcome, Permanent, Retry, TargetContext
from clientevents.targets.counters import delivery_state
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.queue import claim_due, target_key

KEY = target_key("b1", "r1", "t1")
NOW = 1_000_000.0


def test_a_repeated_settle_changes_and_counts_nothing_twice(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    settings = make_settings([log_target("t1")])
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    dispatchers = Dispatchers(db, settings, context, options=DispatchOptions(clock=clock),
                              registry=controlled.registry)
    dispatcher = dispatchers.dispatchers[KEY]
    put(db, [delivery(p, enqueued_at=NOW) for p in ("ok", "bad", "slow")])
    claimed = db.write(lambda conn: claim_due(conn, KEY, now=clock(), lease_secs=120, limit=10))
    answers: dict[str, Outcome] = {"ok": Ok(), "bad": Permanent("HTTP400", "no"),
                                   "slow": Retry("HTTP503", "busy")}
    outcomes = [answers[d.payload] for d in claimed]
    write = functools.partial(dispatcher._settle, batch=claimed, outcomes=outcomes)

    for _ in range(2):
        asyncio.run(dispatcher.settle_write(write, len(claimed)))

    state = db.read(delivery_state)[KEY]
    assert (state.delivered, state.retried, state.dead_lettered) == (1, 1, 1)
    assert rows(db, "SELECT count(*) FROM dead_letters") == [(1,)]
    assert rows(db, "SELECT payload FROM deliveries") == [("slow",)]
