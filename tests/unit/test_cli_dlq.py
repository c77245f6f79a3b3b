"""``clientevents dlq``: list, show, redrive and purge through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clientevents.cli import main
from clientevents.store.engine import Database
from clientevents.targets.queue import DeadLetter, dead_letter, target_key


def _letter(payload: str, target_id: str = "lake", exhausted: str = "Permanent") -> DeadLetter:
    return DeadLetter(
        target_key=target_key("client_event_bus", "client_events_to_lake", target_id),
        bus="client_event_bus",
        rule="client_events_to_lake",
        target_id=target_id,
        event_id=f"id-{payload}",
        payload=payload,
        error_code="HTTP400" if exhausted == "Permanent" else "TransformError",
        error_message="Bad request\nfrom the target",
        attempts=1,
        exhausted=exhausted,  # type: ignore[arg-type]
        event_time=1_795_000_000.0,
        failed_at=1_795_000_060.0,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with Database(tmp_path / "clientevents.db") as db:
        db.write(
            lambda conn: dead_letter(
                conn,
                [
                    _letter('{"n": 1}'),
                    _letter('{"n": 2}', target_id="gone"),
                    _letter('{"n": 3}', exhausted="TransformError"),
                ],
            )
        )
    return tmp_path


def _run(*args: str, data_dir: Path, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["dlq", *args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def _table_ids(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()[2:-1]]


def test_list_as_a_table(data_dir: Path) -> None:
    code, out = _run("list", data_dir=data_dir)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "FAILED", "AT", "TARGET"]
    assert set(lines[1]) == {"-"}
    assert "2026-11-18T" in lines[2] and "client_event_bus/client_events_to_lake/lake" in lines[2]
    assert "HTTP400: Bad request from the target" in lines[2]
    assert lines[-1] == "3 shown of 3."


def test_list_as_json_with_filters(data_dir: Path) -> None:
    code, out = _run("list", "--json", "--target", "gone", data_dir=data_dir)
    assert code == 0, out
    (entry,) = json.loads(out)
    assert entry["id"] == 2 and entry["payload"] == '{"n": 2}'
    code, out = _run("list", "--limit", "1", "--after-id", "1", data_dir=data_dir)
    assert _table_ids(out) == ["2"]
    assert out.splitlines()[-1] == "1 shown of 3."


def test_format_json_is_a_deprecated_spelling_of_json(data_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["dlq", "list", "--format", "json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert [e["id"] for e in json.loads(result.stdout)] == [1, 2, 3]
    assert "--format json is deprecated" in result.stderr and "--json" in result.stderr
    # The old spelling is not advertised.
    help_text = CliRunner().invoke(main, ["dlq", "list", "--help"]).output
    assert "--json" in help_text and "--format" not in help_text


def test_show_one_or_several(data_dir: Path) -> None:
    code, out = _run("show", "1", data_dir=data_dir)
    assert code == 0 and json.loads(out)["event_id"] == 'id-{"n": 1}'
    code, out = _run("show", "1", "3", "--json", data_dir=data_dir)
    assert [e["id"] for e in json.loads(out)] == [1, 3]
    code, out = _run("show", "9", data_dir=data_dir)
    assert code == 1 and "No dead-letter entry with id 9" in out


def test_redrive_selected_entries(data_dir: Path) -> None:
    code, out = _run("redrive", "1", "3", data_dir=data_dir)
    assert code == 0, out
    assert out.splitlines()[0] == "Redrove 1 entry: 1."
    assert out.splitlines()[1].startswith("Left 3: TransformError entry")
    with Database(data_dir / "clientevents.db") as db:
        queued = db.read(lambda c: c.execute("SELECT payload FROM deliveries").fetchall())
    assert queued == [('{"n": 1}',)]
    code, out = _run("list", "--json", data_dir=data_dir)
    assert [e["id"] for e in json.loads(out)] == [2, 3]


def test_redrive_all_checks_targets_against_the_configuration(
    data_dir: Path, tmp_path: Path
) -> None:
    # Given the embedded blueprint as a file: it has the target "lake", not "gone"
    config = tmp_path / "clientevents.yaml"
    config.write_text(
        "buses: [{name: client_event_bus}]\n"
        "rules:\n"
        "  - name: client_events_to_lake\n"
        "    bus: client_event_bus\n"
        "    event_pattern: {source: [clientevents]}\n"
        "    targets: [{id: lake, type: log, path: lake/events.jsonl}]\n"
    )
    code, out = _run("redrive", "--all", "--include-transform-errors", "--json",
                     "--config", str(config), data_dir=data_dir)
    assert code == 0, out
    answer = json.loads(out)
    assert answer["redriven"] == [1, 3]
    assert "not in the configuration" in answer["skipped"]["2"]


def test_redrive_and_purge_need_a_selection(data_dir: Path) -> None:
    code, out = _run("redrive", data_dir=data_dir)
    assert code == 2 and "pass --all" in out
    code, out = _run("purge", "1", "--all", data_dir=data_dir)
    assert code == 2 and "not both" in out


def test_purge_selected_and_all(data_dir: Path) -> None:
    code, out = _run("purge", "2", data_dir=data_dir)
    assert (code, out) == (0, "Purged 1 entry.\n")
    code, out = _run("purge", "--all", data_dir=data_dir, stdin="n\n")
    assert code == 1 and "Aborted" in out
    code, out = _run("purge", "--all", data_dir=data_dir, stdin="y\n")
    assert code == 0 and out.endswith("Purged 2 entries.\n")
    code, out = _run("purge", "--all", "--yes", data_dir=data_dir)
    assert (code, out) == (0, "Purged 0 entries.\n")
    code, out = _run("list", data_dir=data_dir)
    assert out == "No dead-lettered deliveries.\n"


def test_a_missing_database_is_explained(tmp_path: Path) -> None:
    code, out = _run("list", data_dir=tmp_path / "nowhere")
    assert code == 1
    assert "There is no database at" in out and "--data-dir" in out
    assert not (tmp_path / "nowhere").exists()


def test_a_bad_configuration_is_explained(data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("rules: 3\n")
    code, out = _run("list", "--config", str(config), data_dir=data_dir)
    assert code == 1 and "bad.yaml" in out


def test_purge_as_json(data_dir: Path) -> None:
    code, out = _run("purge", "1", "3", "--json", data_dir=data_dir)
    assert code == 0 and json.loads(out) == {"purged": 2}
