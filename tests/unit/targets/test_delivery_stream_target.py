"""The delivery_stream target behind real dispatchers and a real database."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from delivery_helpers import FakeClock, delivery, put, rows, wait_until

from clientevents.config import validate_settings
from clientevents.config.model import Settings
from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.buffered import BufferedDispatcher
from clientevents.targets.delivery_stream import DeliveryStreamTarget
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.queue import queue_depths
from clientevents.targets.retry import Backoff

QUERY = {"type": "metadata_extraction", "query": "{kind: .kind}"}


def settings(tmp_path: Path, *, interval: float = 0.3, rules: int = 1) -> Settings:
    return validate_settings({
        "data_dir": str(tmp_path),
        "buses": [{"name": "b1"}],
        "rules": [
            {"name": f"r{i + 1}", "bus": "b1", "event_pattern": {"source": ["x"]},
             "targets": [{"id": "t1", "type": "delivery_stream", "delivery_stream": "lake"}]}
            for i in range(rules)
        ],
        "delivery_streams": [{
            "name": "lake",
            "destination": {"type": "local", "local": {"path": "lake"}},
            "processors": [QUERY],
            "prefix": "!{partitionKeyFromQuery:kind}/",
            "error_output_prefix": "errors/!{firehose:error-output-type}/",
            "buffering": {"interval_secs": interval},
        }],
    }, environ={})


def dispatchers(db: Database, tmp_path: Path, s: Settings, **options: Any) -> Dispatchers:
    context = TargetContext(db=db, settings=s, data_dir=tmp_path)
    opts = DispatchOptions(poll_interval_secs=0.01, **options)
    return Dispatchers(db, s, context, options=opts)


def doc(kind: str, n: int) -> str:
    return json.dumps({"kind": kind, "n": n}) + "\n"


def lake(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    root = tmp_path / "lake"
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if path.is_file() and ".staging" not in path.parts:
            folder = path.parent.relative_to(root).as_posix()
            out.setdefault(folder, []).extend(json.loads(x) for x in path.read_text().split("\n")
                                              if x)
    return out


def test_deliveries_leave_the_queue_when_their_object_is_written(
    db: Database, tmp_path: Path
) -> None:
    d = dispatchers(db, tmp_path, settings(tmp_path))
    [dispatcher] = d.dispatchers.values()
    assert isinstance(dispatcher, BufferedDispatcher)
    now = time.time()
    put(db, [delivery(doc("a", i), enqueued_at=now) for i in range(3)]
        + [delivery(doc("b", 9), enqueued_at=now)])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        # Claimed into the buffer, the deliveries stay on the queue until written,
        await wait_until(lambda: rows(db, "SELECT count(*) FROM deliveries WHERE attempts = 1")
                         == [(4,)])
        assert lake(tmp_path) == {}
        # then the interval passes, the objects are written and the queue empties.
        await wait_until(lambda: db.read(queue_depths) == {})
        stop.set()
        await task

    asyncio.run(main())
    found = lake(tmp_path)
    assert sorted(found) == ["a", "b"]
    assert [r["n"] for r in found["a"]] == [0, 1, 2]
    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]


def test_the_lease_covers_the_buffering_interval(db: Database, tmp_path: Path) -> None:
    d = dispatchers(db, tmp_path, settings(tmp_path, interval=600),
                    lease_secs=20.0, send_timeout_secs=5.0)
    [dispatcher] = d.dispatchers.values()
    target = dispatcher.target
    assert isinstance(target, DeliveryStreamTarget)
    assert target.stream.write_timeout_secs == 5.0
    assert dispatcher.lease_secs >= 600 + 5.0


def test_stopping_writes_what_is_buffered(db: Database, tmp_path: Path) -> None:
    d = dispatchers(db, tmp_path, settings(tmp_path, interval=900))
    put(db, [delivery(doc("a", 1), enqueued_at=time.time())])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        await wait_until(lambda: rows(db, "SELECT attempts FROM deliveries") == [(1,)])
        stop.set()
        await task

    asyncio.run(main())
    assert db.read(queue_depths) == {}
    assert lake(tmp_path) == {"a": [{"kind": "a", "n": 1}]}


def test_rules_feeding_one_stream_share_its_objects(db: Database, tmp_path: Path) -> None:
    d = dispatchers(db, tmp_path, settings(tmp_path, interval=900, rules=2))
    targets = [x.target for x in d.dispatchers.values()]
    assert isinstance(targets[0], DeliveryStreamTarget)
    assert isinstance(targets[1], DeliveryStreamTarget)
    assert targets[0].stream is targets[1].stream
    now = time.time()
    put(db, [delivery(doc("a", 1), rule="r1", enqueued_at=now),
             delivery(doc("a", 2), rule="r2", enqueued_at=now)])

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(d.run(stop))
        await wait_until(lambda: rows(db, "SELECT count(*) FROM deliveries WHERE attempts = 1")
                         == [(2,)])
        stop.set()
        await task

    asyncio.run(main())
    assert db.read(queue_depths) == {}
    objects = [p for p in (tmp_path / "lake" / "a").iterdir()]
    assert len(objects) == 1  # one buffer for both rules
    assert sorted(r["n"] for r in lake(tmp_path)["a"]) == [1, 2]


def test_a_failed_write_is_retried_with_backoff_and_then_delivered(
    db: Database, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    d = dispatchers(db, tmp_path, settings(tmp_path), clock=clock,
                    backoff=Backoff(base_secs=10.0, cap_secs=10.0))
    blocker = tmp_path / "lake" / "a"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the partition's folder goes")
    put(db, [delivery(doc("a", 1), enqueued_at=clock.now)])
    # Given the object cannot be written, the delivery is rescheduled with the store's error,
    assert asyncio.run(d.drain_once()) == 1
    [(attempts, code, message)] = rows(
        db, "SELECT attempts, last_error_code, last_error_message FROM deliveries")
    assert (attempts, code) == (1, "IOError") and "lake/a" in message
    # and when the store accepts writes again, the retry delivers it.
    blocker.unlink()
    clock.advance(11)
    assert asyncio.run(d.drain_once()) == 1
    assert db.read(queue_depths) == {}
    assert lake(tmp_path) == {"a": [{"kind": "a", "n": 1}]}


def test_records_that_fail_processing_are_delivered_to_the_error_output(
    db: Database, tmp_path: Path
) -> None:
    d = dispatchers(db, tmp_path, settings(tmp_path))
    put(db, [delivery("not json\n"), delivery(doc("a", 1))])
    assert asyncio.run(d.drain_once()) == 2
    assert db.read(queue_depths) == {}
    found = lake(tmp_path)
    assert sorted(found) == ["a", "errors/processing-failed"]
    assert found["errors/processing-failed"][0]["errorCode"] == (
        "DynamicPartitioning.MetadataExtractionFailed")
