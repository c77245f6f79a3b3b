"""The replay runner: windows, rules, the replay-name mark, cancel, failure, resuming."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from archive_helpers import (
    BUS,
    T0,
    FakeClock,
    archived_ns,
    entry,
    make_settings,
    publish,
    replayed,
    rows,
)

from clientevents.archive import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    Archiver,
    ReplayRunner,
    Replays,
)
from clientevents.config import Settings
from clientevents.events.publisher import Publisher
from clientevents.routing.router import Router
from clientevents.store.engine import Database


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def settings() -> Settings:
    return make_settings()


def archive_events(db: Database, settings: Settings, ns: range) -> list[str]:
    """Publish events ``n`` at ``T0 + n`` and archive them; return their ids."""
    ids = publish(Publisher(db, settings), [entry(n) for n in ns])
    archiver = Archiver(db, settings)
    while archiver.archive_pass():
        pass
    return ids


def run_to_end(runner: ReplayRunner) -> None:
    while runner.step_all():
        pass


def ns_of(envelopes: list[dict[str, object]]) -> list[int]:
    return [e["detail"]["n"] for e in envelopes]  # type: ignore[index]


def test_a_replay_puts_the_window_back_on_the_bus_marked_with_its_name(
    db: Database, settings: Settings
) -> None:
    # Given archived events at T0 + 0..9
    ids = archive_events(db, settings, range(10))
    clock = FakeClock(T0 + 100)
    replays = Replays(db, settings, clock=clock)
    runner = ReplayRunner(db, settings, batch_size=3, clock=clock)

    # When a replay of [T0 + 2, T0 + 7) runs to its end
    replays.start_replay("w", "a1", T0 + 2, T0 + 7)
    run_to_end(runner)

    # Then exactly the events at 2..6 are on the bus again: start inclusive, end exclusive
    events = replayed(db, "w")
    assert ns_of(events) == [2, 3, 4, 5, 6]
    # with "replay-name" last in the envelope, their ids, times and content unchanged
    originals = {
        orjson.loads(body)["id"]: orjson.loads(body)
        for (body,) in rows(db, "SELECT body FROM events WHERE replay_name IS NULL")
    }
    for event in events:
        assert list(event)[-1] == "replay-name"
        assert event["replay-name"] == "w"
        assert event["id"] in ids[2:7]
        assert {k: v for k, v in event.items() if k != "replay-name"} == originals[event["id"]]
    log_rows = rows(db, "SELECT time, replay_rules FROM events WHERE replay_name = 'w' "
                        "ORDER BY seq")
    assert [t for t, _ in log_rows] == [T0 + n for n in range(2, 7)]
    assert {r for _, r in log_rows} == {None}
    # and the replay is COMPLETED with its progress
    done = replays.describe("w")
    assert done.state == COMPLETED
    assert done.events_replayed == 5
    assert done.event_last_replayed_time == T0 + 6
    assert done.replay_end_time == T0 + 100
    assert done.to_dict()["EventLastReplayedTime"] == "2027-01-15T08:00:06Z"


def test_progress_is_visible_between_batches(db: Database, settings: Settings) -> None:
    archive_events(db, settings, range(6))
    replays = Replays(db, settings)
    runner = ReplayRunner(db, settings, batch_size=2)
    replays.start_replay("p", "a1", T0, T0 + 100)

    assert runner.step_all() == 1  # STARTING -> RUNNING
    assert replays.describe("p").state == RUNNING
    assert runner.step_all() == 2
    replay = replays.describe("p")
    assert (replay.events_replayed, replay.event_last_replayed_time) == (2, T0 + 1)
    assert replay.state == RUNNING


def test_replays_follow_event_time_not_arrival_order(db: Database, settings: Settings) -> None:
    publisher = Publisher(db, settings)
    publish(publisher, [entry(3), entry(1), entry(2), entry(1, time=T0 + 1)])
    Archiver(db, settings).archive_pass()
    Replays(db, settings).start_replay("t", "a1", T0, T0 + 10)

    run_to_end(ReplayRunner(db, settings, batch_size=1))

    assert ns_of(replayed(db, "t")) == [1, 1, 2, 3]


def test_only_the_named_rules_get_replayed_events(db: Database, settings: Settings) -> None:
    # Given routed live events (both rules match them)
    archive_events(db, settings, range(3))
    router = Router(db, settings)
    assert router.route_pass() == 3
    live = Counter(rule for (rule,) in rows(db, "SELECT rule FROM deliveries"))
    assert live == {"r1": 3, "r2": 3}

    # When a replay for rule r2 only is run and routed
    Replays(db, settings).start_replay("only-r2", "a1", T0, T0 + 3, rules=["r2"])
    run_to_end(ReplayRunner(db, settings))
    assert router.route_pass() == 3

    # Then only r2's target got the replayed events, each carrying replay-name
    deliveries = rows(db, "SELECT rule, payload FROM deliveries ORDER BY id")[6:]
    assert [rule for rule, _ in deliveries] == ["r2", "r2", "r2"]
    assert {orjson.loads(p)["replay-name"] for _, p in deliveries} == {"only-r2"}
    assert rows(db, "SELECT DISTINCT replay_rules FROM events WHERE replay_name IS NOT NULL") \
        == [('["r2"]',)]


def test_replayed_events_are_not_archived_again(db: Database, settings: Settings) -> None:
    archive_events(db, settings, range(4))
    Replays(db, settings).start_replay("again", "a1", T0, T0 + 4)
    run_to_end(ReplayRunner(db, settings))

    Archiver(db, settings).archive_pass()

    assert archived_ns(db) == [0, 1, 2, 3]
    assert len(replayed(db, "again")) == 4


def test_an_empty_window_completes_at_once(db: Database, settings: Settings) -> None:
    archive_events(db, settings, range(3))
    replays = Replays(db, settings)
    replays.start_replay("empty", "a1", T0 + 50, T0 + 60)

    run_to_end(ReplayRunner(db, settings))

    replay = replays.describe("empty")
    assert (replay.state, replay.events_replayed, replay.event_last_replayed_time) == (
        COMPLETED, 0, None,
    )


def test_cancel_stops_the_replay_before_its_next_batch(db: Database, settings: Settings) -> None:
    # Given a running replay that has replayed its first batch
    archive_events(db, settings, range(10))
    replays = Replays(db, settings)
    runner = ReplayRunner(db, settings, batch_size=3)
    replays.start_replay("c", "a1", T0, T0 + 10)
    runner.step_all()
    runner.step_all()
    assert len(replayed(db, "c")) == 3
    stale = replays.describe("c")  # what a runner read just before the cancel

    # When it is cancelled, even a step that read it before the cancel replays nothing
    assert replays.cancel("c").state == "CANCELLING"
    assert runner.step(stale) == 0
    assert len(replayed(db, "c")) == 3

    # Then the next pass makes it CANCELLED, and it stays so
    assert runner.step_all() == 1
    replay = replays.describe("c")
    assert (replay.state, replay.events_replayed) == (CANCELLED, 3)
    assert replay.replay_end_time is not None
    run_to_end(runner)
    assert len(replayed(db, "c")) == 3
    assert replays.active() == []


def test_a_replay_whose_archive_is_gone_fails_with_a_reason(db: Database) -> None:
    settings = make_settings()
    archive_events(db, settings, range(2))
    Replays(db, settings).start_replay("orphan", "a1", T0, T0 + 2)
    without = make_settings(archives=())

    run_to_end(ReplayRunner(db, without))

    replay = Replays(db, settings).describe("orphan")
    assert replay.state == FAILED
    assert "'a1' is no longer configured" in replay.state_reason
    assert replayed(db, "orphan") == []


def test_a_refused_event_fails_the_replay_and_keeps_the_earlier_batches(
    db: Database, tmp_path: Path
) -> None:
    # Given archived events, one of them bigger than the bus now accepts
    settings = make_settings()
    publisher = Publisher(db, settings)
    publish(publisher, [entry(0), entry(1), {**entry(2), "Detail": '{"n": 2, "pad": "' +
                                                   "x" * 2000 + '"}'}])
    Archiver(db, settings).archive_pass()
    smaller = settings.model_copy(
        update={"limits": settings.limits.model_copy(update={"max_entry_bytes": 1000})}
    )
    Replays(db, smaller).start_replay("big", "a1", T0, T0 + 10)

    run_to_end(ReplayRunner(db, smaller, batch_size=2))

    replay = Replays(db, smaller).describe("big")
    assert replay.state == FAILED
    assert "refused archived event" in replay.state_reason
    assert "InvalidArgument" in replay.state_reason
    assert ns_of(replayed(db, "big")) == [0, 1]
    assert replay.events_replayed == 2


def test_a_replay_resumes_after_a_crash_without_losing_or_repeating_events(
    tmp_path: Path, settings: Settings
) -> None:
    # Given a replay that replayed two batches when its worker stopped without any clean-up
    path = tmp_path / "clientevents.db"
    db = Database(path)
    archive_events(db, settings, range(9))
    Replays(db, settings).start_replay("crash", "a1", T0, T0 + 9)
    runner = ReplayRunner(db, settings, batch_size=2)
    for _ in range(3):
        runner.step_all()
    db.close()

    # When a new worker opens the database
    with Database(path) as reopened:
        replays = Replays(reopened, settings)
        state = replays.describe("crash")
        assert (state.state, state.events_replayed, state.cursor_time) == (RUNNING, 4, T0 + 3)
        run_to_end(ReplayRunner(reopened, settings, batch_size=2))

        # Then every event of the window is on the bus exactly once
        assert ns_of(replayed(reopened, "crash")) == list(range(9))
        assert replays.describe("crash").state == COMPLETED
        assert replays.describe("crash").events_replayed == 9


def test_run_loop_completes_replays_and_stops(db: Database, settings: Settings) -> None:
    archive_events(db, settings, range(5))
    replays = Replays(db, settings)
    replays.start_replay("loop", "a1", T0, T0 + 5)
    runner = ReplayRunner(db, settings, poll_interval_secs=0.01)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        while replays.describe("loop").state != COMPLETED:
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert len(replayed(db, "loop")) == 5
    assert replays.describe("loop").bus == BUS
