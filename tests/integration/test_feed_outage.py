"""A delivery stream fed from the log whose commit meets a PostgreSQL outage commits what it
holds once the store is back, instead of reading the batches again from its committed offset
and writing their objects a second time: every event is in the lake exactly once when no
process died.

The outage is real and confined to the test: the store connects as a role of the test's own,
which is made unable to log in and whose connections are terminated (``pg_terminate_backend``)
after the feed has read the events and before it writes their objects; the shared server
keeps running for everyone else. The log is the SQL log in that store, or JetStream (the
shared NATS server) with its hand-off rows in that store.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_outage import RoleOutage, role_outage
from store_helpers import NATS_URL, drop_test_streams, require_service

from clientevents.config import validate_settings
from clientevents.config.model import Settings
from clientevents.delivery_stream import DeliveryStream
from clientevents.events import Publisher
from clientevents.log import EventLog
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.port import EventLogPort
from clientevents.patterns import EventPattern
from clientevents.routing.direct import FEED_PREFIX, StreamFeed, register_feeds
from clientevents.routing.rules import routes_of
from clientevents.store.postgres import PostgresDatabase
from clientevents.targets.delivery_stream import build_store

pytestmark = [pytest.mark.integration, pytest.mark.own_backend]

DEADLINE_SECS = 60.0
EVENTS = 120
INTERVAL_SECS = 60.0  # the stream's buffering interval, run by the test's clock


@pytest.fixture
def outage() -> Iterator[RoleOutage]:
    with role_outage("ce_feed") as made:
        yield made


class Clock:
    """The stream's clock: its buffers are due when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def settings(tmp_path: Path) -> Settings:
    return validate_settings({
        "data_dir": str(tmp_path),
        "buses": [{"name": "b"}],
        "rules": [
            {"name": "to_lake", "bus": "b", "event_pattern": {"source": ["app"]},
             "targets": [{"id": "lake", "type": "delivery_stream", "delivery_stream": "lake",
                          "input_transformer": {"input_template": "<aws.events.event.json>\n"}}]},
        ],
        "delivery_streams": [{
            "name": "lake",
            "destination": {"type": "local", "local": {"path": "lake"}},
            "buffering": {"interval_secs": INTERVAL_SECS},
        }],
    }, environ={})


def lake_ids(tmp_path: Path) -> Counter[str]:
    """Event ids in the lake's objects (staging excluded), with how often each appears."""
    ids: Counter[str] = Counter()
    root = tmp_path / "lake"
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and ".staging" not in path.parts:
            ids.update(json.loads(line)["id"] for line in path.read_text().splitlines() if line)
    return ids


def publish(db: PostgresDatabase, log: EventLogPort, s: Settings) -> list[str]:
    publisher = Publisher(db, s, log=log)
    ids: list[str] = []
    for start in range(0, EVENTS, 10):
        answer = publisher.put_events([
            {"Source": "app", "DetailType": "t", "EventBusName": "b",
             "Detail": json.dumps({"n": n})} for n in range(start, start + 10)])
        assert answer["FailedEntryCount"] == 0
        ids += [e["EventId"] for e in answer["Entries"]]
    return ids


def one_feed(db: PostgresDatabase, log: EventLogPort, s: Settings, tmp_path: Path,
             clock: Clock) -> StreamFeed:
    register_feeds(log, s)
    [rule] = s.rules
    [route] = routes_of(rule, s.region, s.account)
    [config] = s.delivery_streams
    stream = DeliveryStream(config, build_store(config, tmp_path), account=s.account,
                            region=s.region, clock=clock)
    return StreamFeed(db, log, route, EventPattern(rule.event_pattern), stream, batch_size=16,
                      poll_interval_secs=0.01)


async def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.02)


def _open_log(kind: str, db: PostgresDatabase) -> EventLogPort:
    if kind == "sql":
        return EventLog(db)
    require_service("NATS", "127.0.0.1", 4222)
    prefix = f"feed_{uuid.uuid4().hex[:8]}"
    return JetStreamEventLog(db, JetStreamOptions(servers=(NATS_URL,), stream_prefix=prefix,
                                                  ack_wait=5.0, timeout=2.0))


@pytest.mark.parametrize("log_kind", ["sql", "jetstream"])
def test_objects_written_while_the_store_refuses_the_commit_are_not_written_again(
    outage: RoleOutage, tmp_path: Path, log_kind: str
) -> None:
    db = PostgresDatabase(outage.dsn, schema=outage.schema, pool_min=0, pool_max=2,
                          connect_timeout=2.0)
    log = _open_log(log_kind, db)
    s = settings(tmp_path)
    clock = Clock()
    feed = one_feed(db, log, s, tmp_path, clock)
    group = FEED_PREFIX + feed.route.key
    ids = publish(db, log, s)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        try:
            # Every event read and buffered; none written (the interval has not run out).
            await _until(lambda: sum(len(b.fetched) for b in feed._batches) == EVENTS,
                         "the feed to read every event")
            assert not lake_ids(tmp_path)
            outage.begin()
            clock.now += INTERVAL_SECS  # the buffers are due: objects written, not committed
            await _until(lambda: sum(lake_ids(tmp_path).values()) == EVENTS,
                         "the objects to be written while the store is down")
            await asyncio.sleep(2.5)  # the feed meets the outage for a while
            outage.end()

            def caught_up() -> bool:
                clock.now += INTERVAL_SECS  # whatever it buffers again is written
                try:
                    return log.offset(group, "b") >= log.head("b") > 0
                except Exception:  # the store is reconnecting
                    return False

            await _until(caught_up, "the feed to commit every event once the store is back")
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=DEADLINE_SECS)

    try:
        asyncio.run(main())
        found = lake_ids(tmp_path)
        assert set(found) == set(ids)  # nothing lost
        duplicates = {event_id: n for event_id, n in found.items() if n > 1}
        assert not duplicates, f"{len(duplicates)} events written more than once"
    finally:
        log.close()
        if isinstance(log, JetStreamEventLog):
            drop_test_streams(log.options.stream_prefix)
        db.close()
