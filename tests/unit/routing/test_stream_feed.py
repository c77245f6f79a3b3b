"""Delivery-stream targets fed from the log: real database, real log, real lake folder."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


def publish(db: Database, s: Settings, kinds: list[str]) -> list[str]:
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


def one_feed(db: Database, s: Settings, tmp_path: Path, **options: Any) -> StreamFeed:
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
