"""The delivery-queue port's contract (``clientevents.targets.queue.DeliveryQueue``), held by
every implementation: the state store's tables on SQLite and on PostgreSQL (each test in a fresh
schema, dropped afterwards), and the in-memory queue.

Every operation runs inside a state-store transaction, as the components call it; time is the
``now`` each operation is given, so leases and retries are checked without waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from claim_harness import claim_from_two
from store_helpers import close_test_store, open_second_store, open_test_store

from clientevents.targets.memory_queue import MemoryDeliveryQueue
from clientevents.targets.queue import (
    SCHEMA,
    SQL_DELIVERY_QUEUE,
    ClaimedDelivery,
    DeadLetter,
    Delivery,
    DeliveryQueue,
    target_key,
)

T = TypeVar("T")

KEY = target_key("bus", "rule", "t1")
OTHER = target_key("bus", "rule", "t2")
LEASE = 30.0


@dataclass
class QueueUnderTest:
    """One implementation, with the transactions its callers would use."""

    name: str
    queue: DeliveryQueue
    write: Callable[[Callable[[Any], Any]], Any]
    read: Callable[[Callable[[Any], Any]], Any]
    #: another handle on the same queue (another process's view), and how to close it
    second: Callable[[], tuple[Callable[[Callable[[Any], Any]], Any], Callable[[], None]]]


def _open(name: str, tmp_path: Path) -> Iterator[QueueUnderTest]:
    if name == "memory":
        mem = MemoryDeliveryQueue()

        def run(fn: Callable[[Any], Any]) -> Any:
            return fn(None)

        yield QueueUnderTest(name, mem, run, run, lambda: (run, lambda: None))
        return
    db = open_test_store(tmp_path, name)
    db.ensure_schema(SCHEMA)

    def second() -> tuple[Callable[[Callable[[Any], Any]], Any], Callable[[], None]]:
        other = open_second_store(db)
        return other.write, other.close

    try:
        yield QueueUnderTest(name, SQL_DELIVERY_QUEUE, db.write, db.read, second)
    finally:
        close_test_store(db)


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def q(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueUnderTest]:
    """Every implementation."""
    yield from _open(str(request.param), tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def tq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueUnderTest]:
    """The implementations whose changes belong to the caller's transaction (not the
    in-memory queue, which has none: ``memory_queue.py``)."""
    yield from _open(str(request.param), tmp_path)


def delivery(n: int, *, key: str = KEY, at: float = 100.0, attributes: str | None = None,
             event_id: str | None = None) -> Delivery:
    _, _, target_id = key.split("/")
    return Delivery(key, "bus", "rule", target_id, event_id or f"e{n}", f'{{"n": {n}}}',
                    event_time=at - 50.0, enqueued_at=at, attributes=attributes)


def put(q: QueueUnderTest, *deliveries: Delivery) -> None:
    q.write(lambda conn: q.queue.enqueue(conn, list(deliveries)))


def claim(q: QueueUnderTest, *, now: float, limit: int = 100, key: str = KEY,
          owner: str | None = None, only_ids: list[int] | None = None) -> list[ClaimedDelivery]:
    result: list[ClaimedDelivery] = q.write(lambda conn: q.queue.claim_due(
        conn, key, now=now, lease_secs=LEASE, limit=limit, only_ids=only_ids, owner=owner))
    return result


def payloads(batch: list[ClaimedDelivery]) -> list[str]:
    return [d.payload for d in batch]


def depths(q: QueueUnderTest) -> dict[str, int]:
    result: dict[str, int] = q.read(q.queue.queue_depths)
    return result


def dead(q: QueueUnderTest, key: str | None = KEY) -> list[DeadLetter]:
    result: list[DeadLetter] = q.read(lambda conn: q.queue.dead_letters(conn, key))
    return result


# -- the port --------------------------------------------------------------------------------


def test_the_implementation_is_a_delivery_queue(q: QueueUnderTest) -> None:
    assert isinstance(q.queue, DeliveryQueue)


# -- enqueue ---------------------------------------------------------------------------------


def test_an_enqueued_delivery_comes_back_whole_with_its_first_attempt(q: QueueUnderTest) -> None:
    put(q, delivery(1, attributes='{"h": "v"}'))
    [got] = claim(q, now=100.0)
    assert (got.target_key, got.bus, got.rule, got.target_id) == (KEY, "bus", "rule", "t1")
    assert (got.event_id, got.payload, got.attributes) == ("e1", '{"n": 1}', '{"h": "v"}')
    assert (got.event_time, got.enqueued_at) == (50.0, 100.0)
    assert (got.attempt, got.last_error_code, got.last_error_message) == (1, None, None)


def test_a_delivery_is_due_from_when_it_was_enqueued(q: QueueUnderTest) -> None:
    put(q, delivery(1, at=100.0))
    assert claim(q, now=99.0) == []
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 100.0
    assert len(claim(q, now=100.0)) == 1


def test_enqueue_keeps_each_target_in_its_own_queue(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2, key=OTHER), delivery(3))
    assert payloads(claim(q, now=100.0, key=OTHER)) == ['{"n": 2}']
    assert payloads(claim(q, now=100.0)) == ['{"n": 1}', '{"n": 3}']


def test_enqueue_does_not_deduplicate_the_caller_transaction_does(q: QueueUnderTest) -> None:
    """The same event enqueued twice is two deliveries: exactly-once hand-off into the queue
    is the caller's transaction (next test), and receivers de-duplicate on the event id."""
    put(q, delivery(1))
    put(q, delivery(1))
    assert depths(q) == {KEY: 2}
    assert [d.event_id for d in claim(q, now=100.0)] == ["e1", "e1"]


