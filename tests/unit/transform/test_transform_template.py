"""Template parsing: JSON or text, placeholder contexts, validation, minification."""

from __future__ import annotations

import pytest

from clientevents.transform import TransformError
from clientevents.transform.template import (
    MAX_TEMPLATE_LENGTH,
    Context,
    Placeholder,
    is_json_template,
    parse_template,
)


@pytest.mark.parametrize(
    ("template", "is_json"),
    [
        ('{"a": 1}', True),
        ("  \n\t[1, 2]", True),
        ('"text <x>"', False),
        ("<aws.events.event>\n", False),
        ("Hello <name>", False),
        ("3", False),
        ("", False),
    ],
)
def test_a_template_is_json_when_it_starts_with_a_brace_or_bracket(
    template: str, is_json: bool
) -> None:
    assert is_json_template(template) is is_json


def test_text_templates_keep_every_character_and_mark_quoted_placeholders() -> None:
    parsed = parse_template('<a> is "in <b>" and \\"<c>\\" "esc \\" <d>"\n')
    assert not parsed.is_json
    assert parsed.literals == ("", ' is "in ', '" and \\"', '\\" "esc \\" ', '"\n')
    assert [(p.name, p.context) for p in parsed.placeholders] == [
        ("a", Context.TEXT),
        ("b", Context.TEXT_STRING),
        ("c", Context.TEXT_STRING),  # the backslash does not escape outside a string
        ("d", Context.TEXT_STRING),
    ]


def test_angle_brackets_that_are_not_placeholders_stay_literal() -> None:
    parsed = parse_template("a < b, c > d, </x>, <>, < y >")
    assert parsed.placeholders == ()
    assert parsed.literals == ("a < b, c > d, </x>, <>, < y >",)


def test_placeholder_names_may_hold_dots_and_dashes() -> None:
    parsed = parse_template("<aws.events.rule-name>:<detail-type>")
    assert [p.name for p in parsed.placeholders] == ["aws.events.rule-name", "detail-type"]
    assert parsed.placeholders[1] == Placeholder("detail-type", Context.TEXT, 23)


def test_json_templates_mark_value_and_string_placeholders_and_are_minified() -> None:
    template = '\n{\n  "id" : <id>,\n  "msg": "is <state> now",\n  "list": [ 9, <x> ]\n}\n'
    parsed = parse_template(template)
    assert parsed.is_json
    assert [(p.name, p.context) for p in parsed.placeholders] == [
        ("id", Context.JSON_VALUE),
        ("state", Context.JSON_STRING),
        ("x", Context.JSON_VALUE),
    ]
    # Whitespace inside strings stays; around the value it stays; elsewhere it goes.
    assert parsed.literals == ('\n{"id":', ',"msg":"is ', ' now","list":[9,', "]}\n")


def test_json_string_escapes_do_not_end_the_string() -> None:
    parsed = parse_template(r'{"a": "say \"<x>\" \\", "b": <y>}')
    assert [(p.name, p.context) for p in parsed.placeholders] == [
        ("x", Context.JSON_STRING),
        ("y", Context.JSON_VALUE),
    ]
    assert parsed.literals == ('{"a":"say \\"', r'\" \\","b":', "}")


@pytest.mark.parametrize(
    "template",
    [
        "{<k>: 1}",
        '{"a": 1, <k>: 2}',
        '[{"a": 1}, {<k>: 2}]',
    ],
)
def test_a_placeholder_cannot_be_an_object_key(template: str) -> None:
    with pytest.raises(TransformError, match="as an object key"):
        parse_template(template)


@pytest.mark.parametrize("template", ['{"<k>": 1}', '{"a": 1, "key <k>": 2}', '[{"x<k>": 1}]'])
def test_a_placeholder_cannot_stand_inside_an_object_key(template: str) -> None:
    with pytest.raises(TransformError, match="inside an object key"):
        parse_template(template)


def test_placeholders_in_string_values_after_keys_are_fine() -> None:
    parsed = parse_template('{"<not a placeholder>": "<v>", "k": ["<w>", {"x": "<y>"}]}')
    assert [(p.name, p.context) for p in parsed.placeholders] == [
        ("v", Context.JSON_STRING),
        ("w", Context.JSON_STRING),
        ("y", Context.JSON_STRING),
    ]


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ('{"a": <x> <y>}', "expected ',' or '}'"),
        ('{"a": -<x>}', "no digit after sign"),
        ('{"a": <x>,}', "trailing comma"),
        ('{"a": 1', "line 1 column 8"),
        ('{"a": "open', "line 1"),
        ('{"a": 1}}', "line 1 column 9"),
        ("[1, 2] extra", "line 1 column 8"),
        ("{\n  \"a\": 'single'\n}", "line 2 column 8"),
        ('{"a" <x>}', "expected ':'"),
        ('{"a": "\\q"}', "line 1"),
    ],
)
def test_json_templates_that_are_not_valid_json_are_refused_with_the_position(
    template: str, reason: str
) -> None:
    with pytest.raises(TransformError) as caught:
        parse_template(template)
    assert "must be valid JSON" in str(caught.value)
    assert reason in str(caught.value)


def test_template_length_is_1_to_8192_characters() -> None:
    with pytest.raises(TransformError, match="empty"):
        parse_template("")
    with pytest.raises(TransformError, match="at most 8192"):
        parse_template("x" * (MAX_TEMPLATE_LENGTH + 1))
    assert parse_template("x" * MAX_TEMPLATE_LENGTH).literals == ("x" * MAX_TEMPLATE_LENGTH,)


def test_a_template_must_be_a_string() -> None:
    with pytest.raises(TransformError, match="must be a string, not dict"):
        parse_template({"a": 1})  # type: ignore[arg-type]
