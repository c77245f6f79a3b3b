"""The dead-letter queue API: list, get, redrive (one transaction), purge."""

from __future__ import annotations

import pytest
from delivery_helpers import FakeClock, log_target, make_settings, rows

from clientevents.store.engine import Database
from clientevents.targets.dlq import DeadLetterQueue
from clientevents.targets.queue import DeadLetter, dead_letter, target_key


def _entry(
    payload: str,
    *,
    bus: str = "b1",
    rule: str = "r1",
    target_id: str = "t1",
    exhausted: str = "MaximumRetryAttempts",
) -> DeadLetter:
    return DeadLetter(
        target_key=target_key(bus, rule, target_id),
        bus=bus,
        rule=rule,
        target_id=target_id,
        event_id=f"id-{payload}",
        payload=payload,
        error_code="HTTP500" if exhausted != "TransformError" else "TransformError",
        error_message="failed",
        attempts=186 if exhausted != "TransformError" else 0,
        exhausted=exhausted,  # type: ignore[arg-type]
        event_time=10.0,
        failed_at=20.0,
    )


@pytest.fixture
def filled(db: Database) -> Database:
    db.write(
        lambda c: dead_letter(
            c,
            [
                _entry("a"),
                _entry("b", target_id="t2"),
                _entry("c", rule="r2"),
                _entry("d", bus="b2"),
                _entry("e", exhausted="TransformError"),
            ],
        )
    )
    return db


def test_list_filters_and_pages(filled: Database) -> None:
    dlq = DeadLetterQueue(filled)
    assert [e.payload for e in dlq.list()] == ["a", "b", "c", "d", "e"]
    assert [e.payload for e in dlq.list(bus="b1", rule="r1")] == ["a", "b", "e"]
    assert [e.payload for e in dlq.list(target="t2")] == ["b"]
    assert [e.payload for e in dlq.list(target="b1/r2/t1")] == ["c"]
    first = dlq.list(limit=2)
    assert [e.payload for e in first] == ["a", "b"]
    assert [e.payload for e in dlq.list(limit=2, after_id=first[-1].id)] == ["c", "d"]
    assert dlq.count() == 5 and dlq.count(bus="b2") == 1
    with pytest.raises(ValueError, match="limit must be at least 1"):
        dlq.list(limit=0)


def test_get_returns_the_whole_entry(filled: Database) -> None:
    dlq = DeadLetterQueue(filled)
    entry = dlq.get(1)
    assert entry is not None
    assert entry.to_dict() == {
        "id": 1, "target_key": "b1/r1/t1", "bus": "b1", "rule": "r1", "target_id": "t1",
        "event_id": "id-a", "payload": "a", "error_code": "HTTP500", "error_message": "failed",
        "attempts": 186, "exhausted": "MaximumRetryAttempts", "event_time": 10.0,
        "failed_at": 20.0,
        "attributes": None,
    }
    assert dlq.get(99) is None


def test_redrive_selected_entries_makes_fresh_deliveries(filled: Database) -> None:
    clock = FakeClock(500.0)
    dlq = DeadLetterQueue(filled, clock=clock)
    result = dlq.redrive([1, 3, 42])
    assert result.redriven == [1, 3]
    assert list(result.skipped) == [42]
    # I expect fresh deliveries (attempt count 0, age from now, event time kept) ...
    assert rows(
        filled,
        "SELECT target_key, event_id, payload, event_time, enqueued_at, attempts, due_at "
        "FROM deliveries ORDER BY id",
    ) == [
        ("b1/r1/t1", "id-a", "a", 10.0, 500.0, 0, 500.0),
        ("b1/r2/t1", "id-c", "c", 10.0, 500.0, 0, 500.0),
    ]
    # ... and the entries gone from the dead-letter queue
    assert [e.payload for e in dlq.list()] == ["b", "d", "e"]


def test_redrive_all_with_a_target_filter(filled: Database) -> None:
    dlq = DeadLetterQueue(filled)
    result = dlq.redrive(target="t1", bus="b1")
    assert result.redriven == [1, 3]
    assert list(result.skipped) == [5]  # the TransformError entry
    assert "TransformError" in result.skipped[5]
    assert rows(filled, "SELECT payload FROM deliveries ORDER BY id") == [("a",), ("c",)]


def test_transform_errors_are_redriven_only_when_asked(filled: Database) -> None:
    dlq = DeadLetterQueue(filled)
    assert dlq.redrive([5]).redriven == []
    assert dlq.redrive([5], include_transform_errors=True).redriven == [5]
    assert rows(filled, "SELECT payload FROM deliveries") == [("e",)]


def test_redrive_leaves_entries_of_unconfigured_targets(filled: Database) -> None:
    settings = make_settings([log_target("t1"), log_target("t2")], extra_buses=["b2"])
    dlq = DeadLetterQueue(filled, settings)
    result = dlq.redrive()
    assert result.redriven == [1, 2]
    assert sorted(result.skipped) == [3, 4, 5]
    assert "not in the configuration" in result.skipped[3]


def test_purge_selected_filtered_and_all(filled: Database) -> None:
    dlq = DeadLetterQueue(filled)
    assert dlq.purge([1, 99]) == 1
    assert dlq.purge(rule="r2") == 1
    assert [e.payload for e in dlq.list()] == ["b", "d", "e"]
    assert dlq.purge() == 3
    assert dlq.list() == []