def test_a_failed_write_enqueues_nothing_and_its_retry_enqueues_once(
    tq: QueueUnderTest,
) -> None:
    q = tq

    def failing(conn: Any) -> None:
        q.queue.enqueue(conn, [delivery(1)])
        q.queue.dead_letter(conn, _dead_letter(1))
        raise RuntimeError("the router's offset could not move")

    with pytest.raises(RuntimeError):
        q.write(failing)
    assert depths(q) == {}
    assert dead(q) == []
    put(q, delivery(1))
    assert depths(q) == {KEY: 1}


def test_an_empty_enqueue_changes_nothing(q: QueueUnderTest) -> None:
    put(q)
    assert depths(q) == {}


# -- claims ----------------------------------------------------------------------------------


def test_claims_take_the_oldest_due_first_up_to_the_limit(q: QueueUnderTest) -> None:
    put(q, delivery(3, at=103.0), delivery(1, at=101.0), delivery(2, at=102.0))
    assert payloads(claim(q, now=200.0, limit=2)) == ['{"n": 1}', '{"n": 2}']
    assert payloads(claim(q, now=200.0, limit=2)) == ['{"n": 3}']
    assert claim(q, now=200.0) == []


def test_a_claim_can_be_restricted_to_given_ids(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2), delivery(3))
    ids = q.read(lambda conn: q.queue.due_ids(conn, KEY, 100.0))
    assert len(ids) == 3
    assert payloads(claim(q, now=100.0, only_ids=[ids[2], ids[0]])) == ['{"n": 1}', '{"n": 3}']
    assert claim(q, now=100.0, only_ids=[]) == []
    assert q.read(lambda conn: q.queue.due_ids(conn, KEY, 100.0)) == [ids[1]]


def test_two_claimers_on_two_connections_never_hold_the_same_delivery(q: QueueUnderTest) -> None:
    count = 150
    put(q, *(delivery(n, at=100.0 + n / 1000) for n in range(count)))
    other_write, close_other = q.second()

    def claimer(write: Callable[[Callable[[Any], Any]], Any],
                owner: str) -> Callable[[], list[int]]:
        def take() -> list[int]:
            got: list[ClaimedDelivery] = write(lambda conn: q.queue.claim_due(
                conn, KEY, now=500.0, lease_secs=LEASE, limit=7, owner=owner))
            return [d.delivery_id for d in got]

        return take

    try:
        claim_from_two(claimer(q.write, "a"), claimer(other_write, "b"), count,
                       what="deliveries")
    finally:
        close_other()


