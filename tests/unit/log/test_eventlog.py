from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from functools import partial

import pytest

from clientevents.errors import Conflict, StoreError
from clientevents.log import EventLog, LogRetention
from clientevents.log.appender import LogAppender, insert_rows
from clientevents.store.engine import Database


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def row(bus: str, n: int, *, time: float = 1000.0, ingested_at: float = 2000.0) -> tuple[
    str, str, float, float, str, None, None
]:
    return (bus, f"id-{bus}-{n}", time + n, ingested_at + n, f'{{"n": {n}}}', None, None)


def test_read_after_returns_one_bus_in_order_with_a_limit(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", 0), row("b", 0), row("a", 1), row("a", 2)]))
    first = log.read_after("a", 0, 2)
    assert [r.event_id for r in first] == ["id-a-0", "id-a-1"]
    assert [r.seq for r in first] == sorted(r.seq for r in first)
    rest = log.read_after("a", first[-1].seq, 10)
    assert [r.event_id for r in rest] == ["id-a-2"]
    assert log.read_after("a", rest[-1].seq, 10) == []
    assert [r.event_id for r in log.read_after("b", 0, 10)] == ["id-b-0"]
    assert log.head("a") == rest[-1].seq
    assert log.count("a") == 3
    assert log.head("nothing") == 0


def test_records_carry_every_column(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [("a", "e1", 1.5, 2.5, "{}", "replay1", '["r1"]')]))
    (record,) = log.read_after("a", 0, 1)
    assert (record.bus, record.event_id, record.time, record.ingested_at, record.body) == (
        "a", "e1", 1.5, 2.5, "{}"
    )
    assert record.replay_name == "replay1"
    assert record.replay_rule_names() == ["r1"]


def test_offsets_start_at_zero_and_commit_inside_a_write(db: Database) -> None:
    log = EventLog(db)
    assert log.offset("router", "a") == 0
    db.write(lambda c: log.commit_offset(c, "router", "a", 5))
    db.write(lambda c: log.commit_offset(c, "archive:x", "a", 3))
    assert log.offset("router", "a") == 5
    assert log.offsets("a") == {"router": 5, "archive:x": 3}


def test_compare_and_set_offsets_refuse_a_second_consumer(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.commit_offset(c, "router", "a", 5, expected=0))
    db.write(lambda c: log.commit_offset(c, "router", "a", 9, expected=5))
    with pytest.raises(Conflict, match="at offset 9, not 5"):
        db.write(lambda c: log.commit_offset(c, "router", "a", 12, expected=5))
    assert log.offset("router", "a") == 9


