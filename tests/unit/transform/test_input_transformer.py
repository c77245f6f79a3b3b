"""InputTransformer: the map's rules, the template's rules, and what each value renders to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from clientevents.transform import PREDEFINED_VARIABLES, InputTransformer, TransformError

SAMPLES = Path(__file__).parent / "samples"  # copies of the reference wire-format samples
PLUS_TWO = timezone(timedelta(hours=2))
EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cd7-a9f1-bf3703467718",
    "detail-type": "prod",
    "source": "clientevents",
    "account": "000000000000",
    "time": "2026-11-27T05:00:00Z",
    "region": "local",
    "resources": ["client-1"],
    "detail": {
        "text": "games",
        "quoted": 'say "hi"',
        "slash": "a\\b",
        "newline": "one\ntwo",
        "control": "bell\x07",
        "unicode": "café ☕",
        "int": 7,
        "float": 2.5,
        "yes": True,
        "nothing": None,
        "object": {"k": "v", "n": [1, 2]},
        "array": ["x", "y"],
        "numbers": [1, 2],
        "empty": {},
        "huge": 2**70,
    },
}
ALL = {name: f"$.detail.{name}" for name in EVENT["detail"]} | {"missing": "$.detail.nope"}


def render(template: str, event: dict[str, Any] = EVENT, **kwargs: Any) -> str:
    return InputTransformer(ALL, template).render(event, **kwargs)


# -- InputPathsMap ------------------------------------------------------------------------------


def test_the_map_may_be_none_or_empty_when_only_predefined_variables_are_used() -> None:
    assert InputTransformer(None, "<aws.events.rule-name>").render(EVENT, rule_name="r") == "r"
    assert InputTransformer({}, '"fixed"').render(EVENT) == '"fixed"'


def test_the_map_holds_at_most_100_variables() -> None:
    hundred = {f"v{i}": "$.id" for i in range(100)}
    assert InputTransformer(hundred, "<v99>").render(EVENT) == EVENT["id"]
    with pytest.raises(TransformError, match="101 variables; EventBridge allows at most 100"):
        InputTransformer(hundred | {"v100": "$.id"}, "x")


@pytest.mark.parametrize("name", ["aws.events.rule-name", "aws.x", "AWS.x", "Aws.events.event"])
def test_names_starting_with_aws_dot_are_reserved(name: str) -> None:
    with pytest.raises(TransformError, match="is reserved"):
        InputTransformer({name: "$.id"}, "x")


@pytest.mark.parametrize("name", ["", "a.b", "a b", "é", "x" * 257, "a<b"])
def test_names_are_1_to_256_letters_digits_underscores_or_dashes(name: str) -> None:
    with pytest.raises(TransformError, match="not a valid variable name"):
        InputTransformer({name: "$.id"}, "x")


def test_valid_names_include_dashes_underscores_digits_and_256_characters() -> None:
    names = {"detail-type": "$.detail-type", "snake_case": "$.id", "9": "$.id", "x" * 256: "$.id"}
    shaped = InputTransformer(names, "<detail-type> <snake_case> <9>")
    assert shaped.render(EVENT) == f"prod {EVENT['id']} {EVENT['id']}"


def test_map_keys_and_paths_must_be_strings_and_the_map_a_mapping() -> None:
    with pytest.raises(TransformError, match="key 1 must be a string"):
        InputTransformer({1: "$.id"}, "x")  # type: ignore[dict-item]
    with pytest.raises(TransformError, match=r"InputPathsMap\['a'\] must be a JSONPath string"):
        InputTransformer({"a": 5}, "x")  # type: ignore[dict-item]
    with pytest.raises(TransformError, match="must be a mapping"):
        InputTransformer([("a", "$.id")], "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("$['detail']", "must use dot notation"),
        ("detail", "must start with '$'"),
        ("$.detail[?(@.x)]", "filter expression"),
        ("$..x", "recursive descent"),
    ],
)
def test_invalid_paths_fail_at_construction_naming_the_variable(path: str, reason: str) -> None:
    with pytest.raises(TransformError) as caught:
        InputTransformer({"v": path}, "<v>")
    assert str(caught.value).startswith("InputPathsMap['v'] is invalid:")
    assert reason in str(caught.value)


def test_unused_variables_are_allowed() -> None:
    assert InputTransformer({"unused": "$.detail.nope"}, '"x"').render(EVENT) == '"x"'


# -- InputTemplate ------------------------------------------------------------------------------


def test_an_undefined_placeholder_fails_at_construction_in_eventbridge_words() -> None:
    with pytest.raises(TransformError) as caught:
        InputTransformer({"a": "$.id"}, '"<a> and <notdefinedkey>"')
    assert "contains invalid placeholder <notdefinedkey> (at position 9)" in str(caught.value)
    assert "aws.events.rule-name" in str(caught.value)


@pytest.mark.parametrize("name", ["aws.events.event", "aws.events.event.json"])
def test_the_event_variables_cannot_stand_inside_a_json_string(name: str) -> None:
    with pytest.raises(TransformError, match="only be the value of a field"):
        InputTransformer(None, f'{{"e": "event: <{name}>"}}')


def test_an_invalid_json_template_fails_at_construction() -> None:
    with pytest.raises(TransformError, match="must be valid JSON"):
        InputTransformer({"a": "$.id"}, '{"a": <a>,}')


def test_the_transformer_exposes_its_configuration() -> None:
    shaped = InputTransformer({"a": "$.id"}, '{"a": <a>}')
    assert dict(shaped.input_paths_map) == {"a": "$.id"}
    assert shaped.input_template == '{"a": <a>}'
    assert shaped.is_json and not InputTransformer(None, "text").is_json
    assert repr(shaped) == """InputTransformer({'a': '$.id'}, '{"a": <a>}')"""
    with pytest.raises(TypeError):
        shaped.input_paths_map["b"] = "$.x"  # type: ignore[index]


# -- Rendering: JSON templates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "written"),
    [
        ("text", '"games"'),
        ("quoted", '"say \\"hi\\""'),
        ("int", "7"),
        ("float", "2.5"),
        ("yes", "true"),
        ("nothing", "null"),
        ("object", '{"k":"v","n":[1,2]}'),
        ("array", '["x","y"]'),
        ("unicode", '"café ☕"'),
        ("missing", '""'),
    ],
)
def test_outside_quotes_a_json_template_gets_the_value_as_json(variable: str, written: str) -> None:
    out = render(f'{{"v": <{variable}>}}')
    assert out == f'{{"v":{written}}}'
    json.loads(out)


@pytest.mark.parametrize(
    ("variable", "written"),
    [
        ("text", "games"),
        ("int", "7"),
        ("float", "2.5"),
        ("yes", "true"),
        ("nothing", "null"),
        ("missing", ""),
        ("numbers", "[1,2]"),
        ("empty", "{}"),
        ("unicode", "café ☕"),
    ],
)
def test_inside_quotes_a_json_template_gets_the_text_of_the_value(
    variable: str, written: str
) -> None:
    assert render(f'{{"v": "[<{variable}>]"}}') == f'{{"v":"[{written}]"}}'


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("quoted", 'say "hi"'),
        ("slash", "a\\b"),
        ("newline", "one\ntwo"),
        ("control", "bell\x07"),
    ],
)
def test_inside_quotes_strings_are_escaped_so_the_output_stays_the_intended_json(
    variable: str, value: str
) -> None:
    out = render(f'{{"v": "value: <{variable}>!"}}')
    assert json.loads(out) == {"v": f"value: {value}!"}


def test_escaping_blocks_fields_injected_through_a_value() -> None:
    event = {"detail": {"name": 'x", "admin": "true'}}
    out = InputTransformer({"name": "$.detail.name"}, '{"user": "<name>"}').render(event)
    assert json.loads(out) == {"user": 'x", "admin": "true'}


@pytest.mark.parametrize("variable", ["object", "array"])
def test_an_object_or_array_with_strings_cannot_stand_inside_a_json_string(variable: str) -> None:
    shaped = InputTransformer(ALL, f'{{"v": "x <{variable}>"}}')
    with pytest.raises(TransformError) as caught:
        shaped.render(EVENT, rule_name="loyalty")
    message = str(caught.value)
    assert message.startswith("Rule 'loyalty': the input template cannot be rendered for event")
    assert EVENT["id"] in message
    assert f"<{variable}> ($.detail.{variable})" in message
    assert "put the placeholder outside quotes" in message
    assert caught.value.rule == "loyalty"


def test_a_render_error_without_a_rule_name_still_names_the_variable() -> None:
    with pytest.raises(TransformError, match=r"^The input template cannot be rendered.*<object>"):
        render('{"v": "<object>"}')


def test_a_value_json_cannot_represent_is_a_render_error() -> None:
    with pytest.raises(TransformError, match=r"<huge> \(\$\.detail\.huge\) cannot be written as"):
        render('{"v": <huge>}')
    with pytest.raises(TransformError, match="cannot be written as JSON"):
        render("<huge>")


def test_json_output_is_minified_but_keeps_the_whitespace_around_it() -> None:
    template = '{\n  "instance" : <text>,\n  "state": [ 9, <int>, true ],\n  "s": "a  b"\n}\n'
    assert render(template) == '{"instance":"games","state":[9,7,true],"s":"a  b"}\n'


def test_a_variable_can_be_used_many_times_and_in_both_contexts() -> None:
    out = render('{"a": <text>, "b": "<text>/<text>", "c": [<text>]}')
    assert out == '{"a":"games","b":"games/games","c":["games"]}'


# -- Rendering: text templates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "outside", "inside"),
    [
        ("text", "games", "games"),
        ("quoted", 'say "hi"', 'say "hi"'),
        ("newline", "one\ntwo", "one\ntwo"),
        ("int", "7", "7"),
        ("yes", "true", "true"),
        ("nothing", "null", "null"),
        ("missing", "", ""),
        ("object", '{"k":"v","n":[1,2]}', "{k:v,n:[1,2]}"),
        ("array", '["x","y"]', "[x,y]"),
    ],
)
def test_text_templates_insert_values_as_text_without_escaping(
    variable: str, outside: str, inside: str
) -> None:
    assert render(f"v=<{variable}>;") == f"v={outside};"
    assert render(f'"v=<{variable}>;"') == f'"v={inside};"'


def test_a_text_template_is_not_json_validated() -> None:
    assert render('"unbalanced <text>') == '"unbalanced games'
    assert render("Hello <text>\n") == "Hello games\n"


# -- Predefined variables -----------------------------------------------------------------------


def test_all_predefined_variables_are_known() -> None:
    assert {
        "aws.events.rule-arn",
        "aws.events.rule-name",
        "aws.events.event",
        "aws.events.event.json",
        "aws.events.event.ingestion-time",
    } == PREDEFINED_VARIABLES


def test_rule_name_and_arn_render_as_strings_in_every_context() -> None:
    arn = "arn:aws:events:local:000000000000:rule/client_event_bus/loyalty"
    template = (
        '{"name": <aws.events.rule-name>, "arn": <aws.events.rule-arn>, '
        '"text": "<aws.events.rule-name> triggered"}'
    )
    out = InputTransformer(None, template).render(EVENT, rule_name="loyalty", rule_arn=arn)
    assert json.loads(out) == {"name": "loyalty", "arn": arn, "text": "loyalty triggered"}
    assert InputTransformer(None, "<aws.events.rule-arn>").render(EVENT, rule_arn=arn) == arn


def test_aws_events_event_is_the_envelope_without_detail_as_eventbridge_writes_it() -> None:
    out = InputTransformer(None, "<aws.events.event>").render(EVENT)
    written = json.loads(out)
    assert "detail" not in written
    assert list(written) == [
        "id",
        "account",
        "detailType",
        "time",
        "source",
        "region",
        "resources",
        "version",
    ]
    assert written["detailType"] == "prod"


def test_aws_events_event_keeps_other_top_level_fields_and_skips_absent_ones() -> None:
    event = {"id": "1", "detail-type": "t", "detail": {}, "replay-name": "r1"}
    out = InputTransformer(None, "<aws.events.event>").render(event)
    assert out == '{"id":"1","detailType":"t","replay-name":"r1"}'


def test_aws_events_event_json_is_the_whole_event_on_one_line() -> None:
    event = {"id": "1", "detail": {"text": "two\nlines", "n": [1, {"k": None}]}}
    out = InputTransformer(None, "<aws.events.event.json>\n").render(event)
    assert out.endswith("}\n") and out.count("\n") == 1
    assert json.loads(out) == event


def test_in_a_text_string_the_event_loses_its_quotes_like_any_object() -> None:
    out = InputTransformer(None, '"event <aws.events.event>"').render({"id": "1"})
    assert out == '"event {id:1}"'


def test_the_blueprint_template_drops_detail_and_the_default_keeps_it() -> None:
    sample = json.loads((SAMPLES / "event.json").read_text())
    blueprint = InputTransformer(None, "<aws.events.event>\n").render(sample)
    default = InputTransformer(None, "<aws.events.event.json>\n").render(sample)
    assert "detail" not in json.loads(blueprint)
    assert json.loads(default) == sample
    assert default.count("\n") == blueprint.count("\n") == 1


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (None, "2026-11-27T05:00:00Z"),
        (datetime(2026, 11, 27, 6, 30, 15, 999, tzinfo=UTC), "2026-11-27T06:30:15Z"),
        (datetime(2026, 11, 27, 8, 30, 15, tzinfo=PLUS_TWO), "2026-11-27T06:30:15Z"),
        (datetime(2026, 11, 27, 6, 30, 15), "2026-11-27T06:30:15Z"),
        (1795761015.75, "2026-11-27T06:30:15Z"),
        (1795761015, "2026-11-27T06:30:15Z"),
        ("2026-11-27T06:30:15.123Z", "2026-11-27T06:30:15.123Z"),
    ],
)
def test_ingestion_time_renders_iso_8601_utc(given: Any, written: str) -> None:
    shaped = InputTransformer(None, '{"t": <aws.events.event.ingestion-time>}')
    assert shaped.render(EVENT, ingestion_time=given) == f'{{"t":"{written}"}}'


def test_ingestion_time_of_an_event_without_time_is_missing() -> None:
    shaped = InputTransformer(None, '{"t": <aws.events.event.ingestion-time>}')
    assert shaped.render({"id": "1"}) == '{"t":""}'


def test_an_impossible_ingestion_time_is_a_render_error() -> None:
    shaped = InputTransformer(None, "<aws.events.event.ingestion-time>")
    with pytest.raises(TransformError, match=r"<aws\.events\.event\.ingestion-time> is not a time"):
        shaped.render(EVENT, rule_name="r", ingestion_time=1e20)


# -- The reference pipeline ---------------------------------------------------------------------


def test_the_ticket_rule_can_also_be_written_as_a_transformer() -> None:
    sample = json.loads((SAMPLES / "event.json").read_text())
    expected = json.loads((SAMPLES / "zendesk-request-body.json").read_text())
    shaped = InputTransformer({"ticket": "$.detail.ticket.ticket"}, '{"ticket": <ticket>}')
    assert json.loads(shaped.render(sample)) == expected
