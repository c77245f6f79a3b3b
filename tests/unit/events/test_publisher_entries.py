from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from store_helpers import OtherConnection

from clientevents.config.model import Settings
from clientevents.events import INTERNAL_FAILURE, Publisher, PutEventsRequestError
from clientevents.log import EventLog
from clientevents.store.engine import Database

BUSES = [{"name": "default"}, {"name": "orders"}]


def make_settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {"account": "123456789012", "region": "eu-west-1", "buses": BUSES}
    data.update(overrides)
    return Settings.model_validate(data)


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def publisher(db: Database) -> Publisher:
    return Publisher(db, make_settings())


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Source": "shop", "DetailType": "order", "Detail": '{"id": 1}'}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def stored(db: Database, bus: str = "default") -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in EventLog(db).read_after(bus, 0, 1000)]


def test_accepted_entry_is_on_disk_when_put_events_returns(
    publisher: Publisher, db: Database
) -> None:
    result = publisher.put_events([entry(Resources=["r1"])])
    assert result["FailedEntryCount"] == 0
    event_id = result["Entries"][0]["EventId"]
    other = OtherConnection(db)  # a new connection sees it
    (body,) = other.execute("SELECT body FROM events WHERE event_id = ?", (event_id,)).fetchone()
    other.close()
    event = json.loads(body)
    assert event == {
        "version": "0",
        "id": event_id,
        "detail-type": "order",
        "source": "shop",
        "account": "123456789012",
        "time": event["time"],
        "region": "eu-west-1",
        "resources": ["r1"],
        "detail": {"id": 1},
    }
    assert list(event)[-1] == "detail"


@pytest.mark.parametrize(
    ("bad", "code", "message"),
    [
        (entry(Source=None), "InvalidArgument",
         "Parameter Source is not valid. Reason: Source is a required argument."),
        (entry(DetailType=""), "InvalidArgument",
         "Parameter DetailType is not valid. Reason: DetailType is a required argument."),
        (entry(Detail=None), "InvalidArgument",
         "Parameter Detail is not valid. Reason: Detail is a required argument."),
        (entry(Detail='{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'),
         "MalformedDetail", "Detail is malformed."),
        (entry(Detail="[1, 2]"), "MalformedDetail", "Detail is malformed."),
        (entry(Detail='"text"'), "MalformedDetail", "Detail is malformed."),
        (entry(Detail="{'single': 'quotes'}"), "MalformedDetail", "Detail is malformed."),
        (entry(Detail=12), "MalformedDetail", "Detail is malformed."),
    ],
)
def test_refused_entries_get_eventbridge_codes(
    publisher: Publisher, bad: dict[str, Any], code: str, message: str
) -> None:
    result = publisher.put_events([bad])
    assert result == {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": code, "ErrorMessage": message}],
    }


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (entry(Source=5), "Parameter Source is not valid. Reason: Source must be a string."),
        (entry(Resources="r1"), "Resources must be a list of strings"),
        (entry(Resources=[1]), "Resources must be a list of strings"),
        (entry(Time="soon"), "Parameter Time is not valid. Reason: Time 'soon' is not"),
        (entry(EventBusName="nope"), "Event bus 'nope' does not exist (configured: default, "
                                     "orders)"),
        (entry(EventBusName=7), "EventBusName must be a string"),
        (entry(Id="x" * 65), "Id must be a string of 1 to 64 characters"),
        (entry(ReplayRules="r1"), "ReplayRules must be a list of rule names"),
        ("not an object", "an entry must be an object, not str"),
    ],
)
def test_invalid_arguments_name_the_parameter(
    publisher: Publisher, bad: Any, fragment: str
) -> None:
    (result,) = publisher.put_events([bad])["Entries"]
    assert result["ErrorCode"] == "InvalidArgument"
    assert fragment in result["ErrorMessage"]


def test_one_bad_entry_never_fails_the_others(publisher: Publisher, db: Database) -> None:
    result = publisher.put_events(
        [entry(Detail='{"n": 0}'), entry(Detail="{"), entry(Detail='{"n": 2}'), entry(Source="")]
    )
    assert result["FailedEntryCount"] == 2
    kinds = ["EventId" if "EventId" in e else e["ErrorCode"] for e in result["Entries"]]
    assert kinds == ["EventId", "MalformedDetail", "EventId", "InvalidArgument"]
    assert [e["detail"] for e in stored(db)] == [{"n": 0}, {"n": 2}]
    assert [e["id"] for e in stored(db)] == [
        result["Entries"][0]["EventId"],
        result["Entries"][2]["EventId"],
    ]


def test_bus_by_name_by_arn_and_default(publisher: Publisher, db: Database) -> None:
    arn = "arn:aws:events:eu-west-1:123456789012:event-bus/orders"
    result = publisher.put_events(
        [entry(EventBusName="orders"), entry(EventBusName=arn), entry()]
    )
    assert result["FailedEntryCount"] == 0
    assert len(stored(db, "orders")) == 2
    assert len(stored(db, "default")) == 1


def test_without_a_default_bus_the_bus_name_is_required(db: Database) -> None:
    publisher = Publisher(db, make_settings(buses=[{"name": "orders"}]))
    (result,) = publisher.put_events([entry()])["Entries"]
    assert result["ErrorCode"] == "InvalidArgument"
    assert "EventBusName is required: no bus named 'default' is configured" in (
        result["ErrorMessage"]
    )


