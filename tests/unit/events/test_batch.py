"""A request's events stored as one record read back exactly as events stored one by one."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clientevents.config.model import Settings
from clientevents.events import Publisher
from clientevents.events.batch import GROWTH_BOUND
from clientevents.events.envelope import EnvelopeShape, derive_event_id, derived_event_ids
from clientevents.log import EventLog
from clientevents.store.engine import Database

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NOW = 1795755600.25
BUS = "b"

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text | st.floats(
    allow_nan=False, allow_infinity=False
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
details = st.dictionaries(text, json_values, max_size=5)


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def publisher(db: Database) -> Publisher:
    config = Settings.model_validate(
        {"account": "123456789012", "region": "eu-west-1", "buses": [{"name": BUS}],
         "limits": {"max_entry_bytes": 400, "max_json_depth": 4,
                    "max_entries_per_request": 12}}
    )
    return Publisher(db, config, clock=lambda: NOW)


def _new_events(db: Database, after: int) -> list[Any]:
    return EventLog(db).read_after(BUS, after, 1000)


# -- one way to write an envelope --------------------------------------------------------------


@settings(max_examples=300)
@given(
    event_id=text, detail_type=text, source=text, account=text, time_text=text, region=text,
    resources=st.lists(text, max_size=3), detail=details,
    replay_name=st.none() | text,
)
def test_an_envelope_is_its_fields_encoded_in_wire_order(
    event_id: str, detail_type: str, source: str, account: str, time_text: str, region: str,
    resources: list[str], detail: dict[str, Any], replay_name: str | None,
) -> None:
    shape = EnvelopeShape(detail_type=detail_type, source=source, account=account,
                          time_text=time_text, region=region, resources=resources)
    rendered = shape.render(event_id, orjson.dumps(detail).decode(), replay_name)
    expected: dict[str, Any] = {
        "version": "0", "id": event_id, "detail-type": detail_type, "source": source,
        "account": account, "time": time_text, "region": region, "resources": resources,
        "detail": detail,
    }
    if replay_name is not None:
        expected["replay-name"] = replay_name
    assert rendered.encode() == orjson.dumps(expected)


# -- derived event ids -------------------------------------------------------------------------


def test_derived_ids_are_distinct_version_4_uuids_and_the_first_is_the_base() -> None:
    base = "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    ids = derived_event_ids(base, 10_000)
    assert ids[0] == base
    assert len(set(ids)) == 10_000
    assert all(UUID4.match(i) for i in ids)
    assert ids[1234] == derive_event_id(base, 1234)
    assert all(i[:32] == base[:32] for i in ids)  # only the last 16 bits differ
    with pytest.raises(ValueError, match="index 65536 is out of range"):
        derive_event_id(base, 65536)
    edges = ("00000000-0000-4000-8000-00000000ffff", "ffffffff-ffff-4fff-bfff-fffffffffff0")
    for other in (base, *edges):
        for count in (1, 10, 16, 17):
            assert derived_event_ids(other, count) == [
                derive_event_id(other, i) for i in range(count)
            ]


# -- a batch reads back as the events put_events would have stored ------------------------------


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(details, min_size=1, max_size=10), as_text=st.booleans(),
       client=text.filter(bool))
def test_a_batch_reads_back_byte_for_byte_as_single_events(
    publisher: Publisher, db: Database, batch: list[dict[str, Any]], as_text: bool, client: str
) -> None:
    texts = [orjson.dumps(d, option=orjson.OPT_INDENT_2).decode() for d in batch]
    head = EventLog(db).head(BUS)
    answer = asyncio.run(publisher.put_details_async(
        batch, source="clientevents", detail_type="prod", resources=[client], bus=BUS,
        texts=texts if as_text else None,
    ))
    from_batch = _new_events(db, head)
    head = from_batch[-1].seq if from_batch else head
    accepted = [e.get("EventId") for e in answer["Entries"]]
    single = publisher.put_events([
        {"Source": "clientevents", "DetailType": "prod", "Detail": detail,
         "Resources": [client], "EventBusName": BUS, "Id": event_id}
        for detail, event_id in zip(batch, accepted, strict=True) if event_id is not None
    ]) if any(accepted) else {"Entries": []}
    one_by_one = _new_events(db, head)
    # Every detail the batch accepted was stored with the id the answer gave it...
    assert [e.event_id for e in from_batch] == [i for i in accepted if i is not None]
    assert [e.get("EventId") for e in single["Entries"]] == [e.event_id for e in from_batch]
    # ... and reads back as exactly the envelope a single event would have had.
    assert [e.body for e in from_batch] == [e.body for e in one_by_one]
    assert [e.event() for e in from_batch] == [orjson.loads(e.body) for e in one_by_one]
    assert [(e.time, e.ingested_at) for e in from_batch] == [(NOW, NOW)] * len(from_batch)


def _entry(detail: Any) -> dict[str, Any]:
    return {"Source": "clientevents", "DetailType": "prod", "Detail": detail,
            "Resources": ["client-1"], "EventBusName": BUS}


ODD_DETAILS: list[Any] = [
    {"ok": 1},
    {"a": {"b": {"c": {"d": {}}}}},  # five levels deep: over max_json_depth 4
    {"pad": "x" * 380},  # over max_entry_bytes 400 with the shared fields
    {"pad": "é" * 170},  # 340 bytes in UTF-8: fits, re-encoded
    '{"as": "text"}',
    '{"as": "text", "pad": "' + "y" * 390 + '"}',
    "[1, 2]",
    "not json",
    "",
    None,
    [1, 2],
    17,
]


def test_each_detail_gets_the_answer_put_events_gives(publisher: Publisher) -> None:
    batch = asyncio.run(publisher.put_details_async(
        ODD_DETAILS, source="clientevents", detail_type="prod", resources=["client-1"], bus=BUS,
    ))
    single = publisher.put_events([_entry(d) for d in ODD_DETAILS])
    codes = [(e.get("ErrorCode"), e.get("ErrorMessage")) for e in batch["Entries"]]
    assert codes == [(e.get("ErrorCode"), e.get("ErrorMessage")) for e in single["Entries"]]
    assert [c for c, _ in codes] == [
        None, "MalformedDetail", "InvalidArgument", None, None, "InvalidArgument",
        "MalformedDetail", "MalformedDetail", "InvalidArgument", "InvalidArgument",
        "MalformedDetail", "MalformedDetail",
    ]


def test_with_texts_a_detail_is_sized_as_put_events_sizes_the_object(
    publisher: Publisher,
) -> None:
    # Given texts much longer than their objects (whitespace), or shorter (numbers re-encode
    # longer: "1e9" is 1000000000.0), the size checked is the object's, re-encoded.
    spaced = {"pad": "z" * 300}
    spaced_text = orjson.dumps(spaced, option=orjson.OPT_INDENT_2).decode() + " " * 200
    numbers = [1e9] * 40
    numbers_text = "{\"n\": [" + ",".join(["1e9"] * 40) + "]}"
    parsed = [spaced, {"n": numbers}]
    batch = asyncio.run(publisher.put_details_async(
        parsed, source="clientevents", detail_type="prod", resources=["client-1"], bus=BUS,
        texts=[spaced_text, numbers_text],
    ))
    single = publisher.put_events([_entry(d) for d in parsed])
    assert batch["Entries"][0].keys() == {"EventId"}
    assert [e.get("ErrorMessage") for e in batch["Entries"]] == [
        e.get("ErrorMessage") for e in single["Entries"]
    ]
    assert "ErrorCode" in batch["Entries"][1]


def test_unusual_shared_fields_fall_back_to_single_events(publisher: Publisher, db: Database
                                                          ) -> None:
    arn = f"arn:aws:events:eu-west-1:123456789012:event-bus/{BUS}"
    answer = asyncio.run(publisher.put_details_async(
        [{"a": 1}, {"b": 2}], source="clientevents", detail_type="prod", resources=["c"],
        bus=arn,
    ))
    assert answer["FailedEntryCount"] == 0
    assert len(_new_events(db, 0)) == 2
    refused = asyncio.run(publisher.put_details_async(
        [{"a": 1}], source="", detail_type="prod", resources=["c"], bus=BUS,
    ))
    assert refused["Entries"][0]["ErrorMessage"] == (
        "Parameter Source is not valid. Reason: Source is a required argument."
    )


def test_texts_must_match_the_details(publisher: Publisher) -> None:
    from clientevents.events import PutEventsRequestError

    with pytest.raises(PutEventsRequestError, match="one text"):
        asyncio.run(publisher.put_details_async(
            [{"a": 1}], source="s", detail_type="d", resources=[], bus=BUS, texts=[],
        ))


# -- the size bound behind the fast path ----------------------------------------------------------

number = st.from_regex(r"-?(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?([eE][+-]?[0-9]{1,3})?",
                       fullmatch=True)


@settings(max_examples=500)
@given(st.lists(number, min_size=1, max_size=20), json_values)
def test_re_encoding_never_grows_a_text_past_the_bound(numbers: list[str], value: Any) -> None:
    for raw in ("[" + ",".join(numbers) + "]", orjson.dumps(value).decode()):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # e.g. a number out of range: refused, never sized
        if any(isinstance(n, float) and not math.isfinite(n) for n in
               (parsed if isinstance(parsed, list) else [])):
            continue
        assert len(orjson.dumps(parsed)) <= GROWTH_BOUND * len(raw.encode())
