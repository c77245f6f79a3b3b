"""The worker registry: a dead worker's leases end when another worker starts or beats."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from delivery_helpers import Controlled, FakeClock, delivery, log_target, make_settings, put, rows

from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.leases import WorkerRegistry, process_start
from clientevents.targets.queue import SCHEMA, claim_due, reschedule, target_key

KEY = target_key("b1", "r1", "t1")
NOW = 1_000_000.0
#: Larger than any pid Linux hands out (pid_max is at most 2**22): never a running process.
NO_SUCH_PID = 2**22 + 7


def _registry(db: Database, clock: FakeClock) -> WorkerRegistry:
    return WorkerRegistry(db, heartbeat_secs=1.0, stale_after_secs=5.0, clock=clock)


def _dead_worker(db: Database, registry: WorkerRegistry, *, pid: int = NO_SUCH_PID,
                 heartbeat_at: float = NOW, host: str | None = None) -> str:
    """A worker row as a process killed with SIGKILL leaves it."""
    worker_id = f"{host or registry.host}:{pid}:dead"
    db.write(lambda c: c.execute(
        "INSERT INTO workers (worker_id, host, pid, pid_start, started_at, heartbeat_at) "
        "VALUES (?, ?, ?, '1', ?, ?)",
        (worker_id, host or registry.host, pid, NOW - 100, heartbeat_at)))
    return worker_id


def _claim(db: Database, owner: str, *, lease_secs: float = 120.0) -> None:
    db.write(lambda c: claim_due(c, KEY, now=NOW, lease_secs=lease_secs, limit=10, owner=owner))


def _dispatchers(db: Database, controlled: Controlled, clock: FakeClock,
                 owner: str) -> Dispatchers:
    settings = make_settings([log_target("t1")])
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    return Dispatchers(db, settings, context, options=DispatchOptions(clock=clock),
                       registry=controlled.registry, owner=owner)


def test_a_new_worker_takes_over_the_leases_of_a_dead_worker_at_once(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given deliveries claimed (lease 120 s) by a worker on this host whose process is gone
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW), delivery("b", enqueued_at=NOW)])
    registry = _registry(db, clock)
    dead = _dead_worker(db, registry)
    _claim(db, dead)
    # When a new worker starts, one second later
    clock.advance(1)
    assert registry.register() == 2
    # I expect the deliveries sent now, as second attempts, not in two minutes
    dispatchers = _dispatchers(db, controlled, clock, registry.worker_id)
    assert asyncio.run(dispatchers.drain_once()) == 2
    assert [(d.payload, d.attempt) for d in controlled.targets["t1"].calls[0]] == [
        ("a", 2), ("b", 2)]
    # and the dead worker forgotten
    assert rows(db, "SELECT worker_id FROM workers") == [(registry.worker_id,)]


def test_a_worker_whose_heartbeat_stopped_is_gone_wherever_it_runs(
    db: Database, clock: FakeClock
) -> None:
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW)])
    registry = _registry(db, clock)
    elsewhere = _dead_worker(db, registry, pid=os.getpid(), host="another-host")
    _claim(db, elsewhere)
    # While its heartbeat is fresh, its leases stand
    clock.advance(4)
    assert registry.register() == 0
    # Once it is older than stale_after_secs, they end
    clock.advance(2)
    assert registry.heartbeat() == 1
    assert rows(db, "SELECT due_at, claimed_by FROM deliveries") == [(clock.now, None)]


def test_the_leases_of_a_live_worker_stand(db: Database, clock: FakeClock) -> None:
    # Given a claim by a worker that is running (this very process, beating its heart)
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW)])
    alive = _registry(db, clock)
    alive.register()
    _claim(db, alive.worker_id)
    # When another worker starts
    other = _registry(db, clock)
    assert other.register() == 0
    # I expect the lease untouched
    assert rows(db, "SELECT due_at, claimed_by FROM deliveries") == [
        (NOW + 120, alive.worker_id)]


def test_a_pid_used_again_by_another_process_is_not_the_worker(
    db: Database, clock: FakeClock
) -> None:
    # Given a worker row whose pid now belongs to a process started at another time
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW)])
    registry = _registry(db, clock)
    reused = _dead_worker(db, registry, pid=os.getpid())  # pid_start '1' is not ours
    _claim(db, reused)
    assert registry.register() == 1


def test_retries_waiting_out_their_backoff_are_not_released(
    db: Database, clock: FakeClock
) -> None:
    # Given a delivery a dead worker claimed, failed and rescheduled for later
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW)])
    registry = _registry(db, clock)
    dead = _dead_worker(db, registry)
    (claimed,) = db.write(
        lambda c: claim_due(c, KEY, now=NOW, lease_secs=120, limit=10, owner=dead))
    db.write(lambda c: reschedule(c, claimed, due_at=NOW + 300, error_code="HTTP503",
                                  error_message="busy"))
    # When a new worker starts, I expect the backoff kept
    assert registry.register() == 0
    assert rows(db, "SELECT due_at FROM deliveries") == [(NOW + 300,)]


def test_a_clean_stop_releases_the_workers_own_leases(db: Database, clock: FakeClock) -> None:
    clock.now = NOW
    put(db, [delivery("a", enqueued_at=NOW)])
    registry = _registry(db, clock)
    registry.register()
    _claim(db, registry.worker_id)
    stop = asyncio.Event()
    stop.set()
    asyncio.run(registry.run(stop))
    assert rows(db, "SELECT due_at, claimed_by FROM deliveries") == [(NOW, None)]
    assert rows(db, "SELECT count(*) FROM workers") == [(0,)]


def test_a_database_made_before_lease_owners_gets_the_column(tmp_path: Path) -> None:
    # Given a queue table without claimed_by, as earlier versions made it
    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace(",\n    claimed_by TEXT", "")
    assert "claimed_by" not in old_schema
    conn = sqlite3.connect(path)
    conn.executescript(old_schema)
    conn.close()
    # When it is opened, I expect the column added and claims to record their owner
    with Database(path) as db:
        put(db, [delivery("a", enqueued_at=NOW)])
        _claim(db, "w1")
        assert rows(db, "SELECT claimed_by FROM deliveries") == [("w1",)]


def test_process_start_tells_running_from_gone() -> None:
    assert process_start(os.getpid())
    assert process_start(NO_SUCH_PID) is None
