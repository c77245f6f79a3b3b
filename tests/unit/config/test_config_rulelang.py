"""Input shaping in a configuration is checked by the transform library the router uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clientevents.config import ConfigValidationError, load_config, validate_settings

BASE = """\
buses: [{name: main}]
rules:
  - name: shape
    bus: main
    event_pattern: {source: [clientevents]}
    targets:
      - id: t
        type: log
        path: out.jsonl
"""


def target_problems(tmp_path: Path, extra: str) -> list[tuple[str, str]]:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "".join(f"        {line}\n" for line in extra.splitlines()))
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, environ={})
    return list(info.value.problems)


def settings_with(**target: Any) -> Any:
    data = {
        "buses": [{"name": "main"}],
        "rules": [
            {
                "name": "shape",
                "bus": "main",
                "event_pattern": {"source": ["clientevents"]},
                "targets": [{"id": "t", "type": "log", "path": "-", **target}],
            }
        ],
    }
    return validate_settings(data, environ={})


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("detail", "must start with '$'"),
        ("$..x", "recursive descent"),
        ("$.detail[", "unclosed '['"),
    ],
)
def test_invalid_input_path(tmp_path: Path, path: str, needle: str) -> None:
    [(where, message)] = target_problems(tmp_path, f"input_path: '{path}'")
    assert where == "rules[0].targets[0].input_path"
    assert needle in message and "line 10" in message


def test_valid_input_paths() -> None:
    for path in ("$.detail.ticket", "$['detail']['ticket']", "$.resources[0]", "$"):
        assert settings_with(input_path=path).rules[0].targets[0].input_path == path


def test_constant_input_must_be_json(tmp_path: Path) -> None:
    [(where, message)] = target_problems(tmp_path, "input: 'hello'")
    assert where == "rules[0].targets[0].input"
    assert "valid JSON text" in message
    assert settings_with(input='"hello"').rules[0].targets[0].input == '"hello"'


def test_undefined_placeholder(tmp_path: Path) -> None:
    extra = "input_transformer:\n  input_paths_map: {kind: $.detail.eventType}\n"
    extra += "  input_template: '<kind> and <nope>'"
    [(where, message)] = target_problems(tmp_path, extra)
    assert where == "rules[0].targets[0].input_transformer.input_template"
    assert "<nope>" in message and "(rule 'shape', target 't'" in message


def test_invalid_paths_map(tmp_path: Path) -> None:
    extra = "input_transformer:\n  input_paths_map: {kind: detail.eventType}\n"
    extra += "  input_template: '<kind>'"
    [(where, message)] = target_problems(tmp_path, extra)
    assert where == "rules[0].targets[0].input_transformer.input_paths_map"
    assert "must start with '$'" in message


def test_json_template_must_stay_json(tmp_path: Path) -> None:
    extra = "input_transformer:\n  input_template: '{\"event\": <aws.events.event.json>'"
    [(where, message)] = target_problems(tmp_path, extra)
    assert where == "rules[0].targets[0].input_transformer.input_template"
    assert "must be valid JSON" in message


def test_valid_transformer() -> None:
    transformer = {
        "input_paths_map": {"kind": "$.detail.eventType"},
        "input_template": '{"kind": <kind>, "rule": "<aws.events.rule-name>"}',
    }
    target = settings_with(input_transformer=transformer).rules[0].targets[0]
    assert target.input_transformer.input_paths_map == {"kind": "$.detail.eventType"}


def pattern_problems(tmp_path: Path, pattern: str, where: str = "rule") -> list[tuple[str, str]]:
    text = BASE.replace("{source: [clientevents]}", pattern if where == "rule" else "{a: [b]}")
    if where == "archive":
        text += f"archives: [{{name: keep, bus: main, event_pattern: {pattern}}}]\n"
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigValidationError) as info:
        load_config(path, environ={})
    return list(info.value.problems)


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ("{}", "invalid event pattern: empty objects are not allowed"),
        ("{source: clientevents}", "invalid event pattern at source: must be an object"),
        (
            "{detail: {price: [{numeric: ['>', a]}]}}",
            "at detail.price[0].numeric[1]: numeric operator '>' must be followed by a number",
        ),
        ("{x: [{bogus: 1}]}", "at x[0]: unknown operator 'bogus'"),
        ('\'{"source": [{"prefix": 1}]}\'', "at source[0].prefix: the value of prefix"),
    ],
)
def test_invalid_rule_patterns(tmp_path: Path, pattern: str, needle: str) -> None:
    [(where, message)] = pattern_problems(tmp_path, pattern)
    assert where == "rules[0].event_pattern"
    assert needle in message and "(rule 'shape'; line 5)" in message


def test_invalid_archive_pattern(tmp_path: Path) -> None:
    [(where, message)] = pattern_problems(tmp_path, "{source: [{exists: maybe}]}", "archive")
    assert where == "archives[0].event_pattern"
    assert "invalid event pattern at source[0].exists" in message
    assert "(archive 'keep'; line 10)" in message


def test_valid_patterns_are_kept_as_given() -> None:
    pattern = {
        "source": ["clientevents"],
        "detail": {
            "eventType": [{"prefix": "loyalty"}, {"anything-but": ["test"]}],
            "data": {"amount": [{"numeric": [">=", 10, "<", 100]}]},
        },
        "$or": [{"resources": [{"exists": True}]}, {"detail-type": ["prod"]}],
    }
    data = {
        "buses": [{"name": "main"}],
        "rules": [
            {
                "name": "r",
                "bus": "main",
                "event_pattern": pattern,
                "targets": [{"id": "t", "type": "log", "path": "-"}],
            }
        ],
        "archives": [{"name": "a", "bus": "main", "event_pattern": json.dumps(pattern)}],
    }
    settings = validate_settings(data, environ={})
    assert settings.rules[0].event_pattern == pattern
    assert settings.archives[0].event_pattern == pattern
