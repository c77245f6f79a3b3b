"""``clientevents dlq``, ``replay`` and ``archive`` against a gateway on loopback, through the
admin API: the key from the data folder (an operator on the machine) or from the environment
with ``CLIENTEVENTS_ENDPOINT_URL`` (an operator elsewhere), and a clear error when nothing
answers.

The gateway runs without workers (as ``clientevents gateway`` would), so a replay stays
``STARTING`` until the test runs the replay worker itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from console_helpers import LiveServer
from store_helpers import open_service_store, with_test_storage

from clientevents.cli import main
from clientevents.config import Settings, validate_settings
from clientevents.identity.admin import admin_credentials
from clientevents.runtime import Runtime
from clientevents.server.app import create_app
from clientevents.targets.queue import DeadLetter, dead_letter, target_key

pytestmark = pytest.mark.integration

BUS = "client_event_bus"
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z

CONFIG: dict[str, Any] = {
    "buses": [{"name": BUS}],
    "rules": [
        {"name": "client_events_to_lake", "bus": BUS, "event_pattern": {"source": ["other"]},
         "targets": [{"id": "lake", "type": "log", "path": "lake.jsonl"}]},
        *({"name": rule, "bus": BUS, "event_pattern": {"source": ["x"]},
           "targets": [{"id": "t", "type": "log", "path": f"{rule}.jsonl"}]}
          for rule in ("r1", "r2")),
    ],
    "archives": [{"name": "a1", "bus": BUS, "description": "every event"},
                 {"name": "a2", "bus": BUS, "event_pattern": {"source": ["y"]},
                  "retention_days": 7}],
}


def _letter(n: int, target_id: str = "lake", exhausted: str = "Permanent") -> DeadLetter:
    return DeadLetter(
        target_key=target_key(BUS, "client_events_to_lake", target_id), bus=BUS,
        rule="client_events_to_lake", target_id=target_id, event_id=f"id-{n}",
        payload=orjson.dumps({"n": n}).decode(),
        error_code="HTTP400" if exhausted == "Permanent" else "TransformError",
        error_message="Bad request\nfrom the target", attempts=1,
        exhausted=exhausted,  # type: ignore[arg-type]
        event_time=1_795_000_000.0, failed_at=1_795_000_060.0,
    )


@dataclass
class Live:
    url: str
    data_dir: Path
    settings: Settings

    def run(self, *args: str, stdin: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        """The command against this deployment, its key read from the data folder."""
        extra = [] if env else ["--endpoint-url", self.url, "--data-dir", str(self.data_dir)]
        return CliRunner().invoke(main, [*args, *extra], input=stdin, env=env)

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A gateway whose dead-letter queue holds entries 1 (lake), 2 (a target the configuration
    does not have) and 3 (a TransformError), and whose archive a1 holds events at T0 + 0..4."""
    data = tmp_path / "data"
    settings = validate_settings(with_test_storage(CONFIG), environ={})
    with Runtime(settings, data) as runtime:  # the service's store and event log
        runtime.db.write(lambda conn: dead_letter(conn, [
            _letter(1), _letter(2, "gone"), _letter(3, exhausted="TransformError")]))
        entries = [{"Source": "x", "DetailType": "test", "EventBusName": BUS,
                    "Detail": orjson.dumps({"n": n}).decode(), "Time": T0 + n}
                   for n in range(5)]
        assert runtime.publisher.put_events(entries)["FailedEntryCount"] == 0
        runtime.archiver.archive_pass()
    app = create_app(settings, data_dir=data)
    with LiveServer(app) as server:
        yield Live(server.url, data, settings)


def _start(name: str = "fix", *extra: str) -> list[str]:
    return ["replay", "start", "--name", name, "--archive", "a1",
            "--from", "2027-01-15T08:00:01Z", "--to", "2027-01-15T08:00:04Z", *extra]


# -- dlq -------------------------------------------------------------------------------------


