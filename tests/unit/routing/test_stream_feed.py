"""Delivery-stream targets fed from the log: real database, real log, real lake folder."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import close_test_store, open_test_store

from clientevents.config import validate_settings
from clientevents.config.model import Settings
from clientevents.events import Publisher
from clientevents.log import EventLog
from clientevents.routing import Router
from clientevents.routing.direct import (
    FEED_PREFIX,
    StreamFeed,
    build_feeds,
    direct_target_keys,
    register_feeds,
)
from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.leases import WorkerRegistry

LAKE_KEY = "b/to_lake/lake"


def settings(tmp_path: Path, **target: Any) -> Settings:
    return validate_settings({
        "data_dir": str(tmp_path),
        "buses": [{"name": "b"}],
        "rules": [
            {"name": "to_lake", "bus": "b", "event_pattern": {"detail": {"kind": ["a", "b"]}},
             "targets": [{"id": "lake", "type": "delivery_stream", "delivery_stream": "lake",
                          "input_transformer": {"input_template": "<aws.events.event.json>\n"},
                          **target}]},
            {"name": "to_file", "bus": "b", "event_pattern": {"detail": {"kind": ["a"]}},
             "targets": [{"id": "file", "type": "log", "path": "out.jsonl"}]},
        ],
        "delivery_streams": [{
            "name": "lake",
            "destination": {"type": "local", "local": {"path": "lake"}},
            "processors": [{"type": "metadata_extraction", "query": "{kind: .detail.kind}"}],
            "prefix": "!{partitionKeyFromQuery:kind}/",
            "error_output_prefix": "errors/!{firehose:error-output-type}/",
            "buffering": {"interval_secs": 60},
        }],
    }, environ={})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "db.sqlite")
    yield database
    database.close()


def publish(db: Any, s: Settings, kinds: list[str]) -> list[str]:
    entries = [{"Source": "app", "DetailType": "t", "EventBusName": "b",
                "Detail": json.dumps({"kind": kind, "n": i})} for i, kind in enumerate(kinds)]
    publisher = Publisher(db, s)
    ids: list[str] = []
    for start in range(0, len(entries), 10):
        answer = publisher.put_events(entries[start:start + 10])
        assert answer["FailedEntryCount"] == 0
        ids += [e["EventId"] for e in answer["Entries"]]
    return ids


def lake_ids(tmp_path: Path) -> Counter[str]:
    """Event ids in the lake's objects (staging excluded), with how often each appears."""
    ids: Counter[str] = Counter()
    root = tmp_path / "lake"
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and ".staging" not in path.parts:
            ids.update(json.loads(line)["id"] for line in path.read_text().splitlines() if line)
    return ids


def one_feed(db: Any, s: Settings, tmp_path: Path, **options: Any) -> StreamFeed:
    log = EventLog(db)
    register_feeds(log, s)
    [feed] = build_feeds(db, log, s, TargetContext(db=db, settings=s, data_dir=tmp_path),
                         **options)
    return feed


def queued(db: Database) -> list[tuple[str, str]]:
    return db.read(lambda c: c.execute(
        "SELECT target_key, event_id FROM deliveries ORDER BY id").fetchall())


def drain(feed: StreamFeed) -> None:
    async def main() -> None:
        while await feed.step():
            pass
        await feed.finish()
    asyncio.run(main())


def test_the_feed_writes_matching_events_once_and_commits_its_offset(
    db: Database, tmp_path: Path
) -> None:
    s = settings(tmp_path)
    ids = publish(db, s, ["a", "b", "c", "a"] * 50)
    feed = one_feed(db, s, tmp_path, batch_size=64)
    drain(feed)
    expected = {i for i, k in zip(ids, ["a", "b", "c", "a"] * 50, strict=True) if k != "c"}
    found = lake_ids(tmp_path)
    assert set(found) == expected and set(found.values()) == {1}  # no duplicates
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")
    assert queued(db) == []  # no queue row for the lake
    delivered = db.read(lambda c: c.execute(
        "SELECT delivered FROM delivery_counters WHERE target_key = ?", (LAKE_KEY,)).fetchone())
    assert delivered == (150,)


def test_the_router_skips_log_fed_targets_and_still_queues_the_others(
    db: Database, tmp_path: Path
) -> None:
    s = settings(tmp_path)
    ids = publish(db, s, ["a", "b"])
    keys = register_feeds(EventLog(db), s)
    assert keys == direct_target_keys(s) == {LAKE_KEY}
    router = Router(db, s, skip=keys)
    asyncio.run(router.route_once())
    assert queued(db) == [("b/to_file/file", ids[0])]


def test_a_crash_before_the_commit_loses_nothing_and_repeats_only_what_was_written(
    db: Database, tmp_path: Path
) -> None:
    s = settings(tmp_path)
    kinds = ["a", "b"] * 100
    ids = publish(db, s, kinds)
    # A first feed takes two batches into its buffers and writes one partition's object,
    # then dies before committing anything (the object it wrote stays).
    first = one_feed(db, s, tmp_path, batch_size=50)

    async def crash_mid_batch() -> None:
        await first.step()
        await first.step()
        settled = await first.stream.flush(everything=True)
        assert settled  # objects written, never committed
    asyncio.run(crash_mid_batch())
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == 0
    written_before = lake_ids(tmp_path)
    assert 0 < len(written_before) < len(ids)
    # The restarted worker's feed starts from the committed offset: every event arrives,
    # and only what the dead feed had written appears twice.
    second = one_feed(db, s, tmp_path, batch_size=50)
    drain(second)
    found = lake_ids(tmp_path)
    assert set(found) == set(ids)
    assert {i for i, n in found.items() if n > 1} == set(written_before)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")


