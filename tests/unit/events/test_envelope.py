from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from clientevents.events.envelope import (
    ENVELOPE_KEYS,
    encode_envelope,
    format_time,
    new_event_id,
    parse_time,
)

# The envelope the reference scenario makes for its last ingest entry, key order included.
SAMPLE_EVENT = """{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "prod",
  "source": "clientevents",
  "account": "000000000000",
  "time": "2026-11-27T05:00:00Z",
  "region": "local",
  "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"],
  "detail": {
    "eventType": "loyaltypurchase",
    "schemaVersion": 2,
    "data": {"itemSku": 123},
    "ticket": {"ticket": {"subject": "Loyalty customer purchase",
                          "comment": {"body": "This customer has made a loyalty purchase"}}}
  }
}"""
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_format_time_is_rfc3339_utc_whole_seconds() -> None:
    epoch = datetime(2026, 11, 27, 5, 0, 0, tzinfo=UTC).timestamp()
    assert format_time(epoch) == "2026-11-27T05:00:00Z"
    assert format_time(epoch + 0.999) == "2026-11-27T05:00:00Z"
    assert format_time(epoch + 61.2) == "2026-11-27T05:01:01Z"
    assert format_time(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-27T05:00:00Z",
        "2026-11-27T05:00:00+00:00",
        "2026-11-27T06:00:00+01:00",
        datetime(2026, 11, 27, 5, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 5, 0, 0),  # naive means UTC
        datetime(2026, 11, 27, 7, 0, 0, tzinfo=timezone(timedelta(hours=2))),
        1795755600,
        1795755600.0,
    ],
)
def test_parse_time_accepts_timestamps(value: object) -> None:
    assert parse_time(value) == 1795755600.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yesterday", "not an RFC 3339 timestamp"),
        (True, "boolean"),
        ([1], "not list"),
        (-5, "outside"),
    ],
)
def test_parse_time_names_the_bad_value(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_time(value)


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = {new_event_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(UUID4.match(i) for i in ids)


def test_envelope_has_the_sample_key_order_and_values() -> None:
    sample = json.loads(SAMPLE_EVENT)
    body = encode_envelope(
        event_id=sample["id"],
        detail_type=sample["detail-type"],
        source=sample["source"],
        account=sample["account"],
        time_text=sample["time"],
        region=sample["region"],
        resources=sample["resources"],
        detail_json=json.dumps(sample["detail"]).encode(),
    )
    decoded = json.loads(body)
    assert list(decoded) == list(sample) == list(ENVELOPE_KEYS)
    assert decoded == sample


def test_replayed_envelope_ends_with_replay_name() -> None:
    body = encode_envelope(
        event_id="e1",
        detail_type="t",
        source="s",
        account="000000000000",
        time_text="2026-11-27T05:00:00Z",
        region="local",
        resources=[],
        detail_json=b'{"a":1}',
        replay_name="nightly",
    )
    decoded = json.loads(body)
    assert list(decoded) == [*ENVELOPE_KEYS, "replay-name"]
    assert decoded["replay-name"] == "nightly"
    assert decoded["detail"] == {"a": 1}