def test_an_offset_commits_with_the_work_or_not_at_all(db: Database) -> None:
    log = EventLog(db)
    db.ensure_schema("CREATE TABLE IF NOT EXISTS work (v INTEGER NOT NULL)")

    def batch(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO work (v) VALUES (1)")
        log.commit_offset(conn, "router", "a", 7)
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        db.write(batch)
    assert log.offset("router", "a") == 0
    assert db.read(lambda c: c.execute("SELECT count(*) FROM work").fetchone()[0]) == 0


def test_read_time_range_filters_event_time_and_pages_by_seq(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", n, time=100.0) for n in range(10)]))
    page = log.read_time_range("a", 103.0, 108.0, 0, 3)
    assert [r.time for r in page] == [103.0, 104.0, 105.0]
    page2 = log.read_time_range("a", 103.0, 108.0, page[-1].seq, 3)
    assert [r.time for r in page2] == [106.0, 107.0]


def test_trim_deletes_only_consumed_and_old_events(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", n, ingested_at=0.0) for n in range(6)]))
    seqs = [r.seq for r in log.read_after("a", 0, 10)]
    deleted = db.write(lambda c: log.trim(c, "a", upto_seq=seqs[3], ingested_before=3.5))
    # seq <= seqs[3] and ingested_at (0..5) < 3.5: the first four
    assert deleted == 4
    assert [r.seq for r in log.read_after("a", 0, 10)] == seqs[4:]


def test_seq_is_never_reused_after_a_trim(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", 0)]))
    head = log.head("a")
    db.write(lambda c: log.trim(c, "a", upto_seq=head, ingested_before=1e12))
    db.write(lambda c: log.append(c, [row("a", 1)]))
    assert log.head("a") > head


def test_insert_rows_uses_few_statements_for_any_count(db: Database) -> None:
    log = EventLog(db)
    for count in (1, 3, 255, 256, 257, 700):
        rows = [row(f"bus{count}", n) for n in range(count)]
        db.write(partial(insert_rows, rows=rows))
        got = log.read_after(f"bus{count}", 0, 1000)
        assert [r.event_id for r in got] == [r[1] for r in rows]


def test_appender_shares_commits_between_threads_and_tasks(db: Database) -> None:
    appender = LogAppender(db)
    log = EventLog(db)

    def worker(t: int) -> None:
        for i in range(20):
            appender.append([row(f"t{t}", i)])

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()

    async def tasks() -> None:
        await asyncio.gather(*(appender.aappend([row("async", i)]) for i in range(40)))

    asyncio.run(tasks())
    for thread in threads:
        thread.join()
    for t in range(8):
        assert [r.event_id for r in log.read_after(f"t{t}", 0, 100)] == [
            f"id-t{t}-{i}" for i in range(20)
        ]
    assert log.count("async") == 40


def test_appender_raises_store_error_when_the_database_is_closed(db: Database) -> None:
    appender = LogAppender(db)
    db.close()
    with pytest.raises(StoreError, match="closed"):
        appender.append([row("a", 0)])


def test_appender_fails_every_caller_of_a_failed_write(db: Database) -> None:
    appender = LogAppender(db)
    bad = ("a", None, 1.0, 1.0, "{}", None, None)  # event_id is NOT NULL
    with pytest.raises(StoreError, match=r"(?i)not.null"):
        appender.append([bad])
    appender.append([row("a", 1)])  # the appender keeps working
    assert EventLog(db).count("a") == 1


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retention_trims_what_every_consumer_passed_after_the_age(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", n, ingested_at=1000.0) for n in range(10)]))
    seqs = [r.seq for r in log.read_after("a", 0, 100)]
    clock = Clock(1000.0 + 100.0)
    retention = LogRetention(log, ["a"], retention_secs=50.0, clock=clock)

    # Given no router offset yet, nothing is trimmed.
    assert retention.trim_once() == 0
    # Given the router passed 6 events but an archive only 4, only 4 go (all are old enough).
    db.write(lambda c: log.commit_offset(c, "router", "a", seqs[5]))
    db.write(lambda c: log.commit_offset(c, "archive:x", "a", seqs[3]))
    assert retention.trim_once() == 4
    # When the archive catches up, events not yet old enough stay.
    db.write(lambda c: log.commit_offset(c, "archive:x", "a", seqs[9]))
    db.write(lambda c: log.commit_offset(c, "router", "a", seqs[9]))
    clock.now = 1000.0 + 7 + 49.5  # events 0..6 are older than 50 s
    assert retention.trim_once() == 3
    assert [r.seq for r in log.read_after("a", 0, 100)] == seqs[7:]


def test_retention_run_stops_when_asked(db: Database) -> None:
    log = EventLog(db)
    db.write(lambda c: log.append(c, [row("a", 0, ingested_at=0.0)]))
    db.write(lambda c: log.commit_offset(c, "router", "a", log.head("a")))
    retention = LogRetention(log, ["a"], retention_secs=0.0, interval_secs=3600.0)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(retention.run(stop))
        deadline = time.monotonic() + 60.0  # fail instead of hanging if the trim stalls
        while log.count("a"):
            assert time.monotonic() < deadline, "the first retention pass deleted nothing"
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(main())
    assert log.count("a") == 0


def test_retention_refuses_a_negative_age(db: Database) -> None:
    with pytest.raises(ValueError, match="retention_secs must be 0 or more"):
        LogRetention(EventLog(db), ["a"], retention_secs=-1)


def test_appender_wakes_every_caller_of_a_drain_even_when_it_fails(db: Database) -> None:
    appender = LogAppender(db)
    log = EventLog(db)
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        rows = [("a", None, 1.0, 1.0, "{}", None, None)] if i == 7 else [row("a", i)]
        try:
            appender.append(rows)
            outcomes[i] = "ok"
        except StoreError:
            outcomes[i] = "failed"

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)  # nobody left waiting
    assert outcomes[7] == "failed"
    stored = {int(r.event_id.rsplit("-", 1)[1]) for r in log.read_after("a", 0, 100)}
    assert stored == {i for i, outcome in outcomes.items() if outcome == "ok"}


def test_a_lingering_commit_gathers_callers_and_never_outwaits_its_linger(db: Database) -> None:
    # Given an appender whose commits may wait up to 2 s for as many callers as the last
    # commit held (a burst the scheduler splits across two commits makes the second wait)
    appender = LogAppender(db, linger_secs=2.0)
    log = EventLog(db)

    def burst(tag: str, callers: int) -> None:
        barrier = threading.Barrier(callers)

        def one(i: int) -> None:
            barrier.wait()
            appender.append([row(tag, i)])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a commit kept waiting"

    # A lone caller never waits for company.
    appender.append([row("alone", 0)])
    # Bursts of four callers: every append returns (a wait ends at its linger at the
    # latest), and commits hold several callers each.
    for n in range(5):
        burst(f"burst{n}", 4)
        assert log.count(f"burst{n}") == 4
    assert appender.drains < 1 + 5 * 4
    with pytest.raises(ValueError, match="linger_secs must be 0 or more"):
        LogAppender(db, linger_secs=-1)
