"""Publisher.put_details_async (the gateway's path) stores what put_events would store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from clientevents.config.model import Settings
from clientevents.events import Publisher, PutEventsRequestError
from clientevents.log import EventLog
from clientevents.store.engine import Database


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def publisher(db: Database) -> Publisher:
    settings = Settings.model_validate(
        {"account": "123456789012", "region": "eu-west-1", "buses": [{"name": "b"}]}
    )
    return Publisher(db, settings)


def _stored(db: Database) -> dict[str, dict[str, Any]]:
    return {r.event_id: json.loads(r.body) for r in EventLog(db).read_after("b", 0, 1000)}


DETAILS: list[Any] = [
    {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "jeux vidéo"}},
    {"eventType": "purchase", "data": {"itemSku": 123, "price": 9.5, "tags": [None, True]}},
    [1, 2],  # not an object: a per-entry error, the others go through
]


def test_same_events_as_put_events_but_for_id_and_time(db: Database, publisher: Publisher) -> None:
    # Given the same details published both ways
    fast = asyncio.run(
        publisher.put_details_async(
            DETAILS, source="clientevents", detail_type="prod", resources=["c1"], bus="b"
        )
    )
    slow = publisher.put_events(
        [
            {"Source": "clientevents", "DetailType": "prod", "Resources": ["c1"],
             "EventBusName": "b", "Detail": json.dumps(d)}
            for d in DETAILS
        ]
    )

    # Then the answers have the same shape, error included
    assert fast["FailedEntryCount"] == slow["FailedEntryCount"] == 1
    assert fast["Entries"][2] == slow["Entries"][2]
    assert fast["Entries"][2]["ErrorCode"] == "MalformedDetail"

    # And the stored envelopes are equal but for id and time, in the same key order
    events = _stored(db)
    for a, b in zip(fast["Entries"][:2], slow["Entries"][:2], strict=True):
        one, two = events[a["EventId"]], events[b["EventId"]]
        assert list(one) == list(two)
        assert {**one, "id": "", "time": ""} == {**two, "id": "", "time": ""}
        assert one["resources"] == ["c1"] and one["detail-type"] == "prod"
    assert len(events) == 4


def test_too_many_details_is_a_request_error(publisher: Publisher) -> None:
    with pytest.raises(PutEventsRequestError):
        asyncio.run(
            publisher.put_details_async(
                [{"n": i} for i in range(11)],
                source="s", detail_type="d", resources=[], bus="b",
            )
        )


def test_unknown_bus_is_a_per_entry_error(publisher: Publisher) -> None:
    answer = asyncio.run(
        publisher.put_details_async([{"n": 1}], source="s", detail_type="d", resources=[], bus="x")
    )
    assert answer["FailedEntryCount"] == 1
    assert answer["Entries"][0]["ErrorCode"] == "InvalidArgument"