def test_dlq_list_as_a_table_and_as_json(live: Live) -> None:
    result = live.run("dlq", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "FAILED", "AT", "TARGET"]
    assert "2026-11-18T" in lines[2] and f"{BUS}/client_events_to_lake/lake" in lines[2]
    assert "HTTP400: Bad request from the target" in lines[2]
    assert lines[-1] == "3 shown of 3."
    (entry,) = live.json("dlq", "list", "--target", "gone")
    assert entry["id"] == 2 and json.loads(entry["payload"]) == {"n": 2}
    assert [e["id"] for e in live.json("dlq", "list", "--limit", "1", "--after-id", "1")] == [2]


def test_dlq_show_redrive_and_purge(live: Live) -> None:
    assert live.json("dlq", "show", "1")["event_id"] == "id-1"
    assert [e["id"] for e in live.json("dlq", "show", "1", "3")] == [1, 3]
    missing = live.run("dlq", "show", "9")
    assert missing.exit_code == 1 and "No dead-letter entry with id 9" in missing.output
    # The server redrives only targets its configuration has, and TransformErrors on request.
    result = live.run("dlq", "redrive", "1", "2", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Redrove 1 entry: 1."
    assert "Left 2:" in result.stdout and "Left 3: TransformError entry" in result.stdout
    with open_service_store(live.settings, live.data_dir) as db:
        queued = db.read(lambda c: c.execute("SELECT payload FROM deliveries").fetchall())
    assert queued == [('{"n":1}',)]
    aborted = live.run("dlq", "purge", "--all", stdin="n\n")
    assert aborted.exit_code == 1 and "Delete 2 dead-letter entries for good?" in aborted.output
    assert live.json("dlq", "purge", "2") == {"purged": 1}
    purged = live.run("dlq", "purge", "--all", stdin="y\n")
    assert purged.exit_code == 0 and purged.stdout.endswith("Purged 1 entry.\n")
    assert live.run("dlq", "list").stdout == "No dead-lettered deliveries.\n"


def test_a_selection_is_required(live: Live) -> None:
    assert "pass --all" in live.run("dlq", "redrive").output
    assert "not both" in live.run("dlq", "purge", "1", "--all").output


def test_every_change_is_in_the_audit_log(live: Live) -> None:
    live.json("dlq", "redrive", "--all", "--include-transform-errors")
    with open_service_store(live.settings, live.data_dir) as db:
        actions = db.read(lambda c: c.execute("SELECT action, actor FROM admin_audit")
                          .fetchall())
    credentials, _ = admin_credentials(live.settings.identity, live.data_dir)
    assert actions == [("dlq.redrive", credentials.access_key_id)]


# -- replay and archive ----------------------------------------------------------------------


def test_replay_start_status_cancel_and_list(live: Live) -> None:
    started = live.json(*_start("fix", "--rule", "r1", "--rule", "r2",
                                "--description", "reprocess"))
    assert started["ReplayName"] == "fix" and started["State"] == "STARTING"
    assert started["EventStartTime"] == "2027-01-15T08:00:01Z"
    assert started["Description"] == "reprocess"
    assert started["Destination"]["FilterArns"] == [
        f"arn:aws:events:local:000000000000:rule/{BUS}/r1",
        f"arn:aws:events:local:000000000000:rule/{BUS}/r2"]
    assert started["ReplayArn"] == "arn:aws:events:local:000000000000:replay/fix"
    # The workers run it (here the test runs the replay worker itself).
    with Runtime(live.settings, live.data_dir) as runtime:
        runner = runtime.replay_runner
        while runner.step_all():
            pass
    done = live.json("replay", "status", "fix")
    assert done["State"] == "COMPLETED" and done["EventsReplayed"] == 3
    assert done["EventLastReplayedTime"] == "2027-01-15T08:00:03Z"
    live.json(*_start("one"))
    assert live.json("replay", "cancel", "one")["State"] == "CANCELLING"
    names = [r["ReplayName"] for r in live.json("replay", "list")["Replays"]]
    assert sorted(names) == ["fix", "one"]
    assert [r["ReplayName"] for r in
            live.json("replay", "list", "--state", "COMPLETED")["Replays"]] == ["fix"]
    assert live.json("replay", "list", "--name-prefix", "o")["Replays"][0]["State"] == \
        "CANCELLING"
    table = live.run("replay", "list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "STATE", "ARCHIVE"]


@pytest.mark.parametrize(("args", "words"), [
    (_start("x", "--rule", "nope"), "Rule 'nope'"),
    (["replay", "start", "--name", "x", "--archive", "zz", "--from", "2027-01-15T08:00:00Z",
      "--to", "2027-01-15T09:00:00Z"], "NotFound (HTTP 404): Archive 'zz'"),
    (["replay", "start", "--name", "x", "--archive", "a1", "--from", "noon",
      "--to", "2027-01-15T09:00:00Z"], "Invalid value for --from: Time 'noon'"),
    (["replay", "start", "--name", "x", "--archive", "a1", "--from", "2027-01-15T09:00:00Z",
      "--to", "2027-01-15T08:00:00Z"], "BadRequest (HTTP 400): EventStartTime"),
    (["replay", "status", "ghost"], "NotFound (HTTP 404): Replay 'ghost'"),
    (["replay", "cancel", "ghost"], "NotFound (HTTP 404)"),
    (["archive", "describe", "zz"], "NotFound (HTTP 404): Archive 'zz'"),
])
def test_refusals_exit_1_and_say_why(live: Live, args: list[str], words: str) -> None:
    result = live.run(*args)
    assert result.exit_code in (1, 2) and words in result.output, result.output
    assert "Traceback" not in result.output


def test_a_duplicate_and_a_finished_cancel_are_conflicts(live: Live) -> None:
    live.json(*_start())
    again = live.run(*_start())
    assert again.exit_code == 1 and "Conflict (HTTP 409)" in again.output
    live.json("replay", "cancel", "fix")
    twice = live.run("replay", "cancel", "fix")
    assert twice.exit_code == 1 and "Conflict (HTTP 409)" in twice.output


def test_archive_list_and_describe(live: Live) -> None:
    by_name = {a["ArchiveName"]: a for a in live.json("archive", "list")["Archives"]}
    assert by_name["a1"]["EventCount"] == 5 and by_name["a1"]["SizeBytes"] > 0
    assert by_name["a1"]["State"] == "ENABLED"
    assert by_name["a1"]["Description"] == "every event"
    assert by_name["a2"]["EventCount"] == 0 and by_name["a2"]["RetentionDays"] == 7
    assert json.loads(by_name["a2"]["EventPattern"]) == {"source": ["y"]}
    assert live.json("archive", "describe", "a1") == by_name["a1"]
    assert [a["ArchiveName"] for a in
            live.json("archive", "list", "--name-prefix", "a2")["Archives"]] == ["a2"]


# -- elsewhere -------------------------------------------------------------------------------


def test_from_elsewhere_with_the_key_and_the_address_in_the_environment(live: Live) -> None:
    credentials, _ = admin_credentials(live.settings.identity, live.data_dir)
    env = {"CLIENTEVENTS_ENDPOINT_URL": live.url,
           "CLIENTEVENTS_ADMIN_ACCESS_KEY_ID": credentials.access_key_id,
           "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": credentials.secret_access_key}
    listed = live.run("archive", "list", "--json", env=env)
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)["Archives"]) == 2
    wrong = live.run("dlq", "list",
                     env={**env, "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": "x" * 40})
    assert wrong.exit_code == 1 and "Forbidden (HTTP 403)" in wrong.output
    assert "Check the admin key" in wrong.output


def test_nothing_answering_is_a_clear_error(live: Live, tmp_path: Path) -> None:
    for args in (["dlq", "list"], ["replay", "list"], ["archive", "list"]):
        result = CliRunner().invoke(main, [*args, "--endpoint-url", "http://127.0.0.1:9",
                                           "--data-dir", str(live.data_dir)])
        assert result.exit_code == 1
        assert "Cannot reach http://127.0.0.1:9" in result.output
        assert "Is `clientevents serve` running there?" in result.output
        assert "Traceback" not in result.output


def test_a_deployment_without_the_admin_api_is_named_as_such(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = validate_settings(with_test_storage({**CONFIG, "console": {"enabled": False}}),
                                 environ={})
    with LiveServer(create_app(settings, data_dir=data)) as server:
        result = CliRunner().invoke(main, ["dlq", "list", "--endpoint-url", server.url,
                                           "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "does not answer as clientevents' admin API" in result.output
    assert "console.enabled" in result.output
