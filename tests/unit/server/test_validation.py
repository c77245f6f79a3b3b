"""Request and entry validation: what is a 400 and what is a per-entry error."""

from __future__ import annotations

import orjson
import pytest

from clientevents.server.errors import RequestRejected
from clientevents.server.validation import (
    EntryError,
    EntryValidator,
    SchemaRule,
    json_depth,
    parse_entries,
)

MALFORMED = '{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'


def _validator(**kwargs: object) -> EntryValidator:
    options: dict[str, object] = {"max_entry_bytes": 1024, "max_depth": 4}
    options.update(kwargs)
    return EntryValidator(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "got a JSON array"),
        (b'"text"', "got a JSON string"),
        (b"{}", 'no "entries"'),
        (b'{"entries": {}}', "must be an array, got a JSON object"),
        (b'{"entries": "x"}', "must be an array, got a JSON string"),
        (b'{"entries": []}', "is empty"),
        (b'{"entries": [1]}', "entries[0] must be an object"),
        (b'{"entries": [{"entry": "{}"}, {"other": 1}]}', 'entries[1] has no "entry"'),
        (orjson.dumps({"entries": [{"entry": "{}"}] * 11}), "at most 10"),
    ],
)
def test_request_level_problems_are_400_naming_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(RequestRejected) as info:
        parse_entries(body, max_entries=10)
    assert info.value.status == 400
    assert fragment in info.value.message


def test_entries_come_back_in_order() -> None:
    body = orjson.dumps({"entries": [{"entry": "{}"}, {"entry": {"a": 1}}, {"entry": 5}]})
    assert parse_entries(body, max_entries=10) == ["{}", {"a": 1}, 5]


def test_text_and_object_entries_become_detail_objects() -> None:
    validator = _validator()
    assert validator.check('{"eventType": "x", "n": 1}') == {"eventType": "x", "n": 1}
    assert validator.check({"eventType": "x"}) == {"eventType": "x"}


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (MALFORMED, "MalformedDetail", "not valid JSON"),
        ("[1, 2]", "MalformedDetail", "got a JSON array"),
        ('"text"', "MalformedDetail", "got a JSON string"),
        (5, "MalformedDetail", "got a JSON number"),
        (None, "MalformedDetail", "got a JSON null"),
        (["a"], "MalformedDetail", "got a JSON array"),
        ('{"a": "' + "x" * 2000 + '"}', "InvalidArgument", "larger than 1024 bytes"),
        ({"a": "x" * 2000}, "InvalidArgument", "larger than 1024 bytes"),
        ('{"a": {"b": {"c": {"d": {}}}}}', "InvalidArgument", "more than 4 levels"),
        ({"a": [[[[1]]]]}, "InvalidArgument", "more than 4 levels"),
    ],
)
def test_bad_entries_get_their_own_error(raw: object, code: str, fragment: str) -> None:
    result = _validator().check(raw)
    assert isinstance(result, EntryError)
    assert result.code == code
    assert fragment in result.message
    assert result.result() == {"ErrorCode": code, "ErrorMessage": result.message}


def test_size_counts_utf8_bytes_not_characters() -> None:
    validator = _validator(max_entry_bytes=100)
    text = '{"a": "' + "é" * 40 + '"}'  # 48 characters, 88 bytes
    assert isinstance(validator.check(text), dict)
    text = '{"a": "' + "€" * 40 + '"}'  # 48 characters, 128 bytes
    result = validator.check(text)
    assert isinstance(result, EntryError) and result.code == "InvalidArgument"


@pytest.mark.parametrize("levels", [256, 600, 1021])
def test_an_object_entry_nested_past_what_orjson_writes_gets_its_own_error(levels: int) -> None:
    # Given an entry object nested deeper than orjson.dumps accepts (255 levels), as a body
    # parsed by orjson (which reads up to 1024) can carry
    body = b'{"entries": [{"entry": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}]}"
    (raw,) = parse_entries(body, max_entries=10)
    # When it is checked, Then it gets the depth error, not an exception
    result = _validator(max_entry_bytes=262_144, max_depth=64).check(raw)
    assert isinstance(result, EntryError)
    assert (result.code, result.reason) == ("InvalidArgument", "too_deep")


def test_depth_walk() -> None:
    assert json_depth(1, 10) == 0
    assert json_depth({}, 10) == 1
    assert json_depth({"a": [{"b": 1}]}, 10) == 3
    assert json_depth([[[[[[]]]]]], 3) == 4  # stops counting past the limit


SEARCH_SCHEMA = {
    "type": "object",
    "required": ["eventType", "data"],
    "properties": {
        "data": {
            "type": "object",
            "required": ["searchTerm"],
            "properties": {"searchTerm": {"type": "string", "minLength": 1}},
        }
    },
}


def test_schema_failure_names_the_json_pointer() -> None:
    validator = _validator(schemas=[SchemaRule("searching", 1, SEARCH_SCHEMA)])
    ok = validator.check('{"eventType": "searching", "schemaVersion": 1, '
                         '"data": {"searchTerm": "games"}}')
    assert isinstance(ok, dict)
    bad = validator.check('{"eventType": "searching", "schemaVersion": 1, '
                          '"data": {"searchTerm": 7}}')
    assert isinstance(bad, EntryError)
    assert bad.code == "SchemaValidationFailed"
    assert "/data/searchTerm" in bad.message
    assert "'searching'" in bad.message


def test_schema_applies_only_to_its_type_and_version() -> None:
    validator = _validator(schemas=[SchemaRule("searching", 1, SEARCH_SCHEMA)])
    other_version = '{"eventType": "searching", "schemaVersion": 2, "data": 1}'
    other_type = '{"eventType": "paging", "schemaVersion": 1, "data": 1}'
    assert isinstance(validator.check(other_version), dict)
    assert isinstance(validator.check(other_type), dict)


def test_schema_without_version_applies_to_every_version() -> None:
    validator = _validator(schemas=[SchemaRule("searching", None, SEARCH_SCHEMA)])
    result = validator.check('{"eventType": "searching", "schemaVersion": 9}')
    assert isinstance(result, EntryError)
    assert "'data' is a required property" in result.message
    assert " at / " in result.message


def test_version_specific_schema_wins_over_the_generic_one() -> None:
    strict = {"type": "object", "required": ["extra"]}
    validator = _validator(schemas=[
        SchemaRule("searching", None, {"type": "object"}),
        SchemaRule("searching", 2, strict),
    ])
    assert isinstance(validator.check('{"eventType": "searching", "schemaVersion": 1}'), dict)
    result = validator.check('{"eventType": "searching", "schemaVersion": 2}')
    assert isinstance(result, EntryError)
