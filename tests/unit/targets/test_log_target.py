"""The log target: JSON lines appended to a file under the data dir, or to standard output."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from delivery_helpers import delivery, log_target, make_settings, put

from clientevents.store.engine import Database
from clientevents.targets.base import Ok, Retry, TargetContext
from clientevents.targets.dispatcher import Dispatchers
from clientevents.targets.log import LogTarget
from clientevents.targets.queue import ClaimedDelivery, queue_depths
from clientevents.targets.registry import build_target


def _claimed(*payloads: str) -> list[ClaimedDelivery]:
    return [
        ClaimedDelivery(
            target_key="b1/r1/t1", bus="b1", rule="r1", target_id="t1", event_id=f"e{i}",
            payload=p, event_time=0.0, enqueued_at=0.0, delivery_id=i,
        )
        for i, p in enumerate(payloads)
    ]


def _context(db: Database, data_dir: Path, path: str) -> tuple[TargetContext, object]:
    settings = make_settings([log_target("t1", path=path)], data_dir=data_dir)
    return TargetContext(db=db, settings=settings, data_dir=data_dir), settings.rules[0].targets[0]


def test_lines_are_appended_with_a_newline_added_when_missing(
    db: Database, tmp_path: Path
) -> None:
    ctx, cfg = _context(db, tmp_path, "lake/events.jsonl")
    target = build_target(cfg, ctx)  # type: ignore[arg-type]
    assert isinstance(target, LogTarget)
    assert target.path == tmp_path / "lake" / "events.jsonl"

    async def main() -> None:
        first = await target.send_batch(_claimed('{"a": 1}', '{"b": 2}\n'))
        second = await target.send_batch(_claimed('{"c": 3}'))
        assert first == [Ok(), Ok()] and second == [Ok()]
        await target.close()

    asyncio.run(main())
    text = (tmp_path / "lake" / "events.jsonl").read_text()
    assert text == '{"a": 1}\n{"b": 2}\n{"c": 3}\n'


def test_absolute_paths_are_kept(db: Database, tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "x.jsonl"
    ctx, cfg = _context(db, tmp_path / "data", str(absolute))
    target = build_target(cfg, ctx)  # type: ignore[arg-type]
    assert isinstance(target, LogTarget) and target.path == absolute


def test_dash_writes_to_standard_output(
    db: Database, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ctx, cfg = _context(db, tmp_path, "-")
    target = build_target(cfg, ctx)  # type: ignore[arg-type]
    assert isinstance(target, LogTarget) and target.path is None
    assert asyncio.run(target.send_batch(_claimed('{"n": 1}', '{"n": 2}'))) == [Ok(), Ok()]
    assert capfd.readouterr().out == '{"n": 1}\n{"n": 2}\n'


def test_a_write_error_is_transient(db: Database, tmp_path: Path) -> None:
    # Given a path that is a directory
    (tmp_path / "taken").mkdir()
    target = LogTarget(tmp_path / "taken")
    outcomes = asyncio.run(target.send_batch(_claimed("x", "y")))
    assert [type(o) for o in outcomes] == [Retry, Retry]
    assert all(isinstance(o, Retry) and o.code == "IOError" for o in outcomes)


def test_dispatched_events_land_in_the_file(db: Database, tmp_path: Path) -> None:
    # Given the real log target behind a dispatcher
    settings = make_settings([log_target("t1", path="out/events.jsonl")], data_dir=tmp_path)
    ctx = TargetContext(db=db, settings=settings, data_dir=tmp_path)
    dispatchers = Dispatchers(db, settings, ctx)
    events = [json.dumps({"id": str(i), "detail": {"n": i}}) for i in range(3)]
    put(db, [delivery(e, enqueued_at=time.time()) for e in events])
    # When the queue is drained
    assert asyncio.run(dispatchers.drain_once()) == 3
    asyncio.run(dispatchers.close())
    # I expect one JSON line per event, and an empty queue
    lines = (tmp_path / "out" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["detail"]["n"] for line in lines] == [0, 1, 2]
    assert db.read(queue_depths) == {}
