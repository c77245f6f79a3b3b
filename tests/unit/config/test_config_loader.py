"""Loading YAML files: syntax errors, interpolation, and messages naming file, path and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clientevents.config import (
    ConfigError,
    ConfigFileError,
    ConfigValidationError,
    load_config,
)

VALID = """\
buses:
  - name: main
rules:
  - name: to_lake
    bus: main
    event_pattern: {source: [clientevents]}
    targets:
      - id: lake
        type: log
        path: lake/events.jsonl
"""


def write(tmp_path: Path, text: str, name: str = "clientevents.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_a_valid_file(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, VALID), environ={})
    assert [rule.name for rule in settings.rules] == ["to_lake"]


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "# nothing yet\n"), environ={})
    assert settings.buses == [] and settings.server.port == 8080


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigValidationError, match="must be a mapping") as info:
        load_config(path, environ={})
    assert str(info.value).startswith(str(path))


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "buses:\n  - name: main\nrules: [\n  {name: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: line ")
    assert "invalid YAML" in message
    assert info.value.file == str(path)


def test_tab_indentation_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "buses:\n\t- name: main\n")
    with pytest.raises(ConfigError, match=r"line 2, column 1: invalid YAML"):
        load_config(path, environ={})


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "region: one\naccount: '000000000000'\nregion: two\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "line 3" in message and "duplicate key 'region'" in message
    assert "first given on line 1" in message


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    text = VALID + "stages:\n  - &p {name: a, bus: main}\n  - <<: *p\n    name: b\n"
    settings = load_config(write(tmp_path, text), environ={})
    assert [(s.name, s.bus) for s in settings.stages] == [("a", "main"), ("b", "main")]


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigFileError, match="does not exist") as info:
        load_config(path)
    assert info.value.file == str(path)


def test_directory_and_binary_files_are_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="directory"):
        load_config(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigFileError, match="not UTF-8"):
        load_config(binary)


def test_validation_error_names_file_path_names_and_line(tmp_path: Path) -> None:
    text = VALID.replace(
        "        path: lake/events.jsonl\n",
        "        path: lake/events.jsonl\n        retry_policy: {maximum_retry_attempts: 200}\n",
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, environ={})
    error = info.value
    assert error.file == str(path)
    assert error.path == "rules[0].targets[0].retry_policy.maximum_retry_attempts"
    assert str(error) == (
        f"{path}: rules[0].targets[0].retry_policy.maximum_retry_attempts: "
        "Input should be less than or equal to 185, got 200. "
        "(rule 'to_lake', target 'lake'; line 11)"
    )


def test_every_problem_is_reported_one_per_line(tmp_path: Path) -> None:
    text = VALID.replace("type: log", "type: lg").replace("bus: main", "bus: 7") + "regoin: x\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, environ={})
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == 3
    assert all(line.startswith(f"{path}: ") for line in lines)
    joined = "\n".join(lines)
    assert "rules[0].bus: Input should be a valid string, got 7." in joined
    assert "rules[0].targets[0]: unknown type 'lg'" in joined
    assert "regoin: unknown field 'regoin'; did you mean 'region'?" in joined


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("        path: lake/events.jsonl\n", ""))
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, environ={})
    assert info.value.problems[0][0] == "rules[0].targets[0].path"
    assert "required field is missing" in info.value.problems[0][1]


def test_unquoted_account_number_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, "account: 000000000000\n")
    with pytest.raises(ConfigValidationError, match="account: Input should be a valid string"):
        load_config(path, environ={})


class TestInterpolation:
    def test_whole_and_partial_values(self, tmp_path: Path) -> None:
        text = VALID + (
            "server: {port: '${env:PORT}', host: '${env:HOST}'}\n"
            "stages: [{name: p, bus: main, environment: 'env-${env:STAGE}-x'}]\n"
        )
        environ = {"PORT": "9001", "HOST": "0.0.0.0", "STAGE": "beta"}
        settings = load_config(write(tmp_path, text), environ=environ)
        assert settings.server.port == 9001 and settings.server.host == "0.0.0.0"
        assert settings.stages[0].environment == "env-beta-x"

    def test_defaults_apply_when_unset_or_empty(self, tmp_path: Path) -> None:
        text = VALID + "server: {port: '${env:PORT:-8181}', host: '${env:HOST:-127.0.0.2}'}\n"
        settings = load_config(write(tmp_path, text), environ={"HOST": ""})
        assert settings.server.port == 8181 and settings.server.host == "127.0.0.2"

    def test_empty_default_and_escape(self, tmp_path: Path) -> None:
        text = VALID.replace(
            "bus: main\n    event", "bus: main\n    description: 'a$${b}${env:X:-}'\n    event"
        )
        settings = load_config(write(tmp_path, text), environ={})
        assert settings.rules[0].description == "a${b}"

    def test_reads_the_process_environment_by_default(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CLIENTEVENTS_TEST_KEY", "k-123")
        text = VALID + "streams: [{name: clicks, api_keys: ['${env:CLIENTEVENTS_TEST_KEY}']}]\n"
        settings = load_config(write(tmp_path, text))
        assert settings.streams[0].api_keys == ["k-123"]
        assert os.environ["CLIENTEVENTS_TEST_KEY"] == "k-123"

    def test_inside_event_patterns_and_lists(self, tmp_path: Path) -> None:
        text = VALID.replace("[clientevents]", "['${env:SOURCE}', other]")
        settings = load_config(write(tmp_path, text), environ={"SOURCE": "web"})
        assert settings.rules[0].event_pattern == {"source": ["web", "other"]}

    def test_missing_variable_names_file_path_and_variable(self, tmp_path: Path) -> None:
        text = VALID + (
            "identity:\n  admin:\n    access_key_id: '${env:ADMIN_ID}'\n"
            "    secret_access_key: '${env:ADMIN_SECRET}'\n"
        )
        path = write(tmp_path, text)
        with pytest.raises(ConfigValidationError) as info:
            load_config(path, environ={"ADMIN_ID": "AKID"})
        assert str(info.value) == (
            f"{path}: identity.admin.secret_access_key: environment variable 'ADMIN_SECRET' "
            "is not set; set it or give a default with ${env:ADMIN_SECRET:-default}. (line 14)"
        )

    def test_all_missing_variables_are_listed(self, tmp_path: Path) -> None:
        text = VALID + "server: {host: '${env:A}${env:B}'}\nregion: '${env:C}'\n"
        with pytest.raises(ConfigValidationError) as info:
            load_config(write(tmp_path, text), environ={})
        assert [(p, m.split("'")[1]) for p, m in info.value.problems] == [
            ("server.host", "A"),
            ("server.host", "B"),
            ("region", "C"),
        ]

    def test_malformed_reference(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigValidationError, match="malformed reference"):
            load_config(write(tmp_path, "region: '${env:not valid}'\n"), environ={})

    def test_other_dollar_braces_are_left_alone(self, tmp_path: Path) -> None:
        text = VALID.replace(
            "bus: main\n    event", "bus: main\n    description: '${x}'\n    event"
        )
        settings = load_config(write(tmp_path, text), environ={})
        assert settings.rules[0].description == "${x}"

    def test_keys_are_not_interpolated(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigValidationError, match="unknown field"):
            load_config(write(tmp_path, "'${env:K}': 1\n"), environ={"K": "region"})


class TestSchemas:
    def test_inline_schema(self, tmp_path: Path) -> None:
        text = (
            VALID
            + "schemas: [{event_type: searching, schema_version: 1, schema: {type: object}}]\n"
        )
        settings = load_config(write(tmp_path, text), environ={})
        assert settings.schemas[0].schema == {"type": "object"}

    def test_schema_file_is_read_relative_to_the_config_file(self, tmp_path: Path) -> None:
        (tmp_path / "schemas").mkdir()
        (tmp_path / "schemas" / "search.json").write_text('{"type": "object"}')
        text = VALID + "schemas: [{event_type: searching, schema_file: schemas/search.json}]\n"
        settings = load_config(write(tmp_path, text), environ={})
        assert settings.schemas[0].schema == {"type": "object"}
        assert settings.schemas[0].schema_file == tmp_path / "schemas" / "search.json"

    def test_yaml_schema_file(self, tmp_path: Path) -> None:
        (tmp_path / "s.yaml").write_text("type: object\nrequired: [data]\n")
        text = VALID + "schemas: [{event_type: searching, schema_file: s.yaml}]\n"
        settings = load_config(write(tmp_path, text), environ={})
        assert settings.schemas[0].schema == {"type": "object", "required": ["data"]}

    @pytest.mark.parametrize(
        ("entry", "path", "needle"),
        [
            ("{event_type: a}", "schemas[0].schema", "give a schema or a schema_file"),
            ("{event_type: a, schema_file: nope.json}", "schemas[0].schema_file", "cannot read"),
            ("{event_type: a, schema: {type: objec}}", "schemas[0].schema", "not a valid JSON"),
            (
                "{event_type: a, schema: {}, schema_file: x.json}",
                "schemas[0].schema_file",
                "not both",
            ),
        ],
    )
    def test_schema_problems(self, tmp_path: Path, entry: str, path: str, needle: str) -> None:
        with pytest.raises(ConfigValidationError) as info:
            load_config(write(tmp_path, VALID + f"schemas: [{entry}]\n"), environ={})
        [(found, message)] = info.value.problems
        assert found == path and needle in message

    def test_unparsable_schema_file(self, tmp_path: Path) -> None:
        (tmp_path / "bad.json").write_text("{nope")
        text = VALID + "schemas: [{event_type: a, schema_file: bad.json}]\n"
        with pytest.raises(ConfigValidationError, match="does not parse"):
            load_config(write(tmp_path, text), environ={})

    def test_one_schema_per_event_type_and_version(self, tmp_path: Path) -> None:
        text = VALID + (
            "schemas:\n"
            "  - {event_type: a, schema_version: 1, schema: {}}\n"
            "  - {event_type: a, schema_version: 2, schema: {}}\n"
            "  - {event_type: a, schema_version: 1, schema: {}}\n"
        )
        with pytest.raises(ConfigValidationError) as info:
            load_config(write(tmp_path, text), environ={})
        [(path, message)] = info.value.problems
        assert path == "schemas[2].event_type" and "schemas[0]" in message


def test_only_true_and_false_are_booleans_and_dates_stay_text(tmp_path: Path) -> None:
    text = (
        VALID.replace("[clientevents]", "[on, 'yes', no, 2024-01-31]")
        + "server: {access_log: no}\n"
    )
    settings = load_config(write(tmp_path, text), environ={})
    assert settings.rules[0].event_pattern == {"source": ["on", "yes", "no", "2024-01-31"]}
    assert settings.server.access_log is False  # "no" still reads as false where a bool is due


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: &a [*a]\n", r"a\[0\] is an alias of a node that contains it"),
        ("a: " + "[" * 150 + "]" * 150 + "\n", "nested deeper than 100 levels"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than the parser can follow"),
    ],
    ids=["recursive-alias", "deep", "very-deep"],
)
def test_pathological_yaml_is_an_error_not_a_crash(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(write(tmp_path, text), environ={})


def test_shared_aliases_are_fine(tmp_path: Path) -> None:
    text = VALID + "stages:\n  - &s {name: a, bus: main}\n  - {name: b, bus: main}\n"
    text += "archives: [{name: x, bus: main, event_pattern: &p {source: [a]}},"
    text += " {name: y, bus: main, event_pattern: *p}]\n"
    settings = load_config(write(tmp_path, text), environ={})
    assert settings.archives[0].event_pattern == settings.archives[1].event_pattern
