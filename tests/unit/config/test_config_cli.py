"""``clientevents validate FILE`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from clientevents.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_valid_file_prints_a_summary() -> None:
    path = str(EXAMPLES / "blueprint.yaml")
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path} is valid: 1 bus, 2 rules, 2 targets, 1 stage, 1 archive, 0 streams, "
        "0 schemas, 0 issuers.\n"
    )


def test_invalid_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "buses: [{name: main}]\n"
        "rules:\n"
        "  - name: r\n"
        "    bus: elsewhere\n"
        "    event_pattern: {source: [a]}\n"
        "    targets: [{id: t, type: stream, stream: nope}]\n"
    )
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{path}: rules[0].bus: bus 'elsewhere' is not defined under buses (defined: main); "
        "add it to buses or fix the name. (rule 'r'; line 4)",
        f"{path}: rules[0].targets[0].stream: stream 'nope' is not defined under streams "
        "(defined: none); add it to streams or fix the name. (rule 'r', target 't'; line 6)",
        f"{path} is not valid: 2 problems.",
    ]


def test_yaml_error_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("buses: [\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "invalid YAML" in result.stderr and f"{path} is not valid." in result.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"{path}: the file does not exist.\n"


def test_missing_environment_variable_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("region: '${env:CLIENTEVENTS_TEST_REGION}'\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "environment variable 'CLIENTEVENTS_TEST_REGION' is not set" in result.stderr
    ok = CliRunner().invoke(
        main, ["validate", str(path)], env={"CLIENTEVENTS_TEST_REGION": "eu-west-1"}
    )
    assert ok.exit_code == 0, ok.output


def test_config_schema_prints_a_json_schema_that_accepts_the_blueprint() -> None:
    result = CliRunner().invoke(main, ["config", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    blueprint = yaml.safe_load((EXAMPLES / "blueprint.yaml").read_text())
    assert list(validator.iter_errors(blueprint)) == []
    blueprint["rules"][0]["targets"][0]["retry_policy"] = {"maximum_retry_attempts": 186}
    blueprint["stages"][0]["colour"] = "blue"
    assert len(list(validator.iter_errors(blueprint))) == 2