def test_a_claimed_delivery_is_hidden_until_its_lease_ends(q: QueueUnderTest) -> None:
    put(q, delivery(1))
    [first] = claim(q, now=100.0)
    assert claim(q, now=100.0 + LEASE - 1) == []
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 100.0 + LEASE
    [again] = claim(q, now=100.0 + LEASE)
    assert again.delivery_id == first.delivery_id
    assert again.attempt == 2
    assert again.claim != first.claim


def test_after_the_lease_the_first_claimer_can_no_longer_settle(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2))
    first = claim(q, now=100.0)
    second = claim(q, now=100.0 + LEASE)
    assert len(second) == 2
    assert q.read(lambda conn: q.queue.still_claimed(conn, first)) == set()
    assert q.read(lambda conn: q.queue.still_claimed(conn, second)) == {
        d.delivery_id for d in second}
    assert q.write(lambda conn: q.queue.complete(conn, first[0])) is False
    assert q.write(lambda conn: q.queue.reschedule(
        conn, first[1], due_at=999.0, error_code="X", error_message="late")) is False
    assert q.write(lambda conn: q.queue.retire(
        conn, first[0], error_code="X", error_message="late", exhausted="Permanent",
        now=200.0, keep=True)) is False
    assert q.write(lambda conn: q.queue.unclaim(conn, first, now=200.0)) == 0
    assert depths(q) == {KEY: 2}
    assert dead(q) == []
    assert all(q.write(lambda conn, d=d: q.queue.complete(conn, d)) for d in second)
    assert depths(q) == {}


# -- settling --------------------------------------------------------------------------------


def test_complete_removes_the_delivery_once(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2))
    [one, _] = claim(q, now=100.0)
    assert q.write(lambda conn: q.queue.complete(conn, one)) is True
    assert q.write(lambda conn: q.queue.complete(conn, one)) is False
    assert depths(q) == {KEY: 1}
    assert claim(q, now=100.0 + LEASE + 1)[0].payload == '{"n": 2}'


def test_reschedule_makes_it_due_at_the_given_time_with_its_error(q: QueueUnderTest) -> None:
    put(q, delivery(1))
    [d] = claim(q, now=100.0)
    assert q.write(lambda conn: q.queue.reschedule(
        conn, d, due_at=110.0, error_code="HTTP503", error_message="busy")) is True
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 110.0
    assert claim(q, now=109.9) == []
    [again] = claim(q, now=110.0)
    assert (again.attempt, again.last_error_code, again.last_error_message) == (
        2, "HTTP503", "busy")


def test_a_reschedule_repeated_changes_nothing_the_second_time(q: QueueUnderTest) -> None:
    put(q, delivery(1))
    [d] = claim(q, now=100.0)
    assert q.write(lambda conn: q.queue.reschedule(
        conn, d, due_at=110.0, error_code="HTTP503", error_message="busy")) is True
    assert q.write(lambda conn: q.queue.reschedule(
        conn, d, due_at=500.0, error_code="HTTP500", error_message="again")) is False
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 110.0
    [again] = claim(q, now=110.0)
    assert (again.attempt, again.last_error_code) == (2, "HTTP503")


def test_retire_moves_it_to_the_dead_letters_with_its_attributes(q: QueueUnderTest) -> None:
    put(q, delivery(1, attributes='{"path": "/a"}'))
    claim(q, now=100.0)
    [d] = claim(q, now=100.0 + LEASE)
    assert q.write(lambda conn: q.queue.retire(
        conn, d, error_code="HTTP400", error_message="bad request", exhausted="Permanent",
        now=222.0, keep=True)) is True
    assert depths(q) == {}
    [letter] = dead(q)
    assert letter == DeadLetter(
        target_key=KEY, bus="bus", rule="rule", target_id="t1", event_id="e1",
        payload='{"n": 1}', error_code="HTTP400", error_message="bad request", attempts=2,
        exhausted="Permanent", event_time=50.0, failed_at=222.0, attributes='{"path": "/a"}')