def test_records_whose_object_cannot_be_written_move_to_the_target_queue(
    db: Database, tmp_path: Path
) -> None:
    s = settings(tmp_path)
    (tmp_path / "lake").write_text("a file where the lake's folder should be")
    ids = publish(db, s, ["a", "b", "a"])
    feed = one_feed(db, s, tmp_path)
    drain(feed)
    # The failed records wait in the queue (its dispatcher retries them under the retry
    # policy, then dead-letters them), and the feed's offset moved past them.
    assert sorted(queued(db)) == sorted((LAKE_KEY, i) for i in ids)
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")


def test_an_event_that_cannot_be_shaped_is_dead_lettered(db: Database, tmp_path: Path) -> None:
    s = settings(tmp_path, input_transformer=None, input_path="$.detail.missing")
    publish(db, s, ["a"])
    feed = one_feed(db, s, tmp_path)
    drain(feed)
    dead = db.read(lambda c: c.execute(
        "SELECT target_key, error_code FROM dead_letters").fetchall())
    assert dead == [(LAKE_KEY, "TransformError")]
    assert lake_ids(tmp_path) == Counter()


def test_a_target_no_longer_fed_drops_its_offset(db: Database, tmp_path: Path) -> None:
    s = settings(tmp_path)
    publish(db, s, ["a"])
    log = EventLog(db)
    register_feeds(log, s)
    assert FEED_PREFIX + LAKE_KEY in log.offsets("b")
    without = s.model_copy(update={"rules": [r for r in s.rules if r.name != "to_lake"]})
    assert register_feeds(log, without) == frozenset()
    assert FEED_PREFIX + LAKE_KEY not in log.offsets("b")


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The feed-owner tests' store: the SQLite file, or a PostgreSQL schema of its own."""
    database = open_test_store(tmp_path, str(request.param))
    yield database
    close_test_store(database)


def two_worker_feeds(
    db: Any, s: Settings, tmp_path: Path
) -> tuple[list[WorkerRegistry], list[StreamFeed]]:
    """Two registered workers' feeds of the lake target, as two worker processes build them."""
    log = EventLog(db)
    register_feeds(log, s)
    registries = [WorkerRegistry(db), WorkerRegistry(db)]
    feeds: list[StreamFeed] = []
    for registry in registries:
        registry.register()
        ctx = TargetContext(db=db, settings=s, data_dir=tmp_path)
        [feed] = build_feeds(db, log, s, ctx, owner=registry.worker_id, batch_size=40,
                             owner_check_secs=0.0)
        feeds.append(feed)
    return registries, feeds


async def steps_until_caught_up(feeds: list[StreamFeed]) -> list[int]:
    """Step the feeds in turn until none reads anything; how many events each read."""
    read = [0] * len(feeds)
    while True:
        got = [await feed.step() for feed in feeds]
        read = [a + b for a, b in zip(read, got, strict=True)]
        if not any(got):
            return read


def test_two_workers_feeding_one_target_write_each_record_once(
    any_db: Any, tmp_path: Path
) -> None:
    db = any_db
    s = settings(tmp_path)
    kinds = ["a", "b"] * 100
    ids = publish(db, s, kinds)
    registries, feeds = two_worker_feeds(db, s, tmp_path)

    async def main() -> list[int]:
        read = await steps_until_caught_up(feeds)
        for feed in feeds:
            await feed.finish()
        return read

    read = asyncio.run(main())
    # One of them owns the group and read everything; the other read nothing.
    assert sorted(read) == [0, len(ids)]
    found = lake_ids(tmp_path)
    assert set(found) == set(ids) and set(found.values()) == {1}
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")
    for registry in registries:
        registry.deregister()


@pytest.mark.parametrize("how", ["stops", "is_gone"])
def test_the_other_worker_takes_the_feed_over_when_its_owner_stops_or_is_gone(
    any_db: Any, tmp_path: Path, how: str
) -> None:
    db = any_db
    s = settings(tmp_path)
    first = publish(db, s, ["a", "b"] * 20)
    registries, feeds = two_worker_feeds(db, s, tmp_path)

    async def main() -> list[int]:
        read = await steps_until_caught_up(feeds)
        owner = read.index(len(first))
        if how == "stops":  # a clean stop: it commits what it holds and frees the group
            stop = asyncio.Event()
            stop.set()
            await feeds[owner].run(stop)
        else:  # killed: its buffer is lost, and the registry no longer lists it
            registries[owner].deregister()
        more = publish(db, s, ["a", "b"] * 20)
        other = feeds[1 - owner]
        taken = await steps_until_caught_up([other])
        await other.finish()
        return [*taken, len(more)]

    taken, more = asyncio.run(main())
    # The other reads from the group's committed offset: what the owner committed is not
    # read again; what a killed owner held uncommitted is.
    assert taken == (more if how == "stops" else more + len(first))
    found = lake_ids(tmp_path)
    assert len(found) == len(first) + more and set(found.values()) == {1}
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")


def test_a_feed_stopping_after_another_moved_its_group_stops_cleanly(
    any_db: Any, tmp_path: Path
) -> None:
    db = any_db
    s = settings(tmp_path)
    ids = publish(db, s, ["a", "b"] * 20)
    one, two = one_feed(db, s, tmp_path), one_feed(db, s, tmp_path)  # no owner: both read

    async def main() -> None:
        assert await one.step() == len(ids) and await two.step() == len(ids)
        await one.finish()  # commits first
        await two.finish()  # its commit conflicts: nothing to raise, the group is past it

    asyncio.run(main())
    log = EventLog(db)
    assert log.offset(FEED_PREFIX + LAKE_KEY, "b") == log.head("b")
