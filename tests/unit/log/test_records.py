"""Records of several events: positions, per-event reads, trims, older files, damaged records."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from store_helpers import OtherConnection

from clientevents.events.envelope import derive_event_id
from clientevents.log import EventLog
from clientevents.log.records import BATCH, LogRow, batch_body
from clientevents.store.engine import Database

BASE_ID = "0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b0000"


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def batch(bus: str, details: list[str], *, base_id: str = BASE_ID, at: float = 1795755600.0,
          ) -> LogRow:
    body = batch_body(source="clientevents", detail_type="prod", account="000000000000",
                      region="local", resources=["client-1"], details=details)
    return LogRow(bus, base_id, at, at, body, None, None, len(details), BATCH)


def single(bus: str, n: int) -> tuple[str, str, float, float, str, None, None]:
    return (bus, f"single-{n}", 1.0, 1.0, f'{{"n":{n}}}', None, None)


def details(count: int) -> list[str]:
    return [f'{{"n": {i}, "text": "entry {i}"}}' for i in range(count)]


def test_a_batch_takes_one_position_per_event_and_reads_as_events(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [single("a", 0), batch("a", details(4)), single("a", 1)]))
    events = log.read_after("a", 0, 100)
    # Given a single event, a batch of four and a single event, the log holds six events at six
    # consecutive positions, in order.
    assert [e.event_id for e in events] == [
        "single-0", *(derive_event_id(BASE_ID, i) for i in range(4)), "single-1"
    ]
    first = events[0].seq
    assert [e.seq for e in events] == list(range(first, first + 6))
    assert log.head("a") == events[-1].seq
    assert log.count("a") == 6
    for index, event in enumerate(events[1:5]):
        envelope = orjson.loads(event.body)
        assert envelope["detail"] == {"n": index, "text": f"entry {index}"}
        assert envelope["id"] == event.event_id
        assert event.event() == envelope
        assert (event.time, event.ingested_at) == (1795755600.0, 1795755600.0)


def test_reads_start_and_stop_inside_a_batch(db: Database) -> None:
    log = EventLog(db)
    second = batch("a", details(3), base_id=BASE_ID[:-4] + "1000")
    db.write(lambda c: log.append(c, [batch("a", details(5)), second]))
    every = log.read_after("a", 0, 100)
    assert len(every) == 8
    # When a consumer stops in the middle of a record, the next read resumes at the next event.
    page = log.read_after("a", 0, 3)
    assert [e.seq for e in page] == [e.seq for e in every[:3]]
    page = log.read_after("a", page[-1].seq, 4)
    assert [e.seq for e in page] == [e.seq for e in every[3:7]]
    page = log.read_after("a", page[-1].seq, 4)
    assert [e.seq for e in page] == [every[7].seq]
    assert log.read_after("a", every[-1].seq, 4) == []
    assert log.read_after("a", 0, 0) == []


def test_time_range_reads_and_trims_see_whole_records(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [batch("a", details(3), at=100.0),
                                      batch("a", details(3), at=200.0,
                                            base_id=BASE_ID[:-4] + "1000")]))
    every = log.read_after("a", 0, 10)
    assert [e.time for e in log.read_time_range("a", 150.0, 250.0, 0, 10)] == [200.0] * 3
    # A record goes only once every one of its events is consumed.
    assert db.write(lambda c: log.trim(c, "a", upto_seq=every[4].seq, ingested_before=1e12)) == 1
    assert [e.seq for e in log.read_after("a", 0, 10)] == [e.seq for e in every[3:]]
    assert db.write(lambda c: log.trim(c, "a", upto_seq=every[5].seq, ingested_before=1e12)) == 1
    assert log.count("a") == 0


def test_positions_are_never_reused_after_a_batch_is_trimmed(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [batch("a", details(10))]))
    head = log.head("a")
    db.write(lambda c: log.trim(c, "a", upto_seq=head, ingested_before=1e12))
    db.write(lambda c: log.append(c, [single("a", 1)]))
    assert log.read_after("a", 0, 10)[0].seq == head + 1


def test_a_record_must_hold_an_event(db: Database) -> None:
    row = batch("a", details(2))._replace(event_count=0)
    with pytest.raises(ValueError, match="at least one event"):
        db.write(lambda c: EventLog.append(c, [row]))


def test_a_damaged_batch_is_skipped_with_an_error(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [batch("a", details(2)), single("a", 9)]))
    other = OtherConnection(db)
    other.execute("UPDATE events SET body = '{\"details\": [' WHERE format = 1")
    other.commit()
    other.close()
    with caplog.at_level(logging.ERROR):
        events = log.read_after("a", 0, 10)
    assert [e.event_id for e in events] == ["single-9"]
    assert "cannot be read as events" in caplog.text


def test_an_unknown_format_names_the_record(db: Database, tmp_path: Path) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [single("a", 1)]))
    other = OtherConnection(db)
    other.execute("UPDATE events SET format = 7")
    other.commit()
    other.close()
    with pytest.raises(ValueError, match="has format 7, which this version does not know"):
        log.read_after("a", 0, 10)


def test_a_database_from_an_older_release_gets_the_new_columns(tmp_path: Path) -> None:
    # Given a file whose events table predates records of several events
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, bus TEXT NOT NULL, "
        "event_id TEXT NOT NULL, time REAL NOT NULL, ingested_at REAL NOT NULL, "
        "body TEXT NOT NULL, replay_name TEXT NULL, replay_rules TEXT NULL);"
        "INSERT INTO events (bus, event_id, time, ingested_at, body) "
        "VALUES ('a', 'old-1', 1.0, 1.0, '{}'), ('a', 'old-2', 2.0, 2.0, '{}');"
    )
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        log = EventLog(db)
        # Then its events read as before, and new records append after them
        db.write(lambda c: log.append(c, [batch("a", details(2))]))
        events = log.read_after("a", 0, 10)
        assert [e.event_id for e in events][:2] == ["old-1", "old-2"]
        assert [e.seq for e in events] == [1, 2, 3, 4]
        EventLog(db)  # a second opening changes nothing
    finally:
        db.close()
