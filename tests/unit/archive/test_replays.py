"""The replay API: StartReplay checks, DescribeReplay, ListReplays, CancelReplay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from archive_helpers import BUS, T0, FakeClock, make_settings

from clientevents.archive import (
    CANCELLING,
    MAX_ACTIVE_REPLAYS,
    STARTING,
    IllegalStatus,
    InvalidReplayRequest,
    ReplayLimitExceeded,
    Replays,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from clientevents.store.engine import Database

ARN = "arn:aws:events:local:000000000000"


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


@pytest.fixture
def replays(db: Database) -> Replays:
    return Replays(db, make_settings(extra_buses=("other",)), clock=FakeClock(T0 + 3600))


def test_start_records_a_starting_replay_in_aws_shape(replays: Replays) -> None:
    replay = replays.start_replay(
        "fix-1", "a1", "2027-01-15T08:00:00Z", "2027-01-15T09:00:00.5Z", rules=["r1"],
        description="after the fix",
    )

    assert replay.state == STARTING
    assert replay.event_start_time == T0
    assert replay.event_end_time == T0 + 3600.5
    assert replays.describe("fix-1").to_dict() == {
        "ReplayName": "fix-1",
        "ReplayArn": f"{ARN}:replay/fix-1",
        "Description": "after the fix",
        "State": "STARTING",
        "StateReason": "",
        "EventSourceArn": f"{ARN}:archive/a1",
        "Destination": {
            "Arn": f"{ARN}:event-bus/{BUS}",
            "FilterArns": [f"{ARN}:rule/{BUS}/r1"],
        },
        "EventStartTime": "2027-01-15T08:00:00Z",
        "EventEndTime": "2027-01-15T09:00:00.500Z",
        "EventLastReplayedTime": None,
        "ReplayStartTime": "2027-01-15T09:00:00Z",
        "ReplayEndTime": None,
        "EventsReplayed": 0,
    }


def test_times_may_be_epoch_seconds_or_datetimes(replays: Replays) -> None:
    start = datetime.fromtimestamp(T0, UTC)
    replay = replays.start_replay("r", "a1", start, T0 + 60)
    assert (replay.event_start_time, replay.event_end_time) == (T0, T0 + 60)
    assert replay.rules is None
    assert "FilterArns" not in replay.to_dict()["Destination"]


def test_arns_name_the_archive_and_the_rules(replays: Replays) -> None:
    replay = replays.start_replay(
        "by-arn", f"{ARN}:archive/a1", T0, T0 + 1,
        rules=[f"{ARN}:rule/{BUS}/r2", "r1", "r2"],
    )
    assert replay.archive == "a1"
    assert replay.rules == ("r2", "r1")
    assert replays.describe(f"{ARN}:replay/by-arn").name == "by-arn"


def test_an_empty_rule_list_means_every_rule(replays: Replays) -> None:
    assert replays.start_replay("r", "a1", T0, T0 + 1, rules=[]).rules is None


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"name": "bad name"}, InvalidReplayRequest, "not valid"),
        ({"name": "x" * 65}, InvalidReplayRequest, "1 to 64"),
        ({"description": "d" * 513}, InvalidReplayRequest, "512"),
        ({"archive": "nope"}, ResourceNotFound, "configured archives: a1"),
        ({"start": "yesterday"}, InvalidReplayRequest, "EventStartTime"),
        ({"end": None}, InvalidReplayRequest, "EventEndTime is required"),
        ({"end": T0}, InvalidReplayRequest, "must be before EventEndTime"),
        ({"end": T0 - 1}, InvalidReplayRequest, "must be before EventEndTime"),
        ({"rules": ["r9"]}, ResourceNotFound, "its rules: r1, r2"),
        ({"rules": "r1"}, InvalidReplayRequest, "list of rule names"),
        ({"rules": [f"{ARN}:rule/other/r1"]}, InvalidReplayRequest, "bus 'b1' only"),
        ({"rules": [f"{ARN}:event-bus/b1"]}, InvalidReplayRequest, "not a rule ARN"),
    ],
)
def test_start_refuses_bad_requests_and_names_the_problem(
    replays: Replays, kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    args: dict[str, object] = {"name": "r", "archive": "a1", "start": T0, "end": T0 + 60}
    args.update(kwargs)
    with pytest.raises(error, match=words):
        replays.start_replay(**args)  # type: ignore[arg-type]
    assert replays.list() == []


def test_a_replay_name_is_never_reused(replays: Replays) -> None:
    replays.start_replay("once", "a1", T0, T0 + 60)
    with pytest.raises(ResourceAlreadyExists, match="'once' already exists"):
        replays.start_replay("once", "a1", T0, T0 + 60)
    assert ResourceAlreadyExists.code == "ResourceAlreadyExistsException"


def test_at_most_ten_replays_are_active(replays: Replays) -> None:
    for i in range(MAX_ACTIVE_REPLAYS):
        replays.start_replay(f"r{i}", "a1", T0, T0 + 60)
    with pytest.raises(ReplayLimitExceeded, match="10 replays are active"):
        replays.start_replay("one-more", "a1", T0, T0 + 60)
    # a cancelling replay is still active; the limit frees when replays finish (runner tests)
    replays.cancel("r0")
    with pytest.raises(ReplayLimitExceeded):
        replays.start_replay("one-more", "a1", T0, T0 + 60)


def test_describe_an_unknown_replay(replays: Replays) -> None:
    with pytest.raises(ResourceNotFound, match="'ghost' does not exist"):
        replays.describe("ghost")
    with pytest.raises(ResourceNotFound):
        replays.cancel("ghost")


def test_cancel_a_starting_replay_makes_it_cancelling(replays: Replays) -> None:
    replays.start_replay("r", "a1", T0, T0 + 60)

    replay = replays.cancel("r")

    assert replay.state == CANCELLING
    assert replay.state_reason == "Cancelled by request."
    with pytest.raises(IllegalStatus, match="only a STARTING or RUNNING replay"):
        replays.cancel("r")


def test_list_filters_by_state_archive_and_prefix(db: Database) -> None:
    clock = FakeClock(T0)
    settings = make_settings([{"name": "a1", "bus": BUS}, {"name": "a2", "bus": BUS}])
    replays = Replays(db, settings, clock=clock)
    for name, archive in [("one", "a1"), ("two", "a2"), ("three", "a1")]:
        clock.advance(1)
        replays.start_replay(name, archive, T0, T0 + 60)
    replays.cancel("two")

    assert [r.name for r in replays.list()] == ["three", "two", "one"]
    assert [r.name for r in replays.list(STARTING)] == ["three", "one"]
    assert [r.name for r in replays.list(CANCELLING)] == ["two"]
    assert [r.name for r in replays.list(archive="a1")] == ["three", "one"]
    assert [r.name for r in replays.list(name_prefix="t")] == ["three", "two"]
    assert [r.name for r in replays.active()] == ["one", "two", "three"]
    with pytest.raises(InvalidReplayRequest, match="use one of STARTING"):
        replays.list("DONE")
    with pytest.raises(ResourceNotFound):
        replays.list(archive="a9")
