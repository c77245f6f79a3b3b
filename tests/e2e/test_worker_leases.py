"""A worker killed in the middle of a delivery: its restarted successor makes it within seconds.

The ``log`` target's file is first a named pipe nobody reads, so the worker's write of a large
event blocks with the delivery claimed (under the default 120 s lease). The pipe is then
replaced by a regular file and the worker process killed with SIGKILL. ``serve`` restarts it,
and the new worker must release the dead one's lease at once and deliver the event, instead of
waiting out the lease.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from gateway_process import Newcomer, ServeProcess
from store_helpers import open_storage_store

from clientevents.store.port import SqlConnection, StateStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = """
stages: [{name: prod, bus: client_event_bus, environment: prod}]
buses: [{name: client_event_bus}]
rules:
  - name: everything
    bus: client_event_bus
    event_pattern: {source: [clientevents]}
    targets: [{id: out, type: log, path: out/events.jsonl}]
"""

#: Larger than a pipe's buffer (64 KiB), so writing it to a pipe nobody reads blocks.
BIG = "x" * 100_000


def _claimed(db: StateStore) -> int:
    """Deliveries held claimed under a lease not yet run out, read through the state store."""

    def count(conn: SqlConnection) -> int:
        row = conn.execute(
            "SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL AND due_at > ?",
            (time.time(),),
        ).fetchone()
        return int(row[0])

    return db.read(count)


def _wait(predicate: object, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_killed_workers_delivery_is_made_by_its_successor_at_once(tmp_path: Path) -> None:
    # Given a log target whose file is a pipe nobody reads
    data_dir = tmp_path / "data"
    (data_dir / "out").mkdir(parents=True, mode=0o700)
    pipe = data_dir / "out" / "events.jsonl"
    os.mkfifo(pipe, 0o600)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    server = ServeProcess(data_dir, config=config)
    banner = server.start()
    try:
        token = Newcomer(server.url, data_dir).access_token("lease-tester")
        entry = {"eventType": "big", "schemaVersion": 1, "data": {"blob": BIG}}
        answer = httpx.post(f"{server.url}/prod/event", headers={"Authorization": token},
                            json={"entries": [{"entry": json.dumps(entry)}]})
        assert answer.status_code == 200 and answer.json()["FailedEntryCount"] == 0
        event_id = answer.json()["Entries"][0]["EventId"]
        # and the worker stuck writing it, its delivery claimed under a 120 s lease (read
        # through the store the server uses: the SQLite file, or PostgreSQL under the switch)
        store = open_storage_store(data_dir)
        try:
            _wait(lambda: _claimed(store) == 1, timeout=30)
        finally:
            store.close()
        # When the pipe becomes a regular file and the worker process is killed
        pipe.unlink()
        worker = int(next(line for line in banner.splitlines()
                          if line.strip().startswith("workers")).split()[-1])
        os.kill(worker, signal.SIGKILL)
        killed = time.monotonic()

        def delivered() -> bool:
            return pipe.is_file() and event_id in pipe.read_text()

        # I expect the restarted worker to deliver the event within seconds, not minutes
        _wait(delivered, timeout=60)
        took = time.monotonic() - killed
    finally:
        server.stop()
    log = server.log.read_text()
    print(f"delivered {took:.1f} s after the worker was killed")
    assert "Restarted the worker process." in log
    assert "Released the deliveries of workers that are gone." in log and "deliveries=1" in log
    assert took < 30
    lines = pipe.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [event_id]
