"""``clientevents tail``: a bus, a rule's matches or a stream, read through the public APIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clientevents.cli import main
from clientevents.config import load_config
from clientevents.events.publisher import Publisher
from clientevents.store.engine import Database
from clientevents.streams import StreamStore

CONFIG = """
buses: [{name: main}, {name: other}]
rules:
  - name: purchases
    bus: main
    event_pattern: {detail: {eventType: [purchase]}}
    targets: [{id: t, type: stream, stream: clicks}]
  - name: sleeping
    bus: main
    state: disabled
    event_pattern: {source: [app]}
    targets: [{id: t, type: log, path: x.jsonl}]
streams:
  - name: clicks
"""


def _entry(kind: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"Source": "app", "DetailType": "prod", "EventBusName": "main",
            "Detail": json.dumps({"eventType": kind, "n": n}),
            "Resources": [f"client-{n}"], "Time": "2026-11-27T05:00:00Z", **extra}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "clientevents.yaml"
    config.write_text(CONFIG)
    data = tmp_path / "data"
    settings = load_config(config)
    with Database(data / "clientevents.db") as db:
        publisher = Publisher(db, settings)
        answer = publisher.put_events([
            _entry("search", 1), _entry("purchase", 2), _entry("search", 3),
            _entry("purchase", 4, ReplayName="fix", ReplayRules=["sleeping"]),
            _entry("purchase", 5, ReplayName="fix", ReplayRules=["purchases"]),
        ])
        assert answer["FailedEntryCount"] == 0
        streams = StreamStore(db, settings)
        db.write(lambda conn: streams.append(conn, "clicks", ['{"n": 1}', "not json"]))
    return config, data


def tail(setup: tuple[Path, Path], *args: str) -> Result:
    config, data = setup
    return CliRunner().invoke(main, ["tail", *args, "--config", str(config),
                                     "--data-dir", str(data)])


def _numbers(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["detail"]["n"] for line in result.stdout.splitlines()]


def test_a_bus_from_the_start_as_json_lines(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--bus", "main", "--from-start", "--no-follow", "--json")
    assert _numbers(result) == [1, 2, 3, 4, 5]
    first = json.loads(result.stdout.splitlines()[0])
    assert first["source"] == "app" and first["resources"] == ["client-1"]


def test_from_now_on_shows_nothing_that_was_there(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--bus", "main", "--no-follow", "--one-line")
    assert result.exit_code == 0 and result.stdout == ""
    assert "Following bus main from now on." in result.stderr
    quiet = tail(setup, "--bus", "main", "--no-follow", "--json")  # JSON: nothing else at all
    assert (quiet.stdout, quiet.stderr) == ("", "")


def test_a_rules_matches_skip_replays_meant_for_other_rules(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--rule", "purchases", "--from-start", "--no-follow", "--json")
    assert _numbers(result) == [2, 5]


def test_a_disabled_rule_shows_what_its_pattern_matches_with_a_warning(
    setup: tuple[Path, Path],
) -> None:
    result = tail(setup, "--rule", "sleeping", "--from-start", "--no-follow", "--json")
    assert _numbers(result) == [1, 2, 3, 4]
    assert "Rule sleeping is disabled" in result.stderr


def test_pattern_filters_on_the_fly_and_count_stops(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--bus", "main", "--from-start", "--no-follow", "--json",
                  "--pattern", '{"detail": {"n": [{"numeric": [">", 2]}]}}')
    assert _numbers(result) == [3, 4, 5]
    result = tail(setup, "--bus", "main", "--from-start", "--json", "--count", "2")
    assert _numbers(result) == [1, 2]


def test_one_line_and_pretty_output(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--bus", "main", "--from-start", "--no-follow", "--one-line")
    assert result.exit_code == 0
    first = result.stdout.splitlines()[0].split("  ")
    assert first[:4] == ["2026-11-27T05:00:00Z", "prod", "search", "client-1"]
    pretty = tail(setup, "--bus", "main", "--from-start", "--count", "1")
    assert json.loads(pretty.stdout)["detail"] == {"eventType": "search", "n": 1}
    assert pretty.stdout.startswith("{\n  ")


def test_a_stream_is_read_without_joining_a_consumer_group(setup: tuple[Path, Path]) -> None:
    result = tail(setup, "--stream", "clicks", "--from-start", "--no-follow", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"n": 1}, "not json"]
    config, data = setup
    with Database(data / "clientevents.db") as db:
        assert StreamStore(db, load_config(config)).groups("clicks") == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--bus", "nope"], 2, "bus 'nope' is not in the configuration (buses: main, other)"),
    (["--rule", "nope"], 2, "rule 'nope' is not in the configuration"),
    (["--stream", "nope"], 2, "stream 'nope' is not in the configuration (streams: clicks)"),
    ([], 2, "Name what to follow with --bus, --rule or --stream (buses: main, other)"),
    (["--bus", "main", "--rule", "purchases"], 2, "not --bus and --rule"),
    (["--bus", "main", "--json", "--one-line"], 2, "Give --json or --one-line, not both"),
    (["--bus", "main", "--pattern", '{"source": "x"}'], 2, "Invalid value for --pattern: source"),
    (["--bus", "main", "--pattern", "no-such-file.json"], 2, "neither JSON text nor"),
])
def test_mistakes_are_explained(setup: tuple[Path, Path], args: list[str], code: int,
                                message: str) -> None:
    result = tail(setup, *args, "--no-follow")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_without_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["tail", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "There is no database" in result.output
