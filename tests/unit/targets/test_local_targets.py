"""The bus and stream targets: written in the same transaction that settles the deliveries."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import delivery, make_settings, put, rows

from clientevents.config import Settings
from clientevents.errors import ConfigError
from clientevents.events.publisher import Publisher
from clientevents.log.eventlog import EventLog
from clientevents.store.engine import Database
from clientevents.streams import StreamStore
from clientevents.targets.base import LocalTarget, Ok, Outcome, TargetContext
from clientevents.targets.bus import InvalidEvent, entry_for
from clientevents.targets.dispatcher import Dispatchers
from clientevents.targets.dlq import DeadLetterQueue
from clientevents.targets.queue import ClaimedDelivery, queue_depths
from clientevents.targets.registry import TARGET_TYPES, build_target

EVENT_ID = "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
EVENT: dict[str, Any] = {
    "version": "0",
    "id": EVENT_ID,
    "detail-type": "prod",
    "source": "clientevents",
    "account": "000000000000",
    "time": "2026-11-27T05:00:00Z",
    "region": "local",
    "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
    "detail": {"eventType": "loyaltypurchase", "schemaVersion": 2},
}


def _bus_settings(**target: Any) -> Settings:
    return make_settings(
        [{"id": "fwd", "type": "bus", "bus": "b2", **target}], extra_buses=["b2"]
    )


def _context(db: Database, settings: Settings, **parts: Any) -> TargetContext:
    return TargetContext(db=db, settings=settings, data_dir=Path("."), **parts)


def test_the_bus_target_puts_the_event_on_the_other_bus_with_its_id(db: Database) -> None:
    settings = _bus_settings()
    ctx = _context(db, settings, publisher=Publisher(db, settings))
    dispatchers = Dispatchers(db, settings, ctx)
    put(db, [delivery(json.dumps(EVENT), target_id="fwd", event_id=EVENT_ID,
                      enqueued_at=time.time())])
    assert asyncio.run(dispatchers.drain_once()) == 1
    (record,) = EventLog(db).read_after("b2", 0, 10)
    forwarded = json.loads(record.body)
    assert record.event_id == EVENT["id"] == forwarded["id"]
    assert {k: forwarded[k] for k in ("source", "detail-type", "time", "resources", "detail")} == {
        k: EVENT[k] for k in ("source", "detail-type", "time", "resources", "detail")
    }
    assert db.read(queue_depths) == {}


def test_a_payload_that_is_not_an_event_is_dead_lettered(db: Database) -> None:
    settings = _bus_settings(input_path="$.detail")
    ctx = _context(db, settings, publisher=Publisher(db, settings))
    dispatchers = Dispatchers(db, settings, ctx)
    put(db, [delivery(json.dumps(EVENT["detail"]), target_id="fwd", enqueued_at=time.time())])
    asyncio.run(dispatchers.drain_once())
    (entry,) = DeadLetterQueue(db).list()
    assert (entry.exhausted, entry.error_code) == ("Permanent", "InvalidEvent")
    assert "source, detail-type, detail" in entry.error_message
    assert EventLog(db).read_after("b2", 0, 10) == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "not JSON"),
        ("[1]", "JSON list"),
        ('{"source": "s", "detail-type": "t", "detail": 1}', "detail is not a JSON object"),
    ],
)
def test_entry_for_explains_what_is_wrong(payload: str, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        entry_for(payload, bus="b2", event_id="e")


def test_entry_for_keeps_the_event_fields() -> None:
    entry = entry_for(json.dumps(EVENT), bus="b2", event_id="kept")
    assert entry == {
        "Source": "clientevents",
        "DetailType": "prod",
        "Detail": EVENT["detail"],
        "Resources": EVENT["resources"],
        "Time": "2026-11-27T05:00:00Z",
        "EventBusName": "b2",
        "Id": "kept",
    }


def test_a_bus_target_needs_a_publisher(db: Database) -> None:
    settings = _bus_settings()
    with pytest.raises(ConfigError, match="needs a publisher"):
        build_target(settings.rules[0].targets[0], _context(db, settings))


def _stream_settings() -> Settings:
    return make_settings(
        [{"id": "s", "type": "stream", "stream": "clicks"}],
        streams=[{"name": "clicks", "visibility_timeout_secs": 30}],
    )


def test_the_stream_target_appends_to_the_stream(db: Database) -> None:
    settings = _stream_settings()
    streams = StreamStore(db, settings)
    dispatchers = Dispatchers(db, settings, _context(db, settings, streams=streams))
    put(db, [delivery(p, target_id="s", enqueued_at=time.time()) for p in ("a", "b")])
    assert asyncio.run(dispatchers.drain_once()) == 2
    records = asyncio.run(streams.read("clicks", "g"))
    assert [r.payload for r in records] == ["a", "b"]
    assert db.read(queue_depths) == {}
    assert rows(db, "SELECT count(*) FROM stream_records") == [(2,)]


def test_a_stream_target_needs_a_configured_stream(db: Database) -> None:
    settings = _stream_settings()
    target = settings.rules[0].targets[0]
    with pytest.raises(ConfigError, match="needs a stream store"):
        build_target(target, _context(db, settings))
    other = make_settings(
        [{"id": "s", "type": "stream", "stream": "other"}], streams=[{"name": "other"}]
    )
    elsewhere = StreamStore(db, other)
    with pytest.raises(ConfigError, match="'clicks', which is not defined"):
        build_target(target, _context(db, settings, streams=elsewhere))


def test_unknown_target_types_are_named(db: Database) -> None:
    settings = _stream_settings()
    with pytest.raises(ConfigError, match="unknown target type 'stream'; known types: log"):
        build_target(
            settings.rules[0].targets[0], _context(db, settings),
            registry={"log": TARGET_TYPES["log"]}, where="rules[0].targets[0]",
        )


def test_events_the_other_bus_refuses_are_dead_lettered_with_its_error(db: Database) -> None:
    settings = _bus_settings()
    ctx = _context(db, settings, publisher=Publisher(db, settings))
    dispatchers = Dispatchers(db, settings, ctx)
    refused = dict(EVENT, source="")
    put(db, [
        delivery(json.dumps(refused), target_id="fwd", enqueued_at=time.time()),
        delivery(json.dumps(EVENT), target_id="fwd", event_id=EVENT_ID, enqueued_at=time.time()),
    ])
    asyncio.run(dispatchers.drain_once())
    (entry,) = DeadLetterQueue(db).list()
    assert (entry.exhausted, entry.error_code) == ("Permanent", "InvalidArgument")
    assert "Source" in entry.error_message
    assert [r.event_id for r in EventLog(db).read_after("b2", 0, 10)] == [EVENT_ID]


class _BrokenWrite(LocalTarget):
    """A database target whose write fails, to show the whole batch is retried."""

    def write_in(
        self, conn: sqlite3.Connection, deliveries: Sequence[ClaimedDelivery]
    ) -> list[Outcome]:
        conn.execute("INSERT INTO stream_records (stream, payload, appended_at) VALUES "
                     "('x', 'half-done', 0)")
        raise sqlite3.OperationalError("disk I/O error")


def test_a_failed_database_write_rolls_back_and_is_retried(db: Database) -> None:
    settings = _stream_settings()
    streams = StreamStore(db, settings)
    ctx = _context(db, settings, streams=streams)
    registry = {**TARGET_TYPES, "stream": lambda cfg, c: _BrokenWrite(c.db)}
    dispatchers = Dispatchers(db, settings, ctx, registry=registry)
    put(db, [delivery("a", target_id="s", enqueued_at=time.time())])
    asyncio.run(dispatchers.drain_once())
    assert rows(db, "SELECT attempts, last_error_code FROM deliveries") == [(1, "TargetError")]
    assert rows(db, "SELECT count(*) FROM stream_records") == [(0,)]


def test_a_database_target_can_be_used_directly(db: Database) -> None:
    settings = _stream_settings()
    streams = StreamStore(db, settings)
    target = build_target(settings.rules[0].targets[0], _context(db, settings, streams=streams))
    claimed = [
        ClaimedDelivery("b1/r1/s", "b1", "r1", "s", "e1", "direct", 0.0, 0.0, delivery_id=1)
    ]
    assert asyncio.run(target.send_batch(claimed)) == [Ok()]
    assert [r.payload for r in asyncio.run(streams.read("clicks", "g"))] == ["direct"]
