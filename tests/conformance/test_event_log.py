"""The event-log port's contract, held against every implementation: memory, SQLite, JetStream.

JetStream runs on the shared server at 127.0.0.1:4222 with a stream prefix of its own per test
(deleted afterwards) and a 1-second lease, so redelivery to another consumer takes a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_helpers import require_service

from clientevents.errors import Conflict
from clientevents.events.envelope import EnvelopeShape, derived_event_ids, format_time
from clientevents.log.eventlog import EventLog
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.memory import MemoryEventLog
from clientevents.log.port import EventLogPort, LogBatch, LogConsumer
from clientevents.log.records import BATCH, LogRow, batch_body
from clientevents.store.engine import Database

KINDS = ["memory", "sqlite", "jetstream"]
BUS = "orders.eu"
OTHER = "audit"
LEASE_SECS = 1.0
DEADLINE_SECS = 30.0  # a bound that fails a hung test, never a timing assertion

HANDLED = "CREATE TABLE IF NOT EXISTS handled (grp TEXT NOT NULL, event_id TEXT NOT NULL)"


def open_kind(kind: str, db: Database) -> EventLogPort:
    if kind == "memory":
        return MemoryEventLog(db)
    if kind == "sqlite":
        return EventLog(db)
    require_service("NATS", "127.0.0.1", 4222)
    prefix = "t" + uuid.uuid4().hex[:12]
    return JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=LEASE_SECS,
                                                  duplicate_window=60.0))


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "state.db")
    database.ensure_schema(HANDLED)
    yield database
    database.close()


@pytest.fixture
def log(kind: str, db: Database) -> Iterator[EventLogPort]:
    opened = open_kind(kind, db)
    yield opened
    if isinstance(opened, JetStreamEventLog):
        opened.delete_streams()
    opened.close()


def event_row(bus: str = BUS, n: int = 0, *, now: float | None = None,
              replay: str | None = None) -> LogRow:
    t = time.time() if now is None else now
    ident = str(uuid.uuid4())
    shape = EnvelopeShape(detail_type="t", source="s", account="123456789012",
                          time_text=format_time(t), region="eu-west-1", resources=[])
    body = shape.render(ident, orjson.dumps({"n": n}).decode())
    if replay is not None:
        body = body[:-1] + f',"replay-name":"{replay}"}}'
    return LogRow(bus, ident, t, t, body, replay, None)


def batch_row(bus: str = BUS, ns: tuple[int, ...] = (1, 2, 3), *,
              now: float | None = None) -> LogRow:
    t = time.time() if now is None else now
    details = [orjson.dumps({"n": n, "text": "é\u2028"}).decode() for n in ns]
    body = batch_body(source="s", detail_type="t", account="123456789012", region="eu-west-1",
                      resources=["arn:x"], details=details)
    return LogRow(bus, str(uuid.uuid4()), t, t, body, None, None, len(ns), BATCH)


def handled(db: Database, group: str) -> list[str]:
    rows = db.read(lambda conn: conn.execute(
        "SELECT event_id FROM handled WHERE grp = ?", (group,)).fetchall())
    return [str(r[0]) for r in rows]


def recorder(batch: LogBatch) -> Callable[[Any], int]:
    def write(conn: Any) -> int:
        conn.executemany("INSERT INTO handled (grp, event_id) VALUES (?, ?)",
                         [(batch.group, r.event_id) for r in batch.records])
        return len(batch.records)

    return write


def fetch_until(consumer: LogConsumer, want: int, max_events: int = 100) -> LogBatch:
    """Fetch until a batch holds at least ``want`` events (bounded by DEADLINE_SECS)."""
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        batch = consumer.fetch(max_events, wait_secs=0.2)
        if len(batch) >= want:
            return batch
        assert time.monotonic() < deadline, f"fetched {len(batch)} of {want} events"


def consume_all(consumer: LogConsumer, total: int) -> None:
    """Fetch and commit until ``total`` events of the group are handled."""
    deadline = time.monotonic() + DEADLINE_SECS
    db = consumer_db(consumer)
    while len(handled(db, consumer.group)) < total:
        assert time.monotonic() < deadline
        batch = consumer.fetch(50, wait_secs=0.2)
        if batch.records:
            consumer.commit(batch, recorder(batch))


def consumer_db(consumer: LogConsumer) -> Database:
    db: Database = consumer.log.db  # type: ignore[attr-defined]
    return db


# -- appending and reading ------------------------------------------------------------------


def test_reads_return_appended_events_in_order_with_growing_positions(
    log: EventLogPort,
) -> None:
    rows = [event_row(n=1), batch_row(ns=(2, 3, 4)), event_row(n=5), event_row(OTHER, 6)]
    log.append_records(rows[:2])
    log.append_records(rows[2:])
    records = log.read_after(BUS, 0, 100)
    assert [r.event()["detail"]["n"] for r in records] == [1, 2, 3, 4, 5]
    seqs = [r.seq for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > 0
    assert [r.event()["detail"]["n"] for r in log.read_after(OTHER, 0, 100)] == [6]
    assert all(r.bus == BUS for r in records)
    # reading after any position resumes exactly there, inside a record too
    for i, record in enumerate(records):
        assert [r.seq for r in log.read_after(BUS, record.seq, 100)] == seqs[i + 1:]
    assert [r.seq for r in log.read_after(BUS, 0, 2)] == seqs[:2]


def test_a_records_events_read_byte_for_byte_as_the_sql_log_reads_them(
    log: EventLogPort, tmp_path: Path
) -> None:
    rows = [batch_row(ns=(7, 8)), event_row(n=9, replay="fix-1")]
    log.append_records(rows)
    reference_db = Database(tmp_path / "reference.db")
    try:
        reference = EventLog(reference_db)
        reference.append_records(rows)
        want = [(r.event_id, r.body, r.time, r.ingested_at, r.replay_name, r.replay_rules)
                for r in reference.read_after(BUS, 0, 100)]
    finally:
        reference_db.close()
    got = [(r.event_id, r.body, r.time, r.ingested_at, r.replay_name, r.replay_rules)
           for r in log.read_after(BUS, 0, 100)]
    assert got == want
    assert [g[0] for g in got[:2]] == derived_event_ids(rows[0].event_id, 2)


def test_head_is_where_the_next_append_will_be_read_from(log: EventLogPort) -> None:
    assert log.head(BUS) == 0
    log.append_records([event_row(n=1), batch_row(ns=(2, 3))])
    head = log.head(BUS)
    assert head >= max(r.seq for r in log.read_after(BUS, 0, 100))
    assert log.read_after(BUS, head, 10) == []
    log.append_records([event_row(n=4)])
    assert [r.event()["detail"]["n"] for r in log.read_after(BUS, head, 10)] == [4]
    assert log.count(BUS) == 4


def test_reads_by_time_range(log: EventLogPort) -> None:
    t0 = 1_800_000_000.0
    log.append_records([event_row(n=i, now=t0 + i) for i in range(5)]
                       + [batch_row(ns=(10, 11), now=t0 + 2.5)])
    got = log.read_time_range(BUS, t0 + 1, t0 + 3, 0, 100)
    assert [r.event()["detail"]["n"] for r in got] == [1, 2, 10, 11]
    first = log.read_time_range(BUS, t0 + 1, t0 + 3, 0, 1)
    rest = log.read_time_range(BUS, t0 + 1, t0 + 3, first[-1].seq, 100)
    assert [r.event()["detail"]["n"] for r in first + rest] == [1, 2, 10, 11]


def test_positions_are_never_reused_after_a_trim(log: EventLogPort) -> None:
    log.append_records([event_row(n=1), batch_row(ns=(2, 3))])
    before = log.read_after(BUS, 0, 100)
    consumer = log.consumer(BUS, "router")
    consume_all(consumer, 3)
    consumer.close()
    deleted = log.trim_before(BUS, upto_seq=log.offset("router", BUS),
                              ingested_before=time.time() + 60)
    assert deleted == 2
    assert log.read_after(BUS, 0, 100) == []
    log.append_records([event_row(n=4)])
    after = log.read_after(BUS, 0, 100)
    assert [r.event()["detail"]["n"] for r in after] == [4]
    assert after[0].seq > before[-1].seq


# -- consumer groups ------------------------------------------------------------------------


def test_groups_consume_independently(log: EventLogPort, db: Database) -> None:
    log.append_records([event_row(n=i) for i in range(5)])
    router, archive = log.consumer(BUS, "router"), log.consumer(BUS, "archive:a")
    consume_all(router, 5)
    assert handled(db, "archive:a") == []
    consume_all(archive, 5)
    assert sorted(handled(db, "router")) == sorted(handled(db, "archive:a"))
    assert router.fetch(10, wait_secs=0.1).records == []
    offsets = log.offsets(BUS)
    assert offsets["router"] >= max(r.seq for r in log.read_after(BUS, 0, 100))
    assert log.offset("router", BUS) == offsets["router"]
    router.close()
    archive.close()


def test_two_consumers_of_one_group_share_the_work_without_overlap(
    log: EventLogPort, db: Database
) -> None:
    log.append_records([event_row(n=i) for i in range(30)] + [batch_row(ns=(40, 41, 42))])
    first, second = log.consumer(BUS, "router"), log.consumer(BUS, "router")
    deadline = time.monotonic() + DEADLINE_SECS
    while len(handled(db, "router")) < 33:
        assert time.monotonic() < deadline
        for consumer in (first, second):
            batch = consumer.fetch(4, wait_secs=0.1)
            if not batch.records:
                continue
            try:
                consumer.commit(batch, recorder(batch))
            except Conflict:
                pass  # the other member handed these off first
    ids = handled(db, "router")
    assert len(ids) == len(set(ids)) == 33
    first.close()
    second.close()


def test_consumers_share_work_says_whether_members_fetch_the_same_events(
    log: EventLogPort,
) -> None:
    log.append_records([event_row(n=i) for i in range(6)])
    first, second = log.consumer(BUS, "feed"), log.consumer(BUS, "feed")
    one = fetch_until(first, 6)
    two = second.fetch(10, wait_secs=0.5)
    if log.consumers_share_work:  # each message goes to one member while it holds it
        assert two.records == []
    else:  # both fetch from the group's committed offset; the first commit wins
        assert [r.event_id for r in two.records] == [r.event_id for r in one.records]
    first.close()
    second.close()


def test_an_uncommitted_batch_goes_to_another_consumer(log: EventLogPort, db: Database) -> None:
    log.append_records([event_row(n=i) for i in range(3)])
    crashed = log.consumer(BUS, "router")
    taken = crashed.fetch(10, wait_secs=0.5)
    assert len(taken) == 3
    crashed.close()  # dies holding the batch
    survivor = log.consumer(BUS, "router")
    again = fetch_until(survivor, 3)
    assert [r.event_id for r in again.records] == [r.event_id for r in taken.records]
    survivor.commit(again, recorder(again))
    assert sorted(handled(db, "router")) == sorted(r.event_id for r in taken.records)
    survivor.close()


def test_a_commit_whose_write_fails_is_fetched_again(log: EventLogPort, db: Database) -> None:
    log.append_records([event_row(n=i) for i in range(3)])
    consumer = log.consumer(BUS, "router")
    batch = fetch_until(consumer, 3)

    def failing(conn: Any) -> None:
        recorder(batch)(conn)
        raise RuntimeError("the state store refused the write")

    with pytest.raises(RuntimeError, match="refused"):
        consumer.commit(batch, failing)
    assert handled(db, "router") == []  # the write rolled back
    again = fetch_until(consumer, 3)
    assert [r.event_id for r in again.records] == [r.event_id for r in batch.records]
    consumer.commit(again, recorder(again))
    assert len(handled(db, "router")) == 3
    consumer.close()


def test_a_batch_committed_twice_is_handed_off_once(log: EventLogPort, db: Database) -> None:
    log.append_records([event_row(n=i) for i in range(3)])
    consumer = log.consumer(BUS, "router")
    batch = fetch_until(consumer, 3)
    assert consumer.commit(batch, recorder(batch)) == 3
    with pytest.raises(Conflict):
        consumer.commit(batch, recorder(batch))
    assert len(handled(db, "router")) == 3
    assert consumer.fetch(10, wait_secs=0.2).records == []
    consumer.close()


def test_a_slow_consumer_whose_batch_went_to_another_hands_it_off_once(
    log: EventLogPort, db: Database
) -> None:
    log.append_records([event_row(n=i) for i in range(3)])
    slow, other = log.consumer(BUS, "router"), log.consumer(BUS, "router")
    held = fetch_until(slow, 3)
    again = fetch_until(other, 3)  # after the slow one's lease ran out (at once on SQL)
    assert [r.event_id for r in again.records] == [r.event_id for r in held.records]
    slow.commit(held, recorder(held))  # late, but first
    with pytest.raises(Conflict):
        other.commit(again, recorder(again))
    assert len(handled(db, "router")) == 3
    # whatever the other member is given back is recognised as handed off, never routed again
    deadline = time.monotonic() + 3 * LEASE_SECS
    while time.monotonic() < deadline:
        assert other.fetch(10, wait_secs=0.2).records == []
    assert len(handled(db, "router")) == 3
    slow.close()
    other.close()


def test_groups_can_be_placed_listed_and_dropped(log: EventLogPort, db: Database) -> None:
    log.append_records([event_row(n=i) for i in range(3)])
    router = log.consumer(BUS, "router")
    consume_all(router, 3)
    router.close()
    start = log.offset("router", BUS)
    assert log.ensure_group("archive:a", BUS, start) is True
    assert log.ensure_group("archive:a", BUS, 0) is False  # already placed
    log.append_records([event_row(n=9)])
    archive = log.consumer(BUS, "archive:a")
    batch = fetch_until(archive, 1)
    assert [r.event()["detail"]["n"] for r in batch.records] == [9]
    archive.commit(batch, recorder(batch))
    archive.close()
    assert ("archive:a", BUS) in log.groups("archive:")
    assert all(g.startswith("archive:") for g, _ in log.groups("archive:"))
    assert log.drop_group("archive:a", BUS) is True
    assert "archive:a" not in log.offsets(BUS)
    assert log.drop_group("archive:a", BUS) is False


def test_retention_trims_only_what_every_group_passed(log: EventLogPort) -> None:
    log.append_records([event_row(n=i) for i in range(4)])
    records = log.read_after(BUS, 0, 100)
    consumer = log.consumer(BUS, "router")
    batch = fetch_until(consumer, 2, max_events=2)
    consumer.commit(batch, lambda conn: None)
    consumer.close()
    upto = log.offset("router", BUS)
    assert log.trim_before(BUS, upto_seq=upto, ingested_before=time.time() - 3600) == 0
    assert log.trim_before(BUS, upto_seq=upto, ingested_before=time.time() + 60) == 2
    assert [r.seq for r in log.read_after(BUS, 0, 100)] == [r.seq for r in records[2:]]


def test_asyncio_appends_are_durable_on_return(log: EventLogPort) -> None:
    async def append() -> None:
        await log.append_future([event_row(n=1)])
        await log.aappend([batch_row(ns=(2, 3))])

    asyncio.run(append())
    assert [r.event()["detail"]["n"] for r in log.read_after(BUS, 0, 10)] == [1, 2, 3]