def test_retire_without_keep_drops_it(q: QueueUnderTest) -> None:
    put(q, delivery(1))
    [d] = claim(q, now=100.0)
    assert q.write(lambda conn: q.queue.retire(
        conn, d, error_code="X", error_message="m", exhausted="MaximumRetryAttempts",
        now=101.0, keep=False)) is True
    assert depths(q) == {}
    assert dead(q, None) == []


def test_unclaim_gives_it_back_due_now_with_the_attempt_taken_back(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2))
    batch = claim(q, now=100.0)
    assert q.write(lambda conn: q.queue.unclaim(conn, batch, now=105.0)) == 2
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 105.0
    again = claim(q, now=105.0)
    assert [d.attempt for d in again] == [1, 1]


# -- dead letters ----------------------------------------------------------------------------


def _dead_letter(n: int, exhausted: Any = "MaximumRetryAttempts") -> DeadLetter:
    return DeadLetter(KEY, "bus", "rule", "t1", f"e{n}", f'{{"n": {n}}}', "Timeout", "slow",
                      attempts=3, exhausted=exhausted, event_time=1.0, failed_at=2.0,
                      attributes=None)


def test_dead_letters_are_kept_in_order(q: QueueUnderTest) -> None:
    q.write(lambda conn: q.queue.dead_letter(conn, _dead_letter(1)))
    q.write(lambda conn: q.queue.dead_letter(conn, [_dead_letter(2), _dead_letter(3)]))
    assert [d.event_id for d in dead(q)] == ["e1", "e2", "e3"]
    assert dead(q)[0] == _dead_letter(1)
    assert dead(q, OTHER) == []


def test_a_dead_letter_with_an_unknown_reason_is_refused(q: QueueUnderTest) -> None:
    with pytest.raises(ValueError, match="exhausted"):
        q.write(lambda conn: q.queue.dead_letter(conn, _dead_letter(1, exhausted="Tired")))
    assert dead(q, None) == []


# -- dead workers, depths --------------------------------------------------------------------


def test_release_claims_ends_only_the_leases_of_the_gone_workers(q: QueueUnderTest) -> None:
    put(q, delivery(1), delivery(2))
    [gone] = claim(q, now=100.0, limit=1, owner="worker-gone")
    [alive] = claim(q, now=100.0, limit=1, owner="worker-alive")
    assert claim(q, now=101.0) == []
    assert q.write(lambda conn: q.queue.release_claims(conn, ["worker-gone"], now=101.0)) == 1
    assert q.write(lambda conn: q.queue.release_claims(conn, ["worker-gone"], now=101.0)) == 0
    assert q.read(lambda conn: q.queue.next_due_at(conn, KEY)) == 101.0
    [again] = claim(q, now=101.0)
    assert again.delivery_id == gone.delivery_id
    assert again.attempt == 2
    assert q.write(lambda conn: q.queue.complete(conn, gone)) is False  # its claim is over
    assert q.write(lambda conn: q.queue.complete(conn, again)) is True
    assert q.write(lambda conn: q.queue.complete(conn, alive)) is True
    assert depths(q) == {}


def test_queue_depths_count_waiting_and_claimed_deliveries_per_target(q: QueueUnderTest) -> None:
    assert depths(q) == {}
    put(q, delivery(1), delivery(2), delivery(3), delivery(4, key=OTHER))
    [first, *_] = claim(q, now=100.0, limit=1)
    assert depths(q) == {KEY: 3, OTHER: 1}
    q.write(lambda conn: q.queue.complete(conn, first))
    assert depths(q) == {KEY: 2, OTHER: 1}
    assert q.read(lambda conn: q.queue.next_due_at(conn, "bus/rule/none")) is None
