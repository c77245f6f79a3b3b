"""Archives and replays on the JetStream event log: each archive is a JetStream stream of its
own (not rows of ``archive_events``), a replay reads a window from it and puts exactly the
window's events back on the bus for the rules it names, and a replay runner killed between a
publish and its commit is resumed by another without losing or doubling an event, even after
the bus stream's de-duplication window has passed.

Needs the shared NATS server at 127.0.0.1:4222 (JetStream enabled); each test uses a stream
prefix of its own and deletes its streams afterwards. The state store is a SQLite file, or a
PostgreSQL schema of its own under ``CLIENTEVENTS_TEST_BACKEND=postgres+jetstream`` (or
``CLIENTEVENTS_TEST_STORE=postgres``); the child process opens the same one.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_helpers import (
    PG_DSN,
    TEST_BACKEND,
    TEST_STORE,
    close_test_store,
    open_test_store,
    require_service,
)

from clientevents.archive import COMPLETED, ReplayRunner, Replays
from clientevents.archive.archive import Archives
from clientevents.archive.archiver import Archiver
from clientevents.archive.streams import ArchiveStreams, minute_of
from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.routing.router import Router
from clientevents.store.engine import Database

pytestmark = pytest.mark.integration

BUS = "shop"
CHILD = Path(__file__).with_name("_jetstream_replay_child.py")
DEADLINE_SECS = 60.0  # fails a stalled test; never a timing assertion


def config_data(archives: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "buses": [{"name": BUS}],
        "rules": [
            {"name": rule, "bus": BUS, "event_pattern": {"source": ["web"]},
             "targets": [{"id": "t", "type": "log", "path": f"{rule}.jsonl"}]}
            for rule in ("r1", "r2")
        ],
        "archives": archives if archives is not None else [
            {"name": "evens", "bus": BUS, "event_pattern": {"detail": {"even": [True]}},
             "retention_days": 7},
            {"name": "all", "bus": BUS},
        ],
    }


def settings(archives: list[dict[str, Any]] | None = None) -> Settings:
    return validate_settings(config_data(archives), environ={})


@pytest.fixture
def prefix() -> str:
    require_service("NATS", "127.0.0.1", 4222)
    return "a" + uuid.uuid4().hex[:12]


STORE = "postgres" if TEST_BACKEND == "postgres+jetstream" else TEST_STORE


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_test_store(tmp_path, STORE)
    yield database
    close_test_store(database)


def store_spec(db: Database) -> str:
    """How the child process opens ``db``: ``sqlite:<file>`` or ``postgres:<schema>``."""
    schema = getattr(db, "schema", None)
    if schema is not None:
        return f"postgres:{schema}"
    return f"sqlite:{db.path}"


@pytest.fixture
def log(db: Database, prefix: str) -> Iterator[JetStreamEventLog]:
    opened = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0))
    yield opened
    opened.delete_streams()
    opened.close()


def put(publisher: Publisher, times: list[float]) -> list[str]:
    """One event per time (``detail.n`` its index, ``even`` whether it is even); their ids."""
    entries = [
        {"Source": "web", "DetailType": "t", "EventBusName": BUS, "Time": at,
         "Detail": orjson.dumps({"n": n, "even": n % 2 == 0}).decode()}
        for n, at in enumerate(times)
    ]
    ids: list[str] = []
    for first in range(0, len(entries), 10):
        answer = publisher.put_events(entries[first:first + 10])
        assert answer["FailedEntryCount"] == 0, answer
        ids += [e["EventId"] for e in answer["Entries"]]
    return ids


def archive_all(archiver: Archiver, log: JetStreamEventLog, want: dict[str, int]) -> None:
    """Run the archiver until every archive's stream holds ``want[archive]`` events."""
    streams = ArchiveStreams(log)
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        held = {name: (streams.stats(name) or (0, 0))[0] for name in want}
        if held == want and not archiver.archive_pass():
            return
        assert time.monotonic() < deadline, f"archived {held}, want {want}"
        archiver.archive_pass()


def stream_config(log: JetStreamEventLog, name: str) -> Any:
    return log._run(log._js.stream_info(name)).config


