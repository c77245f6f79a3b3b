"""Archives and replays end to end: the real Runtime's workers, a log target, a real crash.

1. In process: the runtime's workers route live events to two ``log`` targets and archive the
   matching ones; a replay of a window, limited to one rule, puts those events back on the bus;
   the rule's file receives them marked with ``replay-name``, the other rule's file does not,
   and the archive does not take them again.
2. Across processes: ``clientevents worker`` runs a long replay and is killed with SIGKILL in
   the middle; a new worker finishes it. Every event of the window is on the bus exactly once
   (the replay's progress commits with the events it covers). Both run on the configured
   state store and event log (the backend switch's PostgreSQL and JetStream too).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from clientevents.archive import COMPLETED, RUNNING, Archives, Replays
from clientevents.archive.schema import archive_group
from clientevents.config import load_config
from clientevents.runtime import Runtime

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0
BUS = "orders"

CONFIG = f"""
buses: [{{name: {BUS}}}]
rules:
  - name: to_lake
    bus: {BUS}
    event_pattern: {{source: [shop]}}
    targets: [{{id: lake, type: log, path: out/lake.jsonl}}]
  - name: to_audit
    bus: {BUS}
    event_pattern: {{source: [shop]}}
    targets: [{{id: audit, type: log, path: out/audit.jsonl}}]
archives:
  - name: paid
    bus: {BUS}
    event_pattern: {{detail: {{status: [paid]}}}}
