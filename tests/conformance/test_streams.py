"""The streams port's contract (``clientevents.streams.port.StreamsPort``), held by every
implementation: the state store's tables on SQLite and on PostgreSQL (each test in a fresh
schema, dropped afterwards), and the in-memory streams.

Time is the implementation's clock, moved by the test, so visibility timeouts and retention are
checked without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from claim_harness import claim_from_two
from store_helpers import close_test_store, open_second_store, open_test_store

from clientevents.config import Settings, validate_settings
from clientevents.streams import (
    InvalidStreamRequest,
    StreamRecord,
    StreamsPort,
    StreamStore,
    UnknownStream,
)
from clientevents.streams.memory import MemoryStreams

RETENTION = 3600.0
VISIBILITY = 30.0


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settings() -> Settings:
    return validate_settings({"streams": [
        {"name": "clicks", "retention_hours": 1, "visibility_timeout_secs": int(VISIBILITY)},
        {"name": "other"},
    ]}, environ={})


@dataclass
class StreamsUnderTest:
    name: str
    streams: StreamsPort
    clock: Clock
    write: Callable[[Callable[[Any], Any]], Any]
    #: another instance on the same data (another process's view), and how to close it
    second: Callable[[], tuple[StreamsPort, Callable[[Callable[[Any], Any]], Any],
                               Callable[[], None]]]


def _open(name: str, tmp_path: Path) -> Iterator[StreamsUnderTest]:
    clock = Clock()
    if name == "memory":
        mem = MemoryStreams(_settings(), clock=clock, poll_interval_secs=0.01)

        def run(fn: Callable[[Any], Any]) -> Any:
            return fn(None)

        yield StreamsUnderTest(name, mem, clock, run, lambda: (mem, run, lambda: None))
        return
    db = open_test_store(tmp_path, name)
    store = StreamStore(db, _settings(), clock=clock, poll_interval_secs=0.01)

    def second() -> tuple[StreamsPort, Callable[[Callable[[Any], Any]], Any], Callable[[], None]]:
        other_db = open_second_store(db)
        other = StreamStore(other_db, _settings(), clock=clock, poll_interval_secs=0.01)
        return other, other_db.write, other_db.close

    try:
        yield StreamsUnderTest(name, store, clock, db.write, second)
    finally:
        close_test_store(db)


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def s(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StreamsUnderTest]:
    """Every implementation."""
    yield from _open(str(request.param), tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def ts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StreamsUnderTest]:
    """The implementations whose appends belong to the caller's transaction (not the in-memory
    streams, which have none: ``streams/memory.py``)."""
    yield from _open(str(request.param), tmp_path)


def append(s: StreamsUnderTest, payloads: Sequence[str], stream: str = "clicks") -> list[int]:
    ids: list[int] = s.write(lambda conn: s.streams.append(conn, stream, payloads))
    return ids


def read(s: StreamsUnderTest, group: str, stream: str = "clicks", **kw: Any) -> list[StreamRecord]:
    return asyncio.run(s.streams.read(stream, group, **kw))


def ack(s: StreamsUnderTest, group: str, ids: Sequence[int], stream: str = "clicks") -> int:
    return asyncio.run(s.streams.ack(stream, group, ids))


def payloads(records: Sequence[StreamRecord]) -> list[str]:
    return [r.payload for r in records]


def test_the_implementation_is_a_streams_port(s: StreamsUnderTest) -> None:
    assert isinstance(s.streams, StreamsPort)
    assert s.streams.stream_names == ["clicks", "other"]
    assert s.streams.has_stream("clicks") and not s.streams.has_stream("nope")


# -- append, peek, last id -------------------------------------------------------------------


def test_appended_records_get_increasing_ids_and_come_back_whole(s: StreamsUnderTest) -> None:
    assert s.streams.last_id("clicks") == 0
    first = append(s, ["a", "b"])
    second = append(s, ["c"])
    ids = first + second
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert s.streams.last_id("clicks") == ids[-1]
    got = read(s, "g")
    assert [(r.id, r.payload, r.appended_at, r.delivery_count) for r in got] == [
        (ids[0], "a", s.clock.now, 1), (ids[1], "b", s.clock.now, 1), (ids[2], "c", s.clock.now, 1)]


def test_an_append_is_part_of_the_callers_write(ts: StreamsUnderTest) -> None:
    def failing(conn: Any) -> None:
        ts.streams.append(conn, "clicks", ["lost"])
        raise RuntimeError("the delivery could not be settled")

    with pytest.raises(RuntimeError):
        ts.write(failing)
    assert ts.streams.last_id("clicks") == 0
    assert ts.streams.peek("clicks") == []
    append(ts, ["kept"])
    assert payloads(read(ts, "g")) == ["kept"]


def test_peek_reads_in_order_without_handing_records_to_a_group(s: StreamsUnderTest) -> None:
    ids = append(s, ["a", "b", "c"])
    assert payloads(s.streams.peek("clicks")) == ["a", "b", "c"]
    assert [r.delivery_count for r in s.streams.peek("clicks")] == [0, 0, 0]
    assert payloads(s.streams.peek("clicks", after_id=ids[0], limit=1)) == ["b"]
    assert s.streams.peek("clicks", after_id=ids[-1]) == []
    assert s.streams.groups("clicks") == []
    assert payloads(read(s, "g")) == ["a", "b", "c"]


def test_streams_are_separate(s: StreamsUnderTest) -> None:
    append(s, ["x"], stream="other")
    assert read(s, "g") == []
    assert s.streams.last_id("clicks") == 0
    assert payloads(read(s, "g", stream="other")) == ["x"]


# -- groups ----------------------------------------------------------------------------------


def test_groups_read_independently_each_from_its_own_position(s: StreamsUnderTest) -> None:
    append(s, ["a", "b", "c"])
    assert payloads(read(s, "g1", max_records=2)) == ["a", "b"]
    assert payloads(read(s, "g2")) == ["a", "b", "c"]
    assert payloads(read(s, "g1")) == ["c"]
    assert read(s, "g1") == [] and read(s, "g2") == []
    append(s, ["d"])
    assert payloads(read(s, "g2")) == ["d"]
    assert payloads(read(s, "g1")) == ["d"]


def test_a_new_group_starts_oldest_latest_or_at_a_time(s: StreamsUnderTest) -> None:
    append(s, ["old"])
    s.clock.now += 10
    append(s, ["mid"])
    mid_time = s.clock.now
    assert read(s, "late", start="latest") == []
    s.clock.now += 10
    append(s, ["new"])
    assert payloads(read(s, "late")) == ["new"]
    assert payloads(read(s, "timed", start=mid_time)) == ["mid", "new"]
    assert payloads(read(s, "first", start="oldest")) == ["old", "mid", "new"]
    assert read(s, "late", start="oldest") == []  # the group exists: start is ignored


def test_acknowledged_records_never_come_back_and_others_do_after_the_timeout(
    s: StreamsUnderTest,
) -> None:
    append(s, ["a", "b", "c"])
    first = read(s, "g")
    assert ack(s, "g", [first[1].id, 999_999]) == 1
    s.clock.now += VISIBILITY - 1
    assert read(s, "g") == []
    s.clock.now += 1
    append(s, ["d"])
    again = read(s, "g")
    assert payloads(again) == ["a", "c", "d"]
    assert [r.delivery_count for r in again] == [2, 2, 1]
    assert ack(s, "g", [r.id for r in again]) == 3
    assert ack(s, "g", [r.id for r in again]) == 0
    s.clock.now += VISIBILITY * 10
    assert read(s, "g") == []


def test_acknowledgements_belong_to_one_group(s: StreamsUnderTest) -> None:
    append(s, ["a"])
    [record] = read(s, "g1")
    read(s, "g2")
    assert ack(s, "g1", [record.id]) == 1
    s.clock.now += VISIBILITY + 1
    assert read(s, "g1") == []
    assert [(r.payload, r.delivery_count) for r in read(s, "g2")] == [("a", 2)]


def test_max_records_bounds_redeliveries_too(s: StreamsUnderTest) -> None:
    append(s, ["a", "b", "c"])
    read(s, "g")
    s.clock.now += VISIBILITY
    assert payloads(read(s, "g", max_records=2)) == ["a", "b"]
    assert payloads(read(s, "g", max_records=2)) == ["c"]


def test_two_readers_of_one_group_on_two_instances_share_the_work(s: StreamsUnderTest) -> None:
    count = 120
    append(s, [f"r{i}" for i in range(count)])
    other, _, close_other = s.second()

    def reader(streams: StreamsPort) -> Callable[[], list[int]]:
        def take() -> list[int]:
            batch = asyncio.run(streams.read("clicks", "workers", max_records=7))
            return [r.id for r in batch]

        return take

    try:
        claim_from_two(reader(s.streams), reader(other), count, what="records")
    finally:
        close_other()


def test_a_long_poll_returns_what_another_instance_appends(s: StreamsUnderTest) -> None:
    other, other_write, close_other = s.second()

    async def main() -> list[StreamRecord]:
        reader = asyncio.create_task(s.streams.read("clicks", "g", wait_secs=30))
        await asyncio.sleep(0.05)
        await asyncio.to_thread(other_write, lambda conn: other.append(conn, "clicks", ["x"]))
        return await reader

    try:
        assert payloads(asyncio.run(main())) == ["x"]
    finally:
        close_other()


def test_a_long_poll_without_records_returns_empty(s: StreamsUnderTest) -> None:
    assert read(s, "g", wait_secs=0.05) == []


def test_groups_are_described(s: StreamsUnderTest) -> None:
    ids = append(s, ["a", "b", "c"])
    read(s, "g", max_records=2)
    read(s, "h", max_records=3)
    ack(s, "h", ids)
    info = {g["group"]: g for g in s.streams.groups("clicks")}
    assert sorted(info) == ["g", "h"]
    assert (info["g"]["position"], info["g"]["in_flight"], info["g"]["lag"]) == (ids[1], 2, 1)
    assert (info["h"]["position"], info["h"]["in_flight"], info["h"]["lag"]) == (ids[2], 0, 0)
    assert info["g"]["created_at"] == s.clock.now
    assert s.streams.groups("other") == []


# -- retention -------------------------------------------------------------------------------


def test_records_past_retention_are_neither_read_nor_peeked(s: StreamsUnderTest) -> None:
    append(s, ["old"])
    s.clock.now += RETENTION - 1
    append(s, ["young"])
    read(s, "g", max_records=1)  # "old" is in flight for g
    s.clock.now += 2  # "old" is past retention
    assert payloads(read(s, "fresh")) == ["young"]
    assert payloads(s.streams.peek("clicks")) == ["young"]
    s.clock.now += VISIBILITY
    assert payloads(read(s, "g")) == ["young"]  # "old" is not redelivered either


def test_trim_deletes_the_expired_prefix_and_its_in_flight_entries(s: StreamsUnderTest) -> None:
    append(s, ["old", "older"])
    read(s, "g")
    s.clock.now += RETENTION / 2
    kept = append(s, ["young"])
    s.clock.now += RETENTION / 2 + 1
    assert s.streams.trim() == 2
    assert s.streams.trim() == 0
    [g] = s.streams.groups("clicks")
    assert g["in_flight"] == 0
    assert s.streams.last_id("clicks") == kept[0]
    assert payloads(s.streams.peek("clicks")) == ["young"]
    assert payloads(read(s, "g")) == ["young"]
    assert payloads(read(s, "new")) == ["young"]


# -- refusals --------------------------------------------------------------------------------


def test_an_unknown_stream_is_refused_everywhere(s: StreamsUnderTest) -> None:
    with pytest.raises(UnknownStream, match="'nope' is not configured"):
        read(s, "g", stream="nope")
    with pytest.raises(UnknownStream):
        ack(s, "g", [1], stream="nope")
    with pytest.raises(UnknownStream):
        append(s, ["x"], stream="nope")
    with pytest.raises(UnknownStream):
        s.streams.peek("nope")
    with pytest.raises(UnknownStream):
        s.streams.last_id("nope")
    with pytest.raises(UnknownStream):
        s.streams.groups("nope")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_records": 0}, "max_records"),
    ({"max_records": 10_001}, "max_records"),
    ({"wait_secs": -1}, "wait_secs"),
    ({"start": "beginning"}, "start must be"),
])
def test_bad_reads_are_refused(s: StreamsUnderTest, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidStreamRequest, match=message):
        read(s, "g", **kwargs)


def test_bad_groups_and_ids_are_refused(s: StreamsUnderTest) -> None:
    with pytest.raises(InvalidStreamRequest, match="Consumer group"):
        read(s, "a b")
    with pytest.raises(InvalidStreamRequest, match="integers"):
        ack(s, "g", ["1"])  # type: ignore[list-item]
    assert ack(s, "g", []) == 0