def replay_to_end(runner: ReplayRunner, replays: Replays, name: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while replays.describe(name).state != COMPLETED:
        assert time.monotonic() < deadline, replays.describe(name)
        runner.step_all()


def test_an_archive_keeps_its_matching_events_in_a_stream_of_its_own(
    db: Database, log: JetStreamEventLog, prefix: str
) -> None:
    config = settings()
    publisher = Publisher(db, config, log=log)
    archiver = Archiver(db, config, log=log)
    t0 = time.time() - 600
    ids = put(publisher, [t0 + n for n in range(10)]) + put(publisher, [t0 + 10 + n
                                                                        for n in range(9)])
    evens = [ids[n] for n in range(10) if n % 2 == 0] + [ids[10 + n] for n in range(0, 9, 2)]
    # and a gateway-style record: one message holding a request's events
    batch = asyncio.run(publisher.put_details_async(
        [{"n": n, "even": n % 2 == 0} for n in range(4)], source="web", detail_type="t",
        resources=[], bus=BUS,
    ))
    batch_ids = [e["EventId"] for e in batch["Entries"]]
    evens += [batch_ids[0], batch_ids[2]]
    archive_all(archiver, log, {"evens": len(evens), "all": len(ids) + 4})

    streams = ArchiveStreams(log)
    evens_stream, _ = streams.names("evens")
    assert evens_stream.startswith(f"{prefix}_archive_")
    cfg = stream_config(log, evens_stream)
    assert cfg.description == "archive:evens"
    assert cfg.max_age == 7 * 86_400  # the archive's retention
    assert not stream_config(log, streams.names("all")[0]).max_age  # retention_days 0: none
    # nothing went to the state store's archive table
    assert db.read(lambda c: c.execute("SELECT count(*) FROM archive_events").fetchone())[0] == 0

    archives = Archives(db, config, log=log)
    copies = archives.events("evens", limit=1000)
    assert sorted(e.event_id for e in copies) == sorted(evens)
    assert all(orjson.loads(e.body)["detail"]["even"] is True for e in copies)
    assert sorted(e.event_id for e in archives.events("all", limit=1000)) == sorted(
        ids + batch_ids)
    count, size = streams.stats("evens") or (0, 0)
    info = archives.describe("evens")
    assert (info.event_count, info.size_bytes) == (count, size) == (len(evens), size)
    assert size > sum(len(e.body) for e in copies)  # the stream's bytes: bodies and headers
    listed = {a.name: a.event_count for a in archives.list()}
    assert listed == {"evens": len(evens), "all": len(ids) + 4}

    # a hand-off published again (a redelivery) is stored once: keyed by event id
    streams.store("evens", 7, copies)
    assert streams.stats("evens") == (count, size)
    # the retention pass takes the stream's figures into the state store
    archiver.trim_once()
    state = db.read(lambda c: c.execute(
        "SELECT event_count, size_bytes FROM archives_state WHERE archive = 'evens'").fetchone())
    assert tuple(state) == (count, size)


def test_a_replay_of_a_time_range_delivers_exactly_its_events_to_the_named_rule(
    db: Database, log: JetStreamEventLog
) -> None:
    config = settings()
    publisher = Publisher(db, config, log=log)
    archiver = Archiver(db, config, log=log)
    t0 = math.floor(time.time() / 60) * 60 - 3600.0  # a whole minute, an hour ago
    times = [t0 + 25 * n for n in range(12)]  # across five minutes
    order = list(reversed(range(12)))  # archived latest first
    ids_by_n = dict(zip(order, put(publisher, [times[n] for n in order]), strict=True))
    archive_all(archiver, log, {"evens": 6, "all": 12})

    start, end = t0 + 50, t0 + 200  # n = 2..7; t0 + 200 (n = 8) is excluded
    window = [n for n in order if start <= times[n] < end]
    assert sorted(window) == [2, 3, 4, 5, 6, 7]
    # minute by minute in event time; in archive order within a minute
    expected = [ids_by_n[n] for n in sorted(window, key=lambda n: (minute_of(times[n]),
                                                                     order.index(n)))]
    replays = Replays(db, config)
    replays.start_replay("fix", "all", start, end, rules=["r1"])
    runner = ReplayRunner(db, config, publisher=publisher, batch_size=4)
    assert runner.streams is not None
    replay_to_end(runner, replays, "fix")

    replayed = [r for r in log.read_after(BUS, 0, 1000) if r.replay_name == "fix"]
    assert [r.event_id for r in replayed] == expected
    assert all(r.replay_rule_names() == ["r1"] for r in replayed)
    assert all(r.event()["replay-name"] == "fix" for r in replayed)
    done = replays.describe("fix")
    assert done.events_replayed == 6
    assert done.event_last_replayed_time == times[int(
        next(n for n in window if ids_by_n[n] == expected[-1]))]

    router = Router(db, config, log=log, idle_wait_secs=0.2)
    deadline = time.monotonic() + DEADLINE_SECS
    while len(deliveries(db)) < 12 * 2 + 6:
        assert time.monotonic() < deadline, f"{len(deliveries(db))} of 30 enqueued"
        router.drain(wait_secs=0.2)
    router.drain(wait_secs=0.5)
    router.close()
    got = Counter(deliveries(db))
    want = Counter({(f"{BUS}/r2/t", i): 1 for i in ids_by_n.values()})
    want.update({(f"{BUS}/r1/t", i): 1 for i in ids_by_n.values()})
    want.update({(f"{BUS}/r1/t", ids_by_n[n]): 1 for n in window})  # the replay, r1 only
    assert got == want
    # replayed events are not archived again
    while archiver.archive_pass():
        pass
    assert (ArchiveStreams(log).stats("all") or (0, 0))[0] == 12


def deliveries(db: Database) -> list[tuple[str, str]]:
    rows = db.read(lambda conn: conn.execute(
        "SELECT target_key, event_id FROM deliveries").fetchall())
    return [(str(k), str(e)) for k, e in rows]


def test_removing_an_archive_from_the_configuration_deletes_its_stream(
    db: Database, log: JetStreamEventLog
) -> None:
    config = settings()
    Archiver(db, config, log=log)
    streams = ArchiveStreams(log)
    assert streams.archives() == ["all", "evens"]
    assert streams.stats("evens") == (0, 0)

    Archiver(db, settings([{"name": "all", "bus": BUS}]), log=log)
    assert streams.archives() == ["all"]
    assert streams.stats("evens") is None
    names = db.read(lambda c: c.execute("SELECT archive FROM archives_state").fetchall())
    assert [n[0] for n in names] == ["all"]
    # the bus's own stream and its groups are untouched
    assert ("archive:all", BUS) in log.groups("archive:")


def test_a_replay_runner_killed_between_publish_and_commit_is_resumed_without_loss_or_double(
    tmp_path: Path, db: Database, prefix: str
) -> None:
    window_secs = 1.0  # the bus stream's de-duplication window: the resume comes after it
    log = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0,
                                                 duplicate_window=window_secs))
    try:
        data = config_data([{"name": "all", "bus": BUS}])
        config = validate_settings(data, environ={})
        publisher = Publisher(db, config, log=log)
        archiver = Archiver(db, config, log=log)
        t0 = time.time() - 300
        ids = put(publisher, [t0 + 10 * n for n in range(10)])
        archive_all(archiver, log, {"all": 10})
        replays = Replays(db, config)
        replays.start_replay("crash", "all", t0 - 1, t0 + 1000)

        child = subprocess.run(
            [sys.executable, str(CHILD), store_spec(db), prefix,
             orjson.dumps(data).decode(), "2", str(window_secs)],
            capture_output=True, text=True, timeout=DEADLINE_SECS,
            env={**os.environ, "CLIENTEVENTS_TEST_PG_DSN": PG_DSN, "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])},
        )
        assert child.returncode == -9, child.stderr[-2000:]
        dying = child.stdout.split("PUBLISHED ", 1)[1].split()
        assert len(dying) == 2
        on_bus = [r.event_id for r in log.read_after(BUS, 0, 1000) if r.replay_name == "crash"]
        assert on_bus == ids[:4]  # two batches published, the second one never committed
        killed = replays.describe("crash")
        assert killed.events_replayed == 2 and dying == ids[2:4]

        mark_time = db.read(lambda c: c.execute(
            "SELECT mark_time FROM replays WHERE name = 'crash'").fetchone())[0]
        while time.time() < mark_time + 2 * window_secs:  # the window has passed
            time.sleep(0.1)

        runner = ReplayRunner(db, config, publisher=Publisher(db, config, log=log),
                              batch_size=2)
        replay_to_end(runner, replays, "crash")
        on_bus = [r.event_id for r in log.read_after(BUS, 0, 1000) if r.replay_name == "crash"]
        assert on_bus == ids  # every event once: none lost, the dying batch not doubled
        assert replays.describe("crash").events_replayed == 10
    finally:
        log.delete_streams()
        log.close()


def test_an_archiver_killed_between_its_publish_and_its_hand_off_stores_each_event_once(
    db: Database, prefix: str
) -> None:
    window_secs = 1.0  # the streams' de-duplication window: the hand-off comes again after it
    log = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0,
                                                 duplicate_window=window_secs))
    try:
        data = config_data([{"name": "all", "bus": BUS}])
        config = validate_settings(data, environ={})
        publisher = Publisher(db, config, log=log)
        archiver = Archiver(db, config, log=log)
        ids = put(publisher, [time.time() - 60 + n for n in range(10)])
        stored_before = time.time()

        child = subprocess.run(
            [sys.executable, str(CHILD.with_name("_jetstream_archive_child.py")),
             store_spec(db), prefix, orjson.dumps(data).decode(), str(window_secs)],
            capture_output=True, text=True, timeout=DEADLINE_SECS,
            env={**os.environ, "CLIENTEVENTS_TEST_PG_DSN": PG_DSN, "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])},
        )
        assert child.returncode == -9, child.stderr[-2000:]
        assert "STORED 10" in child.stdout
        streams = ArchiveStreams(log)
        assert (streams.stats("all") or (0, 0))[0] == 10  # stored, never handed off
        assert log.offset("archive:all", BUS) == 0
        while time.time() < stored_before + 2 * window_secs:  # the window has passed
            time.sleep(0.1)

        # the batch comes back after its lease; the archiver stores only what is missing
        deadline = time.monotonic() + DEADLINE_SECS
        while log.offset("archive:all", BUS) < log.head(BUS):
            assert time.monotonic() < deadline, "the batch was not handed off again"
            archiver.archive_pass()
        assert streams.stats("all") is not None
        assert (streams.stats("all") or (0, 0))[0] == 10
        archived = Archives(db, config, log=log).events("all", limit=100)
        assert sorted(e.event_id for e in archived) == sorted(ids)
        assert db.read(lambda c: c.execute(
            "SELECT event_count FROM archives_state WHERE archive = 'all'").fetchone())[0] == 10
    finally:
        log.delete_streams()
        log.close()


def test_a_window_of_decades_reads_the_minutes_that_hold_events_in_time_order(
    db: Database, log: JetStreamEventLog
) -> None:
    config = settings([{"name": "all", "bus": BUS}])
    publisher = Publisher(db, config, log=log)
    archiver = Archiver(db, config, log=log)
    minute = 60 * math.floor(time.time() / 60)
    times = [
        minute + 30.0,             # now
        946_684_800.0 + 0.5,       # 2000-01-01, an era and many blocks earlier
        minute - 86_400 * 400.0,   # a block earlier
        minute - 60.0,             # the minute before
        minute + 59.999,           # the end of this minute
        minute - 0.001,            # the last instant of the minute before
        minute + 60.0,             # the next minute: the window's end, excluded
    ]
    ids = put(publisher, times)
    archive_all(archiver, log, {"all": len(times)})
    archives = Archives(db, config, log=log)
    got = archives.events("all", start=0.0, end=minute + 60.0, limit=100)
    # minute by minute, archive order within one; the end is exclusive
    assert [e.event_id for e in got] == [ids[1], ids[2], ids[3], ids[5], ids[0], ids[4]]
    assert [e.time for e in got] == sorted(e.time for e in got)
    assert [e.event_id for e in archives.events("all", start=minute, end=minute + 60.0)] == [
        ids[0], ids[4]]
    assert [e.event_id for e in archives.events("all", limit=3)] == [ids[1], ids[2], ids[3]]
    assert archives.events("all", start=minute + 120.0) == []
