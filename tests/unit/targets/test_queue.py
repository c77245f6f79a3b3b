"""The delivery queue's table operations: enqueue, claim with a lease, settle, dead-letter."""

from __future__ import annotations

import pytest
from delivery_helpers import delivery, put, rows

from clientevents.store.engine import Database
from clientevents.targets.queue import (
    ClaimedDelivery,
    DeadLetter,
    claim_due,
    complete,
    dead_letter,
    next_due_at,
    queue_depths,
    reschedule,
    retire,
    split_target_key,
    target_key,
    unclaim,
)

KEY = target_key("b1", "r1", "t1")


def _claim(
    db: Database, now: float, *, limit: int = 10, lease: float = 30.0
) -> list[ClaimedDelivery]:
    return db.write(lambda c: claim_due(c, KEY, now=now, lease_secs=lease, limit=limit))


def test_target_key_round_trip() -> None:
    assert KEY == "b1/r1/t1"
    assert split_target_key(KEY) == ("b1", "r1", "t1")
    with pytest.raises(ValueError, match="'b1/r1' is not of the form"):
        split_target_key("b1/r1")


def test_enqueued_deliveries_are_due_at_once_in_order(db: Database) -> None:
    put(db, [delivery("a", enqueued_at=100), delivery("b", enqueued_at=100)])
    put(db, [delivery("other", target_id="t2", enqueued_at=100)])
    batch = _claim(db, now=100)
    assert [d.payload for d in batch] == ["a", "b"]
    assert [d.attempt for d in batch] == [1, 1]
    assert db.read(queue_depths) == {KEY: 2, "b1/r1/t2": 1}


def test_claim_is_bounded_and_hides_rows_for_the_lease(db: Database) -> None:
    put(db, [delivery(str(i), enqueued_at=100) for i in range(5)])
    assert len(_claim(db, now=100, limit=3)) == 3
    assert [d.payload for d in _claim(db, now=100)] == ["3", "4"]
    assert _claim(db, now=129) == []
    assert db.read(lambda c: next_due_at(c, KEY)) == 130.0
    again = _claim(db, now=130)
    assert [d.attempt for d in again] == [2, 2, 2, 2, 2]


def test_a_lost_claim_cannot_settle(db: Database) -> None:
    # Given a delivery claimed by a worker that stalled past its lease
    put(db, [delivery("a", enqueued_at=100)])
    (stale,) = _claim(db, now=100)
    # And claimed again by another worker
    (fresh,) = _claim(db, now=131)
    assert fresh.claim == stale.claim + 1
    # I expect the stale worker's answers to change nothing
    assert not db.write(lambda c: complete(c, stale))
    assert not db.write(
        lambda c: reschedule(c, stale, due_at=500, error_code="X", error_message="x")
    )
    assert not db.write(
        lambda c: retire(c, stale, error_code="X", error_message="x",
                         exhausted="Permanent", now=131, keep=True)
    )
    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]
    # And the current holder's to count
    assert db.write(lambda c: complete(c, fresh))
    assert db.read(queue_depths) == {}


def test_reschedule_keeps_the_last_error(db: Database) -> None:
    put(db, [delivery("a", enqueued_at=100)])
    (d,) = _claim(db, now=100)
    assert db.write(
        lambda c: reschedule(c, d, due_at=150, error_code="HTTP503", error_message="busy")
    )
    assert _claim(db, now=149) == []
    (again,) = _claim(db, now=150)
    assert (again.attempt, again.last_error_code, again.last_error_message) == (
        2, "HTTP503", "busy",
    )


def test_retire_moves_a_delivery_to_the_dead_letter_queue(db: Database) -> None:
    put(db, [delivery("a", enqueued_at=100)])
    (d,) = _claim(db, now=100)
    assert db.write(
        lambda c: retire(c, d, error_code="HTTP400", error_message="bad",
                         exhausted="Permanent", now=101, keep=True)
    )
    assert db.read(queue_depths) == {}
    assert rows(
        db,
        "SELECT target_key, bus, rule, target_id, event_id, payload, error_code, "
        "error_message, attempts, exhausted, event_time, failed_at FROM dead_letters",
    ) == [(KEY, "b1", "r1", "t1", "id-a", "a", "HTTP400", "bad", 1, "Permanent", 100.0, 101.0)]


def test_retire_without_keeping_drops(db: Database) -> None:
    put(db, [delivery("a", enqueued_at=100)])
    (d,) = _claim(db, now=100)
    assert db.write(
        lambda c: retire(c, d, error_code="X", error_message="x",
                         exhausted="MaximumRetryAttempts", now=101, keep=False)
    )
    assert db.read(queue_depths) == {}
    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]


def test_dead_letter_accepts_one_entry_or_many_and_checks_the_reason(db: Database) -> None:
    entry = DeadLetter(KEY, "b1", "r1", "t1", "e1", "{}", "TransformError", "no", 0,
                       "TransformError", 1.0, 2.0)
    db.write(lambda c: dead_letter(c, entry))
    db.write(lambda c: dead_letter(c, [entry, entry]))
    assert rows(db, "SELECT count(*) FROM dead_letters") == [(3,)]
    wrong = DeadLetter(KEY, "b1", "r1", "t1", "e1", "{}", "X", "x", 0,
                       "Tired",  # type: ignore[arg-type]
                       1.0, 2.0)
    with pytest.raises(ValueError, match="exhausted='Tired'"):
        db.write(lambda c: dead_letter(c, [wrong]))


def test_unclaim_gives_an_unsent_delivery_back_with_its_attempt(db: Database) -> None:
    put(db, [delivery("a", enqueued_at=100.0), delivery("b", enqueued_at=100.0)])
    first, second = _claim(db, 100.0)
    assert rows(db, "SELECT attempts FROM deliveries ORDER BY id") == [(1,), (1,)]
    # Given the second was claimed again by someone else after its lease ran out
    [again] = db.write(lambda c: claim_due(c, KEY, now=200.0, lease_secs=30.0, limit=1,
                                           only_ids=[second.delivery_id]))
    # When both of the first claims are given back
    assert db.write(lambda c: unclaim(c, [first, second], now=150.0)) == 1
    # I expect only the one still held returned: due now, its attempt taken back
    assert rows(db, "SELECT payload, attempts, due_at, claimed_by FROM deliveries "
                    "ORDER BY id") == [("a", 0, 150.0, None), ("b", 2, 230.0, None)]
    assert again.claim == 2
