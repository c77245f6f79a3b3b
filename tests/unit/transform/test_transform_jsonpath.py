"""The JSONPath subset: what compiles, what is refused and why, and what a path finds."""

from __future__ import annotations

from typing import Any

import pytest

from clientevents.transform import MISSING, TransformError, compile_path
from clientevents.transform.jsonpath import WILDCARD, JsonPath

EVENT: dict[str, Any] = {
    "detail-type": "prod",
    "resources": ["arn:one", "arn:two"],
    "detail": {
        "a/b": 1,
        "snake_case": "s",
        "n": None,
        "zero": 0,
        "items": [{"sku": 1, "tags": ["x"]}, {"sku": 2}, {"other": 3}],
        "ünï": "unicode",
        "7": "seven",
    },
}


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.detail", ("detail",)),
        ("$.detail-type", ("detail-type",)),
        ("$.detail.a/b", ("detail", "a/b")),
        ("$.resources[0]", ("resources", 0)),
        ("$.resources[10]", ("resources", 10)),
        ("$.detail.items[1].sku", ("detail", "items", 1, "sku")),
        ("$.detail.items[*].sku", ("detail", "items", WILDCARD, "sku")),
        ("$.detail.*", ("detail", WILDCARD)),
        ("$.detail.7", ("detail", "7")),
        ("$.detail.ünï", ("detail", "ünï")),
        ("$[0]", (0,)),
    ],
)
def test_supported_paths_compile_to_steps(path: str, steps: tuple[object, ...]) -> None:
    assert compile_path(path).steps == steps


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("detail.x", "must start with '$'"),
        ("", "must start with '$'"),
        ("$..detail", "recursive descent '..'"),
        ("$.detail.items[?(@.sku > 1)]", "filter expression"),
        ("$.detail.items[0:2]", "slice"),
        ("$.detail.items[0,1]", "union"),
        ("$.detail.items[-1]", "negative index"),
        ("$.detail.items[(@.length-1)]", "script expression"),
        ("$.detail.items[01]", "bracket expression [01]"),
        ("$.detail.items[0", "unclosed '['"),
        ("$.detail.", "the end of the path"),
        ("$.detail.a b", "' ' at position 10"),
        ("$.detail.@id", "'@' at position 9"),
        ("$detail", "'d' at position 1"),
        ("$.detail.*x", "'x' at position 10"),
        ("$['detail']", "bracket notation"),
    ],
)
def test_unsupported_paths_are_refused_with_the_reason(path: str, message: str) -> None:
    with pytest.raises(TransformError, match=None) as caught:
        compile_path(path)
    assert message in str(caught.value)
    assert repr(path) in str(caught.value)


def test_paths_longer_than_256_characters_are_refused() -> None:
    path = "$." + "a" * 255
    with pytest.raises(TransformError, match="at most 256"):
        compile_path(path)
    assert compile_path("$." + "a" * 254).steps == ("a" * 254,)


def test_a_path_must_be_a_string() -> None:
    with pytest.raises(TransformError, match="must be a string, not int"):
        compile_path(5)


def test_bracket_notation_is_accepted_when_asked_for() -> None:
    path = compile_path("""$['detail']["a/b"]['it\\'s']""", brackets=True)
    assert path.steps == ("detail", "a/b", "it's")


def test_compiled_paths_are_cached_and_compare_by_steps() -> None:
    assert compile_path("$.detail.n") is compile_path("$.detail.n")
    assert compile_path("$['detail']", brackets=True) == compile_path("$.detail")
    assert hash(compile_path("$['detail']", brackets=True)) == hash(compile_path("$.detail"))
    assert compile_path("$.detail") != "$.detail"
    assert repr(compile_path("$.detail")) == "JsonPath('$.detail')"
    assert repr(MISSING) == "MISSING" and not MISSING
    assert repr(WILDCARD) == "WILDCARD"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", EVENT),
        ("$.detail-type", "prod"),
        ("$.resources[1]", "arn:two"),
        ("$.detail.a/b", 1),
        ("$.detail.n", None),
        ("$.detail.zero", 0),
        ("$.detail.items[0].tags[0]", "x"),
        ("$.detail.7", "seven"),
        ("$.detail.ünï", "unicode"),
    ],
)
def test_definite_paths_find_the_value(path: str, expected: Any) -> None:
    assert compile_path(path).find(EVENT) == expected


@pytest.mark.parametrize(
    "path",
    [
        "$.nope",
        "$.detail.nope.deeper",
        "$.resources[2]",
        "$.detail-type.x",  # a key step on a string
        "$.detail[0]",  # an index step on an object
        "$.resources.x",  # a key step on an array
        "$.detail.n.x",  # a key step on null
        "$.resources[0].x",  # paths mixing names and indexes take the checked walk
        "$.detail.items[0].nope",
        "$.nope[0]",
        "$.detail.items[9].sku",
    ],
)
def test_definite_paths_find_missing_where_the_event_has_nothing(path: str) -> None:
    assert compile_path(path).find(EVENT) is MISSING


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.detail.items[*].sku", [1, 2]),
        ("$.resources[*]", ["arn:one", "arn:two"]),
        ("$.detail.items[*].tags[0]", ["x"]),
        ("$.detail.items[*].nope", []),
        ("$.detail.items[0].*", [1, ["x"]]),
        ("$.detail-type.*", []),
        ("$.*[1]", ["arn:two"]),
        ("$.detail.items.*.sku", [1, 2]),
    ],
)
def test_wildcard_paths_find_every_match_in_document_order(path: str, expected: Any) -> None:
    found = compile_path(path)
    assert not found.definite
    assert found.find(EVENT) == expected


def test_an_index_step_after_a_wildcard_skips_short_arrays() -> None:
    document = {"rows": [[1, 2], [3], "text"]}
    assert compile_path("$.rows[*][1]").find(document) == [2]


def test_a_document_that_is_not_an_object_finds_nothing() -> None:
    assert compile_path("$.detail").find(["detail"]) is MISSING
    assert compile_path("$").find("text") == "text"
    assert isinstance(compile_path("$"), JsonPath)
