"""Streams: consumer groups with their own positions, acknowledgements, redelivery, retention."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from clientevents.config import Settings, validate_settings
from clientevents.store.engine import Database
from clientevents.streams import InvalidStreamRequest, StreamRecord, StreamStore, UnknownStream


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settings(**stream: Any) -> Settings:
    config = {"name": "clicks", "retention_hours": 1, "visibility_timeout_secs": 30, **stream}
    return validate_settings({"streams": [config, {"name": "other"}]}, environ={})


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def streams(db: Database, clock: Clock) -> StreamStore:
    return StreamStore(db, _settings(), clock=clock, poll_interval_secs=0.01)


def _append(store: StreamStore, payloads: Sequence[str], stream: str = "clicks") -> list[int]:
    return store.db.write(lambda conn: store.append(conn, stream, payloads))


def _read(store: StreamStore, group: str, **kwargs: Any) -> list[StreamRecord]:
    return asyncio.run(store.read("clicks", group, **kwargs))


def _payloads(records: Sequence[StreamRecord]) -> list[str]:
    return [r.payload for r in records]


def test_groups_read_independently_from_their_own_positions(streams: StreamStore) -> None:
    ids = _append(streams, ["a", "b", "c"])
    assert ids == sorted(ids)
    assert _payloads(_read(streams, "g1", max_records=2)) == ["a", "b"]
    assert _payloads(_read(streams, "g2")) == ["a", "b", "c"]
    assert _payloads(_read(streams, "g1")) == ["c"]
    assert _read(streams, "g1") == [] and _read(streams, "g2") == []
    # Streams are separate too
    _append(streams, ["x"], stream="other")
    assert _read(streams, "g1") == []


def test_start_oldest_latest_or_time(streams: StreamStore, clock: Clock) -> None:
    _append(streams, ["old"])
    clock.now += 10
    _append(streams, ["mid"])
    mid_time = clock.now
    # latest: only what is appended after the group exists
    assert _read(streams, "late", start="latest") == []
    clock.now += 10
    _append(streams, ["new"])
    assert _payloads(_read(streams, "late")) == ["new"]
    assert _payloads(_read(streams, "first", start="oldest")) == ["old", "mid", "new"]
    assert _payloads(_read(streams, "timed", start=mid_time)) == ["mid", "new"]
    as_datetime = datetime.fromtimestamp(mid_time, tz=UTC)
    assert _payloads(_read(streams, "timed2", start=as_datetime)) == ["mid", "new"]
    # a time after the last record: only records appended from then on
    assert _read(streams, "future", start=clock.now + 5) == []
    # start is ignored once the group exists
    assert _read(streams, "late", start="oldest") == []


def test_unacknowledged_records_come_back_after_the_visibility_timeout(
    streams: StreamStore, clock: Clock
) -> None:
    _append(streams, ["a", "b", "c"])
    first = _read(streams, "g")
    assert [r.delivery_count for r in first] == [1, 1, 1]
    # When only "b" is acknowledged
    acked = asyncio.run(streams.ack("clicks", "g", [first[1].id, 999_999]))
    assert acked == 1
    # I expect nothing until the timeout ...
    clock.now += 29
    assert _read(streams, "g") == []
    # ... then "a" and "c" again, before newer records, counted as second deliveries
    clock.now += 1
    _append(streams, ["d"])
    again = _read(streams, "g")
    assert _payloads(again) == ["a", "c", "d"]
    assert [r.delivery_count for r in again] == [2, 2, 1]
    # And acknowledging twice counts once
    assert asyncio.run(streams.ack("clicks", "g", [again[0].id])) == 1
    assert asyncio.run(streams.ack("clicks", "g", [again[0].id])) == 0


def test_acknowledgements_belong_to_one_group(streams: StreamStore, clock: Clock) -> None:
    _append(streams, ["a"])
    (record,) = _read(streams, "g1")
    _read(streams, "g2")
    asyncio.run(streams.ack("clicks", "g1", [record.id]))
    clock.now += 31
    assert _read(streams, "g1") == []
    assert _payloads(_read(streams, "g2")) == ["a"]


def test_max_records_bounds_redeliveries_too(streams: StreamStore, clock: Clock) -> None:
    _append(streams, ["a", "b", "c"])
    _read(streams, "g")
    clock.now += 30
    assert _payloads(_read(streams, "g", max_records=2)) == ["a", "b"]
    assert _payloads(_read(streams, "g", max_records=2)) == ["c"]


def test_records_past_retention_are_not_read_even_before_a_trim(
    streams: StreamStore, clock: Clock
) -> None:
    _append(streams, ["old"])
    clock.now += 3599
    _append(streams, ["young"])  # trims, but "old" is not yet past retention
    _read(streams, "g", max_records=1)  # "old" is now in flight for g
    clock.now += 2  # "old" is past the hour of retention; the last trim was 2 s ago
    assert _payloads(_read(streams, "fresh")) == ["young"]
    clock.now += 30
    assert _payloads(_read(streams, "g")) == ["young"]


def test_trim_deletes_old_records_and_their_in_flight_entries(
    streams: StreamStore, clock: Clock, db: Database
) -> None:
    _append(streams, ["old", "older"])
    _read(streams, "g")
    clock.now += 3601
    assert streams.trim() == 2
    assert streams.trim() == 0
    count = db.read(lambda c: c.execute("SELECT count(*) FROM stream_pending").fetchone())
    assert count == (0,)


def test_appends_trim_as_they_go(streams: StreamStore, clock: Clock) -> None:
    _append(streams, ["old"])
    clock.now += 3601
    _append(streams, ["new"])  # more than a minute since the last trim: trims
    rows = streams.db.read(lambda c: c.execute("SELECT payload FROM stream_records").fetchall())
    assert rows == [("new",)]


def test_a_long_poll_is_woken_by_an_append(streams: StreamStore) -> None:
    async def main() -> list[StreamRecord]:
        reader = asyncio.create_task(streams.read("clicks", "g", wait_secs=30))
        await asyncio.sleep(0.02)
        assert not reader.done()
        await streams.db.awrite(lambda conn: streams.append(conn, "clicks", ["late"]))
        return await reader

    assert _payloads(asyncio.run(main())) == ["late"]


def test_a_long_poll_sees_appends_it_is_not_told_about(streams: StreamStore, db: Database) -> None:
    # Given an append by another process (a plain insert on another connection)
    async def main() -> list[StreamRecord]:
        reader = asyncio.create_task(streams.read("clicks", "g", wait_secs=30))
        await asyncio.sleep(0.02)
        other = StreamStore(db, _settings())
        await asyncio.to_thread(db.write, lambda conn: other.append(conn, "clicks", ["x"]))
        return await reader

    assert _payloads(asyncio.run(main())) == ["x"]


def test_a_long_poll_without_records_returns_empty(streams: StreamStore) -> None:
    assert _read(streams, "g", wait_secs=0.03) == []


def test_groups_are_described(streams: StreamStore) -> None:
    _append(streams, ["a", "b", "c"])
    _read(streams, "g", max_records=2)
    (info,) = streams.groups("clicks")
    assert (info["group"], info["in_flight"], info["lag"]) == ("g", 2, 1)


def test_unknown_streams_are_refused(streams: StreamStore) -> None:
    with pytest.raises(UnknownStream, match=r"'nope' is not configured.*clicks, other"):
        asyncio.run(streams.read("nope", "g"))
    with pytest.raises(UnknownStream):
        asyncio.run(streams.ack("nope", "g", [1]))
    with pytest.raises(UnknownStream):
        _append(streams, ["x"], stream="nope")
    assert streams.has_stream("clicks") and not streams.has_stream("nope")
    assert streams.stream_names == ["clicks", "other"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_records": 0}, "max_records"),
        ({"max_records": 10_001}, "max_records"),
        ({"max_records": True}, "max_records"),
        ({"wait_secs": -1}, "wait_secs"),
        ({"start": "beginning"}, "start must be"),
        ({"start": -5}, "start must be"),
        ({"start": True}, "boolean"),
        ({"start": datetime(2026, 1, 1)}, "no time zone"),
    ],
)
def test_bad_reads_are_refused(streams: StreamStore, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidStreamRequest, match=message):
        asyncio.run(streams.read("clicks", "g", **kwargs))


def test_bad_groups_and_ids_are_refused(streams: StreamStore) -> None:
    with pytest.raises(InvalidStreamRequest, match="Consumer group ''"):
        asyncio.run(streams.read("clicks", ""))
    with pytest.raises(InvalidStreamRequest, match="Consumer group 'a b'"):
        asyncio.run(streams.ack("clicks", "a b", [1]))
    with pytest.raises(InvalidStreamRequest, match="integers"):
        asyncio.run(streams.ack("clicks", "g", ["1"]))  # type: ignore[list-item]
    assert asyncio.run(streams.ack("clicks", "g", [])) == 0


def test_peek_reads_without_claiming_and_last_id_names_the_newest(tmp_path: Path) -> None:
    settings = Settings.model_validate({"streams": [{"name": "s"}]})
    with Database(tmp_path / "db.sqlite") as db:
        store = StreamStore(db, settings)
        assert store.last_id("s") == 0 and store.peek("s") == []
        ids = db.write(lambda conn: store.append(conn, "s", ["a", "b", "c"]))
        assert store.last_id("s") == ids[-1]
        assert [r.payload for r in store.peek("s", after_id=ids[0], limit=5)] == ["b", "c"]
        assert [r.delivery_count for r in store.peek("s")] == [0, 0, 0]
        assert store.groups("s") == []  # no group was created, nothing is in flight