"""


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def until(condition: Callable[[], bool], what: str, limit_secs: float = 60.0) -> None:
    """Wait for ``condition`` (a safety limit, not a speed assertion)."""
    deadline = time.monotonic() + limit_secs
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {limit_secs} s")
        await asyncio.sleep(0.01)


def test_a_replay_through_the_running_workers(tmp_path: Path) -> None:
    config = tmp_path / "clientevents.yaml"
    config.write_text(CONFIG)
    settings = load_config(config)
    lake, audit = tmp_path / "out" / "lake.jsonl", tmp_path / "out" / "audit.jsonl"

    async def scenario(runtime: Runtime) -> None:
        stop = asyncio.Event()
        workers = asyncio.create_task(runtime.run_workers(stop))
        try:
            # Given 20 live events (even ones paid), routed to both files, the paid ones archived
            entries = [
                {"Source": "shop", "DetailType": "order", "EventBusName": BUS, "Time": T0 + n,
                 "Detail": json.dumps({"n": n, "status": "paid" if n % 2 == 0 else "open"})}
                for n in range(20)
            ]
            ids: list[str] = []
            for i in range(0, 20, 10):
                answer = await runtime.publisher.put_events_async(entries[i : i + 10])
                assert answer["FailedEntryCount"] == 0
                ids += [e["EventId"] for e in answer["Entries"]]
            archives = Archives(runtime.db, runtime.settings, log=runtime.log)
            await until(lambda: len(lines(lake)) == 20 and len(lines(audit)) == 20, "routing")
            await until(lambda: archives.stats("paid")[0] == 10, "archiving")

            # When a replay of [T0 + 4, T0 + 12) to rule to_lake only is started (a row)
            replays = Replays(runtime.db, runtime.settings)
            replays.start_replay("reprocess", "paid", T0 + 4, T0 + 12, rules=["to_lake"])

            # Then the workers complete it and the lake receives the paid events 4, 6, 8, 10
            await until(lambda: replays.describe("reprocess").state == COMPLETED, "replay")
            await until(lambda: len(lines(lake)) == 24, "replayed deliveries")
            again = [e for e in lines(lake) if "replay-name" in e]
            assert [e["detail"]["n"] for e in again] == [4, 6, 8, 10]
            assert {e["replay-name"] for e in again} == {"reprocess"}
            assert [e["id"] for e in again] == [ids[n] for n in (4, 6, 8, 10)]
            replay = replays.describe("reprocess").to_dict()
            assert replay["EventsReplayed"] == 4
            assert replay["EventLastReplayedTime"] == "2027-01-15T08:00:10Z"

            # and the archive does not take the replayed events again
            log = runtime.log
            await until(
                lambda: log.offset(archive_group("paid"), BUS) == log.head(BUS), "archiver"
            )
            assert archives.stats("paid")[0] == 10
        finally:
            stop.set()
            await workers
        # and the other rule's file never saw a replayed event
        assert not [e for e in lines(audit) if "replay-name" in e]
        assert len(lines(audit)) == 20

    with Runtime(settings, tmp_path) as runtime:
        asyncio.run(asyncio.wait_for(scenario(runtime), timeout=120))


# -- a worker killed in the middle of a replay ---------------------------------------------

EVENTS = 20_000
KILL_AFTER = 1_000


def _worker(config: Path, data: Path, *, keep_errors: bool) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLIENTEVENTS_LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "-m", "clientevents", "worker", "--config", str(config),
         "--data-dir", str(data)],
        env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if keep_errors else subprocess.DEVNULL,
    )


def _wait_for(condition: Callable[[], bool], what: str, limit_secs: float = 120.0) -> None:
    deadline = time.monotonic() + limit_secs
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {limit_secs} s")
        time.sleep(0.005)


@pytest.mark.timeout(660)  # beyond its own 600 s wait for the completion, which names the stage
def test_a_replay_survives_a_killed_worker_without_loss_or_repeats(tmp_path: Path) -> None:
    config = tmp_path / "clientevents.yaml"
    config.write_text(CONFIG)
    settings = load_config(config)
    data = tmp_path / "data"

    # Given an archive of 20,000 paid events and a replay of all of them, not started yet
    # (in the configured state store and event log: the data folder's SQLite file, or the
    # backend switch's PostgreSQL schema and JetStream streams)
    with Runtime(settings, data) as runtime:
        db, log = runtime.db, runtime.log
        publisher = runtime.publisher
        entries = [
            {"Source": "shop", "DetailType": "order", "EventBusName": BUS,
             "Time": T0 + n / 1000, "Detail": {"n": n, "status": "paid"}}
            for n in range(EVENTS)
        ]
        for i in range(0, EVENTS, 2_000):
            chunk = entries[i : i + 2_000]

            def append(conn: sqlite3.Connection, chunk: list[dict[str, Any]] = chunk) -> Any:
                return publisher.append_in(conn, chunk)

            assert db.write(append)["FailedEntryCount"] == 0
        archiver, archives = runtime.archiver, Archives(db, settings, log=log)
        _wait_for(lambda: archiver.archive_pass() == 0 and archives.stats("paid")[0] >= EVENTS,
                  "the archive")
        assert archives.stats("paid")[0] == EVENTS
        Replays(db, settings).start_replay("big", "paid", T0, T0 + EVENTS)

        def progress(db: Any) -> tuple[str, int]:
            replay = Replays(db, settings).describe("big")
            return replay.state, replay.events_replayed

        # When a worker has replayed part of it and is killed with SIGKILL
        first = _worker(config, data, keep_errors=False)
        try:
            _wait_for(lambda: progress(db)[1] >= KILL_AFTER, "first replayed batches")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            state, done = progress(db)
            assert state == RUNNING, f"the replay finished before the kill ({done} events)"
            assert done < EVENTS
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()

        # and a new worker takes over
        second = _worker(config, data, keep_errors=True)
        try:
            # a hung-test limit: on PostgreSQL + JetStream on a loaded machine, 20,000 events
            # replayed and routed to two targets take minutes
            _wait_for(lambda: progress(db)[0] == COMPLETED, "the replay's completion",
                      limit_secs=600.0)
        finally:
            second.send_signal(signal.SIGTERM)
            _, errors = second.communicate(timeout=60)
        assert second.returncode == 0, errors.decode()

        # Then every event of the window is on the bus exactly once as a replayed event
        bodies: list[str] = []
        after = 0
        while chunk := log.read_after(BUS, after, 2_000):  # chunks: one request per record
            bodies += [r.body for r in chunk if r.replay_name == "big"]
            after = chunk[-1].seq
        counts = collections.Counter(orjson.loads(body)["detail"]["n"] for body in bodies)
        assert set(counts) == set(range(EVENTS))
        assert set(counts.values()) == {1}
        assert progress(db) == (COMPLETED, EVENTS)
