"""Dispatchers: every retry path, dead-lettering, leases and the outcome of odd targets."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import (
    Controlled,
    ControlledTarget,
    FakeClock,
    MaxRandom,
    delivery,
    log_target,
    make_settings,
    put,
    rows,
)

from clientevents.errors import PermanentDeliveryError, RetryableDeliveryError
from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Outcome, Permanent, Retry, TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.dlq import DeadLetterQueue
from clientevents.targets.queue import claim_due, queue_depths, target_key
from clientevents.targets.retry import Backoff

KEY = target_key("b1", "r1", "t1")
NOW = 1_000_000.0


def _dispatchers(
    db: Database,
    controlled: Controlled,
    clock: FakeClock,
    targets: list[dict[str, Any]] | None = None,
    *,
    backoff: Backoff | None = None,
    **options: Any,
) -> Dispatchers:
    settings = make_settings(targets or [log_target("t1")])
    opts = DispatchOptions(
        backoff=backoff or Backoff(base_secs=10, cap_secs=10, rng=MaxRandom()),
        clock=clock,
        **options,
    )
    context = TargetContext(db=db, settings=settings, data_dir=Path("."))
    return Dispatchers(db, settings, context, options=opts, registry=controlled.registry)


def _dlq(db: Database) -> list[dict[str, Any]]:
    return [e.to_dict() for e in DeadLetterQueue(db).list()]


def test_transient_failures_are_retried_until_success(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a target that fails twice, then takes the delivery
    dispatchers = _dispatchers(db, controlled, clock)
    target = controlled.targets["t1"]
    answers: list[Outcome] = [Retry("HTTP503", "busy"), Retry("Timeout", "slow"), Ok()]
    target.script = lambda d: answers[d.attempt - 1]
    put(db, [delivery("a", enqueued_at=NOW)])
    # When it is delivered once: it is rescheduled by the backoff (10 s here)
    assert asyncio.run(dispatchers.drain_once()) == 1
    assert rows(db, "SELECT attempts, due_at, last_error_code FROM deliveries") == [
        (1, NOW + 10, "HTTP503")
    ]
    # And nothing is due before that
    assert asyncio.run(dispatchers.drain_once()) == 0
    clock.advance(10)
    assert asyncio.run(dispatchers.drain_once()) == 1
    clock.advance(20)
    assert asyncio.run(dispatchers.drain_once()) == 1
    # I expect three attempts, the delivery gone from the queue, nothing dead-lettered
    assert [d.attempt for call in target.calls for d in call] == [1, 2, 3]
    assert db.read(queue_depths) == {}
    assert _dlq(db) == []


def test_exhausted_by_attempts(db: Database, controlled: Controlled, clock: FakeClock) -> None:
    # Given a target with two retries allowed that always fails transiently
    config = log_target("t1", retry_policy={"maximum_retry_attempts": 2})
    dispatchers = _dispatchers(db, controlled, clock, [config])
    controlled.targets["t1"].script = lambda d: Retry("HTTP500", f"failed attempt {d.attempt}")
    put(db, [delivery("a", enqueued_at=NOW)])
    # When it is attempted three times
    for _ in range(3):
        assert asyncio.run(dispatchers.drain_once()) == 1
        clock.advance(60)
    # I expect the delivery in the dead-letter queue with the reason
    (entry,) = _dlq(db)
    assert entry | {"id": 0, "failed_at": 0} == {
        "id": 0,
        "target_key": KEY,
        "bus": "b1",
        "rule": "r1",
        "target_id": "t1",
        "event_id": "id-a",
        "payload": "a",
        "error_code": "HTTP500",
        "error_message": "failed attempt 3",
        "attempts": 3,
        "exhausted": "MaximumRetryAttempts",
        "event_time": NOW,
        "failed_at": 0,
        "attributes": None,
    }
    assert entry["failed_at"] == NOW + 120
    assert db.read(queue_depths) == {}


def test_exhausted_by_event_age(db: Database, controlled: Controlled, clock: FakeClock) -> None:
    # Given the shortest age (60 s) and a 30 s backoff
    config = log_target("t1", retry_policy={"maximum_event_age_secs": 60})
    dispatchers = _dispatchers(
        db, controlled, clock, [config], backoff=Backoff(30, 30, rng=MaxRandom())
    )
    controlled.targets["t1"].script = lambda d: Retry("ConnectionError", "refused")
    put(db, [delivery("a", enqueued_at=NOW)])
    # When attempts at 0 s, 30 s and 60 s fail (the next would start at 90 s)
    for _ in range(3):
        assert asyncio.run(dispatchers.drain_once()) == 1
        clock.advance(30)
    # I expect it dead-lettered for its age after three attempts
    (entry,) = _dlq(db)
    assert (entry["exhausted"], entry["attempts"], entry["error_code"]) == (
        "MaximumEventAgeInSeconds", 3, "ConnectionError",
    )


def test_a_retry_found_past_its_age_is_dead_lettered_without_sending(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a delivery that failed once, and workers that were down for two minutes
    config = log_target("t1", retry_policy={"maximum_event_age_secs": 60})
    dispatchers = _dispatchers(db, controlled, clock, [config])
    target = controlled.targets["t1"]
    target.script = lambda d: Retry("HTTP502", "bad gateway")
    put(db, [delivery("a", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    clock.advance(120)
    # When it is due again
    assert asyncio.run(dispatchers.drain_once()) == 1
    # I expect no second send, and the last error kept in the dead letter
    assert len(target.calls) == 1
    (entry,) = _dlq(db)
    assert (entry["exhausted"], entry["error_code"], entry["attempts"]) == (
        "MaximumEventAgeInSeconds", "HTTP502", 2,
    )


def test_permanent_failure_is_dead_lettered_at_once(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock)
    target = controlled.targets["t1"]
    target.script = lambda d: Permanent("HTTP400", "bad request") if d.payload == "bad" else Ok()
    put(db, [delivery("good", enqueued_at=NOW), delivery("bad", enqueued_at=NOW)])
    assert asyncio.run(dispatchers.drain_once()) == 2
    (entry,) = _dlq(db)
    assert (entry["payload"], entry["exhausted"], entry["attempts"], entry["error_code"]) == (
        "bad", "Permanent", 1, "HTTP400",
    )
    assert db.read(queue_depths) == {}


def test_without_dead_letters_exhausted_deliveries_are_dropped_with_an_error_log(
    db: Database, controlled: Controlled, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = log_target("t1", dead_letter=False)
    dispatchers = _dispatchers(db, controlled, clock, [config])
    controlled.targets["t1"].script = lambda d: Permanent("HTTP404", "gone")
    put(db, [delivery("a", enqueued_at=NOW)])
    with caplog.at_level(logging.ERROR, logger="clientevents.targets"):
        asyncio.run(dispatchers.drain_once())
    assert db.read(queue_depths) == {}
    assert _dlq(db) == []
    assert any(
        "dropped" in r.getMessage() and "b1/r1/t1" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("error", "code", "retried"),
    [
        (RetryableDeliveryError("try later", code="Busy", after_secs=5), "Busy", True),
        (ConnectionResetError("reset"), "ConnectionError", True),
        (RuntimeError("bug"), "TargetError", True),
        (PermanentDeliveryError("never", code="Refused"), "Refused", False),
    ],
)
def test_errors_raised_by_a_target_apply_to_the_whole_batch(
    db: Database,
    controlled: Controlled,
    clock: FakeClock,
    error: BaseException,
    code: str,
    retried: bool,
) -> None:
    dispatchers = _dispatchers(db, controlled, clock)
    controlled.targets["t1"].raise_error = error
    put(db, [delivery("a", enqueued_at=NOW), delivery("b", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    if retried:
        assert rows(db, "SELECT last_error_code FROM deliveries") == [(code,), (code,)]
        assert _dlq(db) == []
    else:
        assert db.read(queue_depths) == {}
        assert [e["error_code"] for e in _dlq(db)] == [code, code]


def test_a_requested_retry_delay_is_honoured(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock)
    controlled.targets["t1"].script = lambda d: Retry("HTTP429", "slow down", after_secs=42)
    put(db, [delivery("a", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    assert rows(db, "SELECT due_at FROM deliveries") == [(NOW + 42,)]


def test_a_wrong_number_of_outcomes_retries_the_batch(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock)
    controlled.targets["t1"].answer_override = [Ok()]
    put(db, [delivery("a", enqueued_at=NOW), delivery("b", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    assert rows(db, "SELECT last_error_code FROM deliveries") == [
        ("TargetError",), ("TargetError",)
    ]


def test_a_send_that_times_out_is_retried(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a target that never answers, and a short send timeout
    dispatchers = _dispatchers(db, controlled, clock, send_timeout_secs=0.05, lease_secs=5)
    controlled.targets["t1"].gate = asyncio.Event()  # never opened
    put(db, [delivery("a", enqueued_at=NOW)])
    asyncio.run(dispatchers.drain_once())
    assert rows(db, "SELECT attempts, last_error_code FROM deliveries") == [(1, "Timeout")]


def test_a_crashed_claim_is_redelivered_after_its_lease(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a delivery claimed by a worker that crashed before finishing (lease 120 s)
    dispatchers = _dispatchers(db, controlled, clock)
    put(db, [delivery("a", enqueued_at=NOW)])
    db.write(lambda c: claim_due(c, KEY, now=NOW, lease_secs=120, limit=10))
    target = controlled.targets["t1"]
    # When the lease has not run out, nothing is sent
    clock.advance(119)
    assert asyncio.run(dispatchers.drain_once()) == 0
    assert target.calls == []
    # When it has, the delivery is sent again, as the second attempt
    clock.advance(1)
    assert asyncio.run(dispatchers.drain_once()) == 1
    assert [(d.payload, d.attempt) for d in target.calls[0]] == [("a", 2)]
    assert db.read(queue_depths) == {}


def test_a_delivery_that_keeps_crashing_its_worker_runs_out_of_attempts(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given one retry allowed and two claims that never finished
    config = log_target("t1", retry_policy={"maximum_retry_attempts": 1})
    dispatchers = _dispatchers(db, controlled, clock, [config])
    put(db, [delivery("poison", enqueued_at=NOW)])
    for _ in range(2):
        db.write(lambda c: claim_due(c, KEY, now=clock(), lease_secs=1, limit=10))
        clock.advance(1)
    # When it is due again, I expect it dead-lettered without a third send
    assert asyncio.run(dispatchers.drain_once()) == 1
    assert controlled.targets["t1"].calls == []
    (entry,) = _dlq(db)
    assert (entry["exhausted"], entry["error_code"], entry["attempts"]) == (
        "MaximumRetryAttempts", "Interrupted", 3,
    )


def test_drain_once_delivers_each_due_delivery_once(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given zero backoff, so a failed delivery is due again at once
    dispatchers = _dispatchers(db, controlled, clock, backoff=Backoff(0, 0), batch_size=2)
    controlled.targets["t1"].script = lambda d: Retry("X", "x")
    put(db, [delivery(str(i), enqueued_at=NOW) for i in range(5)])
    assert asyncio.run(dispatchers.drain_once()) == 5
    assert [len(call) for call in controlled.targets["t1"].calls] == [2, 2, 1]
    assert asyncio.run(dispatchers.drain_once()) == 5


def test_every_target_of_every_rule_gets_a_dispatcher(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    dispatchers = _dispatchers(db, controlled, clock, [log_target("t1"), log_target("t2")])
    assert sorted(dispatchers.targets) == ["b1/r1/t1", "b1/r1/t2"]
    put(db, [delivery("a", enqueued_at=NOW), delivery("b", target_id="t2", enqueued_at=NOW)])
    assert asyncio.run(dispatchers.drain_once()) == 2
    assert controlled.targets["t1"].delivered == ["a"]
    assert controlled.targets["t2"].delivered == ["b"]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="lease_secs"):
        DispatchOptions(lease_secs=10, send_timeout_secs=10)
    with pytest.raises(ValueError, match="batch_size"):
        DispatchOptions(batch_size=0)
    with pytest.raises(ValueError, match="poll_interval_secs"):
        DispatchOptions(poll_interval_secs=0)


def test_a_target_can_ask_for_smaller_batches_and_a_longer_timeout(
    db: Database, controlled: Controlled, clock: FakeClock
) -> None:
    # Given a target that takes at most three deliveries per batch and up to 200 s a batch
    slow = ControlledTarget()
    slow.max_batch_size = 3
    slow.send_timeout_secs = 200.0
    controlled.targets["t1"] = slow
    dispatchers = _dispatchers(db, controlled, clock, batch_size=100)
    dispatcher = dispatchers.dispatchers[KEY]
    # I expect its claims sized and leased for it
    assert (dispatcher.batch_size, dispatcher.send_timeout_secs, dispatcher.lease_secs) == (
        3, 200.0, 400.0,
    )
    put(db, [delivery(str(i), enqueued_at=NOW) for i in range(7)])
    assert asyncio.run(dispatchers.drain_once()) == 7
    assert [len(call) for call in slow.calls] == [3, 3, 1]