def test_entry_size_follows_eventbridge_calculation(db: Database) -> None:
    limit = 100
    publisher = Publisher(
        db, make_settings(limits={"max_entry_bytes": limit, "max_body_bytes": 1000})
    )
    # Source (4) + DetailType (5) + Detail + Resources (2 x 3) + Time (14) bytes.
    fixed = 4 + 5 + 6 + 14
    detail_at_limit = '{"a": "' + "x" * (limit - fixed - 9) + '"}'
    ok = entry(Source="shop", DetailType="order", Resources=["abc", "def"],
               Time="2026-11-27T05:00:00Z", Detail=detail_at_limit)
    over = dict(ok, Detail=detail_at_limit.replace('"}', 'x"}'))
    # Multi-byte text counts in UTF-8 bytes: "é" is 2 bytes.
    accented = dict(ok, Detail=detail_at_limit.replace("xx", "é", 1))
    result = publisher.put_events([ok, over, accented])
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "InvalidArgument"
    assert "the entry is 101 bytes, over the limit of 100 bytes" in (
        result["Entries"][1]["ErrorMessage"]
    )
    assert "EventId" in result["Entries"][2]


def test_detail_nested_too_deep_is_malformed(db: Database) -> None:
    publisher = Publisher(db, make_settings(limits={"max_json_depth": 3}))
    ok = entry(Detail='{"a": {"b": {"c": 1}}, "s": "[[[[[[["}')
    deep = entry(Detail='{"a": {"b": {"c": {}}}}')
    deep_dict = entry(Detail={"a": [[{}]]})
    result = publisher.put_events([ok, deep, deep_dict])
    assert "EventId" in result["Entries"][0]
    assert result["Entries"][1]["ErrorCode"] == "MalformedDetail"
    assert result["Entries"][2]["ErrorCode"] == "MalformedDetail"


def test_time_sets_the_envelope_time(publisher: Publisher, db: Database) -> None:
    publisher.put_events([entry(Time="2026-11-27T06:00:00.750+01:00")])
    (event,) = stored(db)
    assert event["time"] == "2026-11-27T05:00:00Z"
    (record,) = EventLog(db).read_after("default", 0, 10)
    assert record.time == pytest.approx(1795755600.75)


def test_internal_callers_pass_parsed_detail_ids_and_replays(
    publisher: Publisher, db: Database
) -> None:
    result = publisher.put_events(
        [entry(Detail={"eventType": "x"}, Id="kept-id", ReplayName="nightly",
               ReplayRules=["r1", "r2"])]
    )
    assert result["Entries"] == [{"EventId": "kept-id"}]
    (record,) = EventLog(db).read_after("default", 0, 10)
    assert record.event_id == "kept-id"
    assert record.replay_name == "nightly"
    assert record.replay_rule_names() == ["r1", "r2"]
    body = json.loads(record.body)
    assert body["detail"] == {"eventType": "x"}
    assert list(body)[-1] == "replay-name"
    assert body["replay-name"] == "nightly"


def test_request_level_problems_raise(publisher: Publisher) -> None:
    with pytest.raises(PutEventsRequestError, match="at most 10 are allowed"):
        publisher.put_events([entry()] * 11)
    with pytest.raises(PutEventsRequestError, match="at least one entry"):
        publisher.put_events([])
    with pytest.raises(PutEventsRequestError, match="not dict"):
        publisher.put_events({"Source": "s"})  # type: ignore[arg-type]


def test_async_and_threaded_callers_share_commits(publisher: Publisher, db: Database) -> None:
    async def burst() -> list[dict[str, Any]]:
        return await asyncio.gather(
            *(publisher.put_events_async([entry(Detail=f'{{"a": {i}}}')]) for i in range(50))
        )

    answers = asyncio.run(burst())
    ids: list[str] = [a["Entries"][0]["EventId"] for a in answers]

    def worker(i: int) -> None:
        answer = publisher.put_events([entry(Detail=f'{{"t": {i}}}')] * 3)
        ids.extend(e["EventId"] for e in answer["Entries"])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 110
    assert {e["id"] for e in stored(db)} == set(ids)


def test_append_in_joins_the_callers_transaction(publisher: Publisher, db: Database) -> None:
    def write(conn: sqlite3.Connection) -> dict[str, Any]:
        return publisher.append_in(conn, [entry(), entry(Detail="nope")] * 8)

    result = db.write(write)
    assert result["FailedEntryCount"] == 8
    assert len(stored(db)) == 8


def test_a_failed_commit_answers_internal_failure(publisher: Publisher, db: Database) -> None:
    db.close()
    result = publisher.put_events([entry(), entry(Detail="[")])
    assert result["FailedEntryCount"] == 2
    first, second = result["Entries"]
    assert first["ErrorCode"] == INTERNAL_FAILURE
    assert "retry" in first["ErrorMessage"]
    # paths and servers are for the log, not the client
    assert str(getattr(db, "path", "127.0.0.1")) not in first["ErrorMessage"]
    assert second["ErrorCode"] == "MalformedDetail"
