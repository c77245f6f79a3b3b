"""``clientevents replay`` and ``clientevents archive`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import T0, entry, publish
from click.testing import CliRunner

from clientevents.archive import Archiver, ReplayRunner
from clientevents.cli import main
from clientevents.config import load_config
from clientevents.events.publisher import Publisher
from clientevents.store.engine import Database

CONFIG = """
buses: [{name: b1}]
rules:
  - name: r1
    bus: b1
    event_pattern: {source: [x]}
    targets: [{id: t, type: log, path: r1.jsonl}]
  - name: r2
    bus: b1
    event_pattern: {source: [x]}
    targets: [{id: t, type: log, path: r2.jsonl}]
archives:
  - {name: a1, bus: b1, description: every event}
  - {name: a2, bus: b1, event_pattern: {source: [y]}, retention_days: 7}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A configuration file and a data dir whose archive a1 holds events at T0 + 0..4."""
    config = tmp_path / "clientevents.yaml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    settings = load_config(config)
    with Database(data / "clientevents.db") as db:
        publish(Publisher(db, settings), [entry(n) for n in range(5)])
        Archiver(db, settings).archive_pass()
    return config, data


def run(setup: tuple[Path, Path], *args: str) -> tuple[int, str]:
    config, data = setup
    result = CliRunner().invoke(
        main, [*args, "--config", str(config), "--data-dir", str(data)]
    )
    return result.exit_code, result.output


def run_json(setup: tuple[Path, Path], *args: str) -> Any:
    code, out = run(setup, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def start_args(name: str = "fix", *extra: str) -> list[str]:
    return ["replay", "start", "--name", name, "--archive", "a1",
            "--from", "2027-01-15T08:00:01Z", "--to", "2027-01-15T08:00:04Z", *extra]


def test_start_prints_the_replay_in_aws_fields(setup: tuple[Path, Path]) -> None:
    answer = run_json(setup, *start_args("fix", "--rule", "r1", "--rule", "r2",
                                         "--description", "reprocess"))

    assert answer["ReplayName"] == "fix"
    assert answer["State"] == "STARTING"
    assert answer["EventStartTime"] == "2027-01-15T08:00:01Z"
    assert answer["EventEndTime"] == "2027-01-15T08:00:04Z"
    assert answer["EventLastReplayedTime"] is None
    assert answer["Description"] == "reprocess"
    assert answer["Destination"]["FilterArns"] == [
        "arn:aws:events:local:000000000000:rule/b1/r1",
        "arn:aws:events:local:000000000000:rule/b1/r2",
    ]
    assert answer["ReplayArn"] == "arn:aws:events:local:000000000000:replay/fix"


def test_status_shows_progress_after_the_workers_ran(setup: tuple[Path, Path]) -> None:
    config, data = setup
    run_json(setup, *start_args())
    with Database(data / "clientevents.db") as db:
        runner = ReplayRunner(db, load_config(config))
        while runner.step_all():
            pass

    answer = run_json(setup, "replay", "status", "fix")

    assert answer["State"] == "COMPLETED"
    assert answer["EventsReplayed"] == 3
    assert answer["EventLastReplayedTime"] == "2027-01-15T08:00:03Z"
    assert answer["ReplayEndTime"] is not None


def test_cancel_and_list(setup: tuple[Path, Path]) -> None:
    run_json(setup, *start_args("one"))
    run_json(setup, *start_args("two"))

    cancelled = run_json(setup, "replay", "cancel", "one")
    assert cancelled["State"] == "CANCELLING"

    listed = run_json(setup, "replay", "list")
    assert [r["ReplayName"] for r in listed["Replays"]] in (["two", "one"], ["one", "two"])
    starting = run_json(setup, "replay", "list", "--state", "STARTING")
    assert [r["ReplayName"] for r in starting["Replays"]] == ["two"]
    assert run_json(setup, "replay", "list", "--name-prefix", "o")["Replays"][0]["State"] \
        == "CANCELLING"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (start_args("fix", "--rule", "nope"), "ResourceNotFoundException: Rule 'nope'"),
        (["replay", "start", "--name", "x", "--archive", "zz", "--from", "2027-01-15T08:00:00Z",
          "--to", "2027-01-15T09:00:00Z"], "ResourceNotFoundException: Archive 'zz'"),
        (["replay", "start", "--name", "x", "--archive", "a1", "--from", "noon",
          "--to", "2027-01-15T09:00:00Z"], "Invalid value for --from: Time 'noon'"),
        (["replay", "start", "--name", "x", "--archive", "a1", "--from", "2027-01-15T09:00:00Z",
          "--to", "2027-01-15T08:00:00Z"], "ValidationException: EventStartTime"),
        (["replay", "status", "ghost"], "ResourceNotFoundException: Replay 'ghost'"),
        (["replay", "cancel", "ghost"], "ResourceNotFoundException"),
        (["replay", "list", "--state", "DONE"], "Invalid value for '--state'"),
        (["archive", "describe", "zz"], "ResourceNotFoundException: Archive 'zz'"),
    ],
)
def test_errors_exit_non_zero_and_name_the_problem(
    setup: tuple[Path, Path], args: list[str], words: str
) -> None:
    code, out = run(setup, *args)
    assert code != 0
    assert words in out


def test_a_duplicate_name_and_a_finished_cancel_are_refused(setup: tuple[Path, Path]) -> None:
    run_json(setup, *start_args())
    code, out = run(setup, *start_args())
    assert code == 1
    assert "ResourceAlreadyExistsException" in out
    run_json(setup, "replay", "cancel", "fix")
    code, out = run(setup, "replay", "cancel", "fix")
    assert code == 1
    assert "IllegalStatusException" in out


def test_a_missing_database_is_explained(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["replay", "list", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "There is no database" in result.output


def test_archive_list_and_describe(setup: tuple[Path, Path]) -> None:
    listed = run_json(setup, "archive", "list")
    by_name = {a["ArchiveName"]: a for a in listed["Archives"]}
    assert by_name["a1"]["EventCount"] == 5
    assert by_name["a1"]["SizeBytes"] > 0
    assert by_name["a1"]["State"] == "ENABLED"
    assert by_name["a1"]["Description"] == "every event"
    assert by_name["a2"]["EventCount"] == 0
    assert by_name["a2"]["RetentionDays"] == 7
    assert json.loads(by_name["a2"]["EventPattern"]) == {"source": ["y"]}

    described = run_json(setup, "archive", "describe", "a1")
    assert described == by_name["a1"]
    assert described["EventSourceArn"] == "arn:aws:events:local:000000000000:event-bus/b1"
    assert T0 > 0
