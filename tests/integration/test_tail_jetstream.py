"""``clientevents tail`` on a deployment whose event log is JetStream: a bus and a rule's
matches read through the event-log port, from the start and live (where positions skip
between records).

Runs on the shared NATS server with a stream prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from store_helpers import NATS_URL, require_service

from clientevents.cli import main
from clientevents.config import Settings, load_config
from clientevents.events.publisher import Publisher
from clientevents.log.factory import configured_log
from clientevents.log.jetstream import JetStreamEventLog
from clientevents.store.factory import open_store

pytestmark = pytest.mark.integration

DEADLINE_SECS = 60.0  # fails a stalled test; never a timing assertion

RULES = [
    {"name": "purchases", "bus": "main", "event_pattern": {"detail": {"eventType": ["purchase"]}},
     "targets": [{"id": "t", "type": "log", "path": "p.jsonl"}]},
    {"name": "everything", "bus": "main", "event_pattern": {"source": ["app"]},
     "targets": [{"id": "t", "type": "log", "path": "e.jsonl"}]},
]


@pytest.fixture
def deployment(tmp_path: Path, _test_backend: dict[str, Any] | None) -> Iterator[Path]:
    """A configuration whose log is JetStream (a prefix of the test's own); its state store
    is the suite's backend (SQLite by default). Yields the configuration file."""
    require_service("NATS", "127.0.0.1", 4222)
    storage: dict[str, Any] = {
        "store": "sqlite",
        "log": "jetstream",
        "jetstream": {"servers": [NATS_URL], "stream_prefix": "tail" + uuid.uuid4().hex[:10]},
    }
    if _test_backend is not None:
        storage["store"] = "postgres"
        storage["postgres"] = _test_backend["postgres"]
    config = tmp_path / "clientevents.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "buses": [{"name": "main"}], "rules": RULES,
        "storage": storage,
    }))
    settings = load_config(config)
    db = open_store(settings, tmp_path / "data")
    log = configured_log(settings, db)
    assert isinstance(log, JetStreamEventLog)
    try:
        yield config
    finally:
        log.delete_streams()
        log.close()
        db.close()


def _publish(config: Path, events: list[tuple[str, int]], *, batch: bool) -> list[str]:
    """``(eventType, n)`` events on bus main, one record each or one record for all (the
    gateway's batch); their event ids."""
    settings: Settings = load_config(config)
    db = open_store(settings, Path(settings.data_dir))
    log = configured_log(settings, db)
    details = [{"eventType": kind, "n": n} for kind, n in events]
    try:
        publisher = Publisher(db, settings, log=log)
        if batch:
            async def put() -> dict[str, Any]:
                return await publisher.put_details_async(
                    details, source="app", detail_type="prod", resources=[], bus="main")

            answer = asyncio.run(put())
        else:
            answer = publisher.put_events([
                {"Source": "app", "DetailType": "prod", "EventBusName": "main",
                 "Detail": json.dumps(detail)} for detail in details])
        assert answer["FailedEntryCount"] == 0, answer
        return [str(entry["EventId"]) for entry in answer["Entries"]]
    finally:
        log.close()
        db.close()


def tail(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["tail", *args, "--config", str(config)])


def numbers(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["detail"]["n"] for line in result.stdout.splitlines()]


def test_a_bus_and_a_rule_from_the_start(deployment: Path) -> None:
    _publish(deployment, [("search", 1), ("purchase", 2)], batch=False)
    _publish(deployment, [("purchase", 3), ("search", 4), ("purchase", 5)], batch=True)
    _publish(deployment, [("search", 6)], batch=False)

    everything = tail(deployment, "--bus", "main", "--from-start", "--no-follow", "--json")
    assert numbers(everything) == [1, 2, 3, 4, 5, 6]
    purchases = tail(deployment, "--rule", "purchases", "--from-start", "--no-follow", "--json")
    assert numbers(purchases) == [2, 3, 5]
    now_on = tail(deployment, "--bus", "main", "--no-follow", "--json")
    assert numbers(now_on) == []


def test_following_a_bus_shows_what_arrives_after_it_started(deployment: Path) -> None:
    _publish(deployment, [("search", 0)], batch=True)  # before the start: not shown
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")])}
    follower = subprocess.Popen(
        [sys.executable, "-m", "clientevents", "tail", "--bus", "main", "--one-line",
         "--count", "4", "--interval-secs", "0.05", "--config", str(deployment)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert follower.stderr is not None
        # The note comes once its start position is taken.
        notes = []
        while not (notes and notes[-1].startswith("Following bus main from now on")):
            line = follower.stderr.readline()
            assert line, f"tail ended before following: {notes}"
            notes.append(line)
        # A reader is not warned about how durable acknowledged appends are (sync: default).
        assert not any("before they are on disk" in note for note in notes), notes
        ids = _publish(deployment, [("purchase", 1), ("search", 2)], batch=True)
        ids += _publish(deployment, [("search", 3)], batch=False)
        ids += _publish(deployment, [("purchase", 4), ("purchase", 5)], batch=True)
        out, err = follower.communicate(timeout=DEADLINE_SECS)
    finally:
        follower.kill()
        follower.wait()
        for pipe in (follower.stdout, follower.stderr):
            if pipe is not None:
                pipe.close()
    assert follower.returncode == 0, err
    # One line each: time, detail-type, eventType, client, id; --count stops after four.
    shown = [line.split("  ") for line in out.splitlines()]
    assert [(fields[2], fields[-1]) for fields in shown] == list(zip(
        ["purchase", "search", "search", "purchase"], ids[:4], strict=True)), out
