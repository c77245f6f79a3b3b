"""The router and the archiver on the JetStream event log, end to end: events in, deliveries
enqueued once each, archive rows once each, with a router SIGKILLed while holding a batch.

Needs the shared NATS server at 127.0.0.1:4222 (JetStream enabled); each test uses a stream
prefix of its own and deletes its streams afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from store_helpers import open_storage_store, require_service

from clientevents.archive.archive import Archives
from clientevents.archive.archiver import Archiver
from clientevents.archive.streams import ArchiveStreams
from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.routing.router import Router
from clientevents.store.port import StateStore

pytestmark = pytest.mark.integration

BUS = "shop"
CHILD = Path(__file__).with_name("_jetstream_router_child.py")
DEADLINE_SECS = 60.0  # fails a stalled test; never a timing assertion


def settings() -> Settings:
    return validate_settings(
        {
            "buses": [{"name": BUS}],
            "rules": [
                {"name": "all", "bus": BUS, "event_pattern": {"source": ["web"]},
                 "targets": [{"id": "t1", "type": "log", "path": "t1.jsonl"},
                             {"id": "t2", "type": "log", "path": "t2.jsonl"}]},
                {"name": "even", "bus": BUS, "event_pattern": {"detail": {"even": [True]}},
                 "targets": [{"id": "t3", "type": "log", "path": "t3.jsonl"}]},
            ],
            "archives": [{"name": "keep", "bus": BUS}],
        },
        environ={},
    )


@pytest.fixture
def prefix() -> str:
    require_service("NATS", "127.0.0.1", 4222)
    return "p" + uuid.uuid4().hex[:12]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateStore]:
    """The state store: the SQLite file, or PostgreSQL under the backend switch."""
    database = open_storage_store(tmp_path)
    yield database
    database.close()


@pytest.fixture
def log(db: StateStore, prefix: str) -> Iterator[JetStreamEventLog]:
    opened = JetStreamEventLog(db, JetStreamOptions(stream_prefix=prefix, ack_wait=1.0))
    yield opened
    opened.delete_streams()
    opened.close()


def publish(publisher: Publisher, count: int) -> list[dict[str, Any]]:
    """``count`` events: single entries and gateway-style batches; return their ids and n."""
    sent: list[dict[str, Any]] = []
    n = 0
    while n < count:
        if n % 3 == 0:
            answer = publisher.put_events([
                {"Source": "web", "DetailType": "t", "EventBusName": BUS,
                 "Detail": orjson.dumps({"n": n, "even": n % 2 == 0}).decode()}
            ])
            sent.append({"id": answer["Entries"][0]["EventId"], "n": n})
            n += 1
            continue
        details = [{"n": m, "even": m % 2 == 0} for m in range(n, min(count, n + 7))]

        async def put(details: list[dict[str, Any]] = details) -> dict[str, Any]:
            return await publisher.put_details_async(
                details, source="web", detail_type="t", resources=[], bus=BUS
            )

        answer = asyncio.run(put())
        for detail, entry in zip(details, answer["Entries"], strict=True):
            sent.append({"id": entry["EventId"], "n": detail["n"]})
        n += len(details)
    return sent


def deliveries(db: StateStore) -> list[tuple[str, str]]:
    rows = db.read(lambda conn: conn.execute(
        "SELECT target_key, event_id FROM deliveries").fetchall())
    return [(str(k), str(e)) for k, e in rows]


def expected(sent: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for event in sent:
        out += [(f"{BUS}/all/t1", event["id"]), (f"{BUS}/all/t2", event["id"])]
        if event["n"] % 2 == 0:
            out.append((f"{BUS}/even/t3", event["id"]))
    return sorted(out)


def test_events_reach_every_queue_and_the_archive_once_when_a_router_dies_mid_batch(
    tmp_path: Path, db: StateStore, log: JetStreamEventLog, prefix: str
) -> None:
    config = settings()
    publisher = Publisher(db, config, log=log)
    archiver = Archiver(db, config, log=log)  # registers the archive's group at the start
    sent = publish(publisher, 300)
    assert len({e["id"] for e in sent}) == 300

    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path), prefix, BUS],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("FETCHED ") and int(line.split()[1]) > 0, line
        os.kill(child.pid, signal.SIGKILL)  # dies holding its batch, never acknowledged
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()

    router = Router(db, config, log=log, idle_wait_secs=0.2)
    want = expected(sent)
    deadline = time.monotonic() + DEADLINE_SECS
    while len(deliveries(db)) < len(want):
        assert time.monotonic() < deadline, f"{len(deliveries(db))} of {len(want)} enqueued"
        router.drain(wait_secs=0.2)
    # what the dead router held came back after its lease; nothing was enqueued twice
    router.drain(wait_secs=0.5)
    assert sorted(deliveries(db)) == want
    router.close()

    deadline = time.monotonic() + DEADLINE_SECS
    while archiver.archive_pass() or _archived(log) < 300:
        assert time.monotonic() < deadline, f"{_archived(log)} of 300 archived"
    # with log: jetstream the archive is a stream of its own, not rows of archive_events
    copies = Archives(db, config, log=log).events("keep", limit=1000)
    assert sorted(e.event_id for e in copies) == sorted(e["id"] for e in sent)
    assert db.read(lambda conn: conn.execute(
        "SELECT count(*) FROM archive_events").fetchone())[0] == 0
    state = db.read(lambda conn: conn.execute(
        "SELECT event_count FROM archives_state WHERE archive = 'keep'").fetchone())
    assert state[0] == 300


def _archived(log: JetStreamEventLog) -> int:
    stats = ArchiveStreams(log).stats("keep")
    return 0 if stats is None else stats[0]


def test_the_router_worker_loop_routes_from_jetstream_until_stopped(
    db: StateStore, log: JetStreamEventLog
) -> None:
    config = settings()
    publisher = Publisher(db, config, log=log)
    router = Router(db, config, log=log, idle_wait_secs=0.1)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(router.run(stop))
        sent = []
        for n in range(20):
            answer = await publisher.put_events_async([
                {"Source": "web", "DetailType": "t", "EventBusName": BUS,
                 "Detail": orjson.dumps({"n": n, "even": False}).decode()}
            ])
            sent.append(answer["Entries"][0]["EventId"])
        deadline = time.monotonic() + DEADLINE_SECS
        while len(deliveries(db)) < 40:
            assert time.monotonic() < deadline, f"{len(deliveries(db))} of 40 enqueued"
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=DEADLINE_SECS)
        assert sorted(e for _, e in deliveries(db)) == sorted(sent * 2)

    asyncio.run(main())


def test_a_replay_puts_archived_events_back_on_the_jetstream_log_once(
    db: StateStore, log: JetStreamEventLog
) -> None:
    from clientevents.archive import COMPLETED, ReplayRunner, Replays

    config = settings()
    publisher = Publisher(db, config, log=log)
    archiver = Archiver(db, config, log=log)
    t0 = time.time() - 100
    sent = [
        publisher.put_events([
            {"Source": "web", "DetailType": "t", "EventBusName": BUS, "Time": t0 + n,
             "Detail": orjson.dumps({"n": n, "even": False}).decode()}
        ])["Entries"][0]["EventId"]
        for n in range(6)
    ]
    deadline = time.monotonic() + DEADLINE_SECS
    while _archived(log) < 6:
        assert time.monotonic() < deadline, f"{_archived(log)} of 6 archived"
        archiver.archive_pass()
    Replays(db, config).start_replay("again", "keep", t0 + 1, t0 + 4)
    runner = ReplayRunner(db, config, publisher=publisher, batch_size=2)
    assert runner.streams is not None  # read from the archive's stream
    while runner.step_all():
        pass
    assert Replays(db, config).describe("again").state == COMPLETED
    replayed = [r for r in log.read_after(BUS, 0, 100) if r.replay_name == "again"]
    assert [r.event_id for r in replayed] == sent[1:4]
    assert all(r.event()["replay-name"] == "again" for r in replayed)
    router = Router(db, config, log=log)
    deadline = time.monotonic() + DEADLINE_SECS
    while len(deliveries(db)) < 2 * (6 + 3):
        assert time.monotonic() < deadline, f"{len(deliveries(db))} of 18 enqueued"
        router.drain(wait_secs=0.2)
    router.drain(wait_secs=0.5)
    counts = sorted(sum(1 for _, e in deliveries(db) if e == ident) for ident in sent)
    assert counts == [2, 2, 2, 4, 4, 4]  # the replayed three went out again, once each
    router.close()
