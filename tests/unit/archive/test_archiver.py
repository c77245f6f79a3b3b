"""The archiver: filtering, replayed events, offsets and log retention, archive retention."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from archive_helpers import BUS, T0, FakeClock, archived_ns, entry, make_settings, publish, rows

from clientevents.archive import Archiver, Archives
from clientevents.archive.archiver import DAY_SECS
from clientevents.archive.schema import archive_group
from clientevents.events.publisher import Publisher
from clientevents.log.eventlog import EventLog
from clientevents.log.retention import LogRetention
from clientevents.routing.router import Router
from clientevents.store.engine import Database


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def test_an_archive_without_pattern_keeps_every_event_with_count_and_size(db: Database) -> None:
    # Given an archive with no event pattern and five published events
    settings = make_settings()
    publisher = Publisher(db, settings)
    ids = publish(publisher, [entry(n) for n in range(5)])
    archiver = Archiver(db, settings)

    # When the archiver runs until caught up
    assert archiver.archive_pass() == 5
    assert archiver.archive_pass() == 0

    # Then every event is archived once, with its id, time and envelope
    assert archived_ns(db) == [0, 1, 2, 3, 4]
    copies = Archives(db, settings).events("a1")
    assert [c.event_id for c in copies] == ids
    assert [c.time for c in copies] == [T0 + n for n in range(5)]
    bodies = [body for (body,) in rows(db, "SELECT body FROM events ORDER BY seq")]
    assert [c.body for c in copies] == bodies
    count, size = Archives(db, settings).stats("a1")
    assert count == 5
    assert size == sum(len(b.encode()) for b in bodies)


def test_the_event_pattern_filters_what_is_archived(db: Database) -> None:
    settings = make_settings(
        [
            {"name": "big", "bus": BUS,
             "event_pattern": {"detail": {"n": [{"numeric": [">=", 3]}]}}},
            {"name": "from_y", "bus": BUS, "event_pattern": {"source": ["y"]}},
            {"name": "all", "bus": BUS},
        ]
    )
    publisher = Publisher(db, settings)
    publish(publisher, [entry(n, source="y" if n % 2 else "x") for n in range(6)])

    Archiver(db, settings).archive_pass()

    assert archived_ns(db, "big") == [3, 4, 5]
    assert archived_ns(db, "from_y") == [1, 3, 5]
    assert archived_ns(db, "all") == [0, 1, 2, 3, 4, 5]
    assert Archives(db, settings).stats("from_y")[0] == 3


def test_replayed_events_are_never_archived(db: Database) -> None:
    settings = make_settings()
    publisher = Publisher(db, settings)
    publish(publisher, [entry(1), entry(2, ReplayName="earlier"), entry(3)])

    Archiver(db, settings).archive_pass()

    assert archived_ns(db) == [1, 3]
    assert Archives(db, settings).stats("a1")[0] == 2


def test_archiving_resumes_at_the_committed_offset_without_copying_twice(
    db: Database,
) -> None:
    # Given an archiver that copied the first batch of a log longer than one batch
    settings = make_settings()
    publisher = Publisher(db, settings)
    publish(publisher, [entry(n) for n in range(5)])
    first = Archiver(db, settings, batch_size=2)
    assert first.archive_pass() == 2

    # When a new archiver (a restarted worker) takes over
    second = Archiver(db, settings, batch_size=2)
    while second.archive_pass():
        pass

    # Then it continued where the first stopped: each event once
    assert archived_ns(db) == [0, 1, 2, 3, 4]
    assert EventLog(db).offset(archive_group("a1"), BUS) == EventLog(db).head(BUS)


def test_a_new_archive_registers_its_offset_at_the_routers_position(db: Database) -> None:
    # Given a bus whose first three events were routed before the archive existed
    without = make_settings(archives=())
    publisher = Publisher(db, without)
    publish(publisher, [entry(n) for n in range(3)])
    assert Router(db, without).route_pass() == 3
    publish(publisher, [entry(n) for n in range(3, 5)])
    log = EventLog(db)
    routed = log.offset("router", BUS)

    # When the archive appears in the configuration and the archiver is built
    settings = make_settings()
    archiver = Archiver(db, settings)

    # Then its offset is committed at once, at the router's position
    assert log.offsets(BUS)[archive_group("a1")] == routed
    # and it archives what the bus had not routed yet, and everything after
    publish(Publisher(db, settings), [entry(5)])
    archiver.archive_pass()
    assert archived_ns(db) == [3, 4, 5]
    assert Archives(db, settings).describe("a1").state == "ENABLED"


def test_registration_keeps_an_existing_offset(db: Database) -> None:
    settings = make_settings()
    publish(Publisher(db, settings), [entry(n) for n in range(3)])
    Archiver(db, settings).archive_pass()
    offset = EventLog(db).offset(archive_group("a1"), BUS)

    Archiver(db, settings)

    assert EventLog(db).offset(archive_group("a1"), BUS) == offset
    assert Archives(db, settings).stats("a1")[0] == 3


def test_log_retention_never_trims_events_the_archive_has_not_read(db: Database) -> None:
    # Given routed events the archive has not copied yet, and a log retention of zero
    settings = make_settings()
    publisher = Publisher(db, settings)
    archiver = Archiver(db, settings)  # registers offset 0 before anything is published
    publish(publisher, [entry(n) for n in range(4)])
    Router(db, settings).route_pass()
    log = EventLog(db)
    retention = LogRetention(log, [BUS], retention_secs=0.0, clock=lambda: T0 + 10**9)

    # When the log is trimmed, nothing goes: the archive has not read any of it
    assert retention.trim_once() == 0
    assert log.count(BUS) == 4

    # When the archive has copied the events, the log may drop them; the archive keeps them
    archiver.archive_pass()
    assert retention.trim_once() == 4
    assert log.count(BUS) == 0
    assert archived_ns(db) == [0, 1, 2, 3]


def test_retention_deletes_copies_older_than_retention_days_by_ingestion_time(
    db: Database,
) -> None:
    # Given an archive kept 2 days and one kept forever, with events ingested on day 0 and 1
    clock = FakeClock(T0)
    settings = make_settings(
        [{"name": "short", "bus": BUS, "retention_days": 2}, {"name": "forever", "bus": BUS}]
    )
    publisher = Publisher(db, settings, clock=clock)
    archiver = Archiver(db, settings, clock=clock)
    # event times far in the past: retention must not go by them
    publish(publisher, [entry(n, time=1_000_000.0 + n) for n in range(3)])
    clock.advance(DAY_SECS)
    publish(publisher, [entry(n, time=1_000_000.0 + n) for n in range(3, 5)])
    archiver.archive_pass()
    sizes = {
        n: len(body.encode())
        for n, body in ((orjson.loads(b)["detail"]["n"], b)
                        for (b,) in rows(db, "SELECT body FROM events"))
    }

    # When 2 days and a bit have passed since the first ingestion
    clock.advance(DAY_SECS + 1)
    assert archiver.trim_once() == 3

    # Then the first three copies are gone from the short archive only, and stats follow
    assert archived_ns(db, "short") == [3, 4]
    assert archived_ns(db, "forever") == [0, 1, 2, 3, 4]
    assert Archives(db, settings).stats("short") == (2, sizes[3] + sizes[4])
    assert Archives(db, settings).stats("forever") == (5, sum(sizes.values()))

    # and a day later the rest
    clock.advance(DAY_SECS)
    assert archiver.trim_once() == 2
    assert Archives(db, settings).stats("short") == (0, 0)
    assert archiver.trim_once() == 0


def test_an_unregistered_archive_is_creating(db: Database) -> None:
    settings = make_settings()
    info = Archives(db, settings).describe("a1")
    assert info.state == "CREATING"
    assert info.creation_time is None
    answer = info.to_dict()
    assert answer["EventCount"] == 0
    assert answer["CreationTime"] is None


def test_an_archive_no_longer_configured_stops_holding_the_log_back(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an archive that registered its consumer group on the bus
    Archiver(db, make_settings([{"name": "old", "bus": BUS}]))
    assert "archive:old" in EventLog(db).offsets(BUS)

    # When the workers start with a configuration that no longer has it
    with caplog.at_level("WARNING", logger="clientevents.archive.archiver"):
        Archiver(db, make_settings(archives=()))

    # Then its offset is gone, so the log's retention no longer waits for it, and it is said
    assert "archive:old" not in EventLog(db).offsets(BUS)
    assert "archive:old on bus b1 belonged to an archive that is no longer configured" in (
        caplog.text
    )
