"""Patterns EventBridge rejects are rejected here too, with the JSON path and the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clientevents.patterns import EventPattern, InvalidEventPattern

CASES: list[tuple[Any, str, str]] = [
    # (pattern, expected path, fragment of the problem)
    ('["a"]', "", "must be a JSON object"),
    ("{", "", "not valid JSON"),
    ("{}", "", "empty objects"),
    ({"detail": {}}, "detail", "empty objects"),
    ({"source": []}, "source", "empty arrays"),
    ({"source": "aws.ec2"}, "source", "must be an object of fields or an array"),
    ({"source": 5}, "source", "must be an object of fields or an array"),
    ({"source": [["a"]]}, "source[0]", "match values must be"),
    ({"source": [{}]}, "source[0]", "exactly one key"),
    ({"source": [{"prefix": "a", "suffix": "b"}]}, "source[0]", "exactly one key"),
    ({"source": [{"regex": "a.*"}]}, "source[0]", "unknown operator 'regex'"),
    ({"source": [{"exactly": "a"}]}, "source[0]", "unknown operator"),
    ({"source": [{"prefix": 5}]}, "source[0].prefix", "must be a string"),
    (
        {"source": [{"prefix": {"equals-ignore-case": 5}}]},
        "source[0].prefix.equals-ignore-case",
        "must be a string",
    ),
    ({"source": [{"prefix": {"foo": "a"}}]}, "source[0].prefix", "equals-ignore-case"),
    ({"source": [{"suffix": ["a"]}]}, "source[0].suffix", "must be a string"),
    ({"source": [{"equals-ignore-case": None}]}, "source[0].equals-ignore-case", "string"),
    ({"source": [{"wildcard": "a**b"}]}, "source[0].wildcard", "consecutive wildcard"),
    ({"source": [{"wildcard": "a\\b"}]}, "source[0].wildcard", "invalid escape"),
    ({"source": [{"wildcard": "a\\"}]}, "source[0].wildcard", "invalid escape"),
    ({"source": [{"wildcard": "*a*a*a*a*a*"}]}, "source", "too complex"),
    (
        {
            "source": [
                {"wildcard": "*a*"},
                {"wildcard": "*b*"},
                {"wildcard": "*c*"},
                {"wildcard": "*d*"},
            ]
        },
        "source",
        "too complex",
    ),
    ({"source": [{"exists": "true"}]}, "source[0].exists", "true or false"),
    (
        {"detail": {"price": [{"numeric": [">"]}]}},
        "detail.price[0].numeric",
        "numeric operator '>' must be followed by a number",
    ),
    (
        {"detail": {"price": [{"numeric": [">", "5"]}]}},
        "detail.price[0].numeric[1]",
        "must be followed by a number",
    ),
    (
        {"detail": {"price": [{"numeric": [">", True]}]}},
        "detail.price[0].numeric[1]",
        "must be followed by a number",
    ),
    ({"detail": {"price": [{"numeric": []}]}}, "detail.price[0].numeric", "non-empty array"),
    ({"detail": {"price": [{"numeric": 5}]}}, "detail.price[0].numeric", "non-empty array"),
    (
        {"detail": {"price": [{"numeric": ["!=", 5]}]}},
        "detail.price[0].numeric[0]",
        "unknown numeric operator",
    ),
    (
        {"detail": {"price": [{"numeric": ["<", 5, ">", 1]}]}},
        "detail.price[0].numeric[2]",
        "too many elements",
    ),
    (
        {"detail": {"price": [{"numeric": ["=", 5, "<", 9]}]}},
        "detail.price[0].numeric[2]",
        "too many elements",
    ),
    (
        {"detail": {"price": [{"numeric": [">", 5, ">", 9]}]}},
        "detail.price[0].numeric[2]",
        "may only be followed by < or <=",
    ),
    (
        {"detail": {"price": [{"numeric": [">", 5, "<", 5]}]}},
        "detail.price[0].numeric",
        "must be less than its top",
    ),
    (
        {"detail": {"price": [{"numeric": [">", 0, "<", 5, 6]}]}},
        "detail.price[0].numeric[4]",
        "too many elements",
    ),
    (
        {"detail": {"price": [{"numeric": [">", 5e9 + 1]}]}},
        "detail.price[0].numeric[1]",
        "outside the numeric range",
    ),
    (
        {"detail": {"price": [{"numeric": ["<", 0.1234567]}]}},
        "detail.price[0].numeric[1]",
        "more than 6 digits",
    ),
    ({"a": [{"anything-but": []}]}, "a[0].anything-but", "empty arrays"),
    ({"a": [{"anything-but": ["x", 1]}]}, "a[0].anything-but", "all strings or all numbers"),
    ({"a": [{"anything-but": [None]}]}, "a[0].anything-but[0]", "strings or numbers"),
    ({"a": [{"anything-but": True}]}, "a[0].anything-but", "strings or numbers"),
    ({"a": [{"anything-but": 6e9}]}, "a[0].anything-but", "outside the numeric range"),
    ({"a": [{"anything-but": {"exists": True}}]}, "a[0].anything-but.exists", "unsupported"),
    ({"a": [{"anything-but": {"prefix": ""}}]}, "a[0].anything-but.prefix", "empty string"),
    ({"a": [{"anything-but": {"suffix": 3}}]}, "a[0].anything-but.suffix[0]", "string"),
    ({"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}, "a[0].anything-but", "one of"),
    (
        {"a": [{"anything-but": {"wildcard": "a**"}}]},
        "a[0].anything-but.wildcard[0]",
        "consecutive",
    ),
    ({"a": [{"cidr": "10.0.0.0"}]}, "a[0].cidr", "exactly one '/'"),
    ({"a": [{"cidr": "10.0.0.0/x"}]}, "a[0].cidr", "must be an integer"),
    ({"a": [{"cidr": "10.0.0.0/32"}]}, "a[0].cidr", "mask length must be below 32"),
    ({"a": [{"cidr": "::/128"}]}, "a[0].cidr", "below 128"),
    ({"a": [{"cidr": "300.0.0.0/8"}]}, "a[0].cidr", "not an IPv4 or IPv6 address"),
    ({"a": [{"cidr": 10}]}, "a[0].cidr", "must be a string"),
    ({"$or": [{"a": ["x"]}]}, "$or", "at least two objects"),
    ({"$or": {"a": ["x"]}}, "$or", "at least two objects"),
    ({"$or": [{"a": ["x"]}, "b"]}, "$or[1]", "only contain objects"),
    ({"$or": [{"a": ["x"]}, {}]}, "$or[1]", "empty objects"),
    ({"$or": [{"a": ["x"]}, {"prefix": ["y"]}]}, "$or[1].prefix", "reserved word"),
    (
        {"d": {"$or": [{"a": ["x"]}, {"b": {"numeric": ["y"]}}]}},
        "d.$or[1].b.numeric",
        "reserved word",
    ),
    ({"a.b": {"c": ["x"], "d": []}}, '["a.b"].d', "empty arrays"),
    ({"a": [float("nan")]}, "", "not a JSON value"),
    ('{"a": [NaN]}', "", "not valid JSON"),
    ({"a": [object()]}, "", "not a JSON value"),
]


@pytest.mark.parametrize(("pattern", "path", "problem"), CASES)
def test_invalid_patterns_name_path_and_problem(pattern: Any, path: str, problem: str) -> None:
    with pytest.raises(InvalidEventPattern) as info:
        EventPattern(pattern)
    assert info.value.path == path
    assert problem in info.value.problem
    assert str(info.value) == (f"{path}: {info.value.problem}" if path else info.value.problem)
    assert isinstance(info.value, ValueError)


def test_the_documented_example_message() -> None:
    with pytest.raises(
        InvalidEventPattern,
        match=r"^detail\.price\[0\]\.numeric: numeric "
        r"operator '>' must be followed by a number$",
    ):
        EventPattern({"detail": {"price": [{"numeric": [">"]}]}})


def test_pattern_text_size_limit() -> None:
    fits = {"source": ["x" * (2048 - len('{"source":[""]}'))]}
    assert len(json.dumps(fits, separators=(",", ":"))) == 2048
    EventPattern(fits)
    EventPattern(json.dumps(fits, separators=(",", ":")))
    too_big = {"source": ["x" * (2049 - len('{"source":[""]}'))]}
    with pytest.raises(InvalidEventPattern, match="2049 characters"):
        EventPattern(too_big)
    with pytest.raises(InvalidEventPattern, match="2049 characters"):
        EventPattern(json.dumps(too_big, separators=(",", ":")))
    padded = json.dumps(fits, indent=4)  # text is measured as given
    with pytest.raises(InvalidEventPattern, match="at most 2048"):
        EventPattern(padded)


def test_or_combination_limit() -> None:
    def alternatives(key: str, n: int) -> list[dict[str, Any]]:
        return [{key: [i]} for i in range(n)]

    EventPattern({"$or": alternatives("a", 10), "b": {"$or": alternatives("c", 100)}})
    with pytest.raises(InvalidEventPattern, match="more than 1000 combinations"):
        EventPattern({"$or": alternatives("a", 11), "b": {"$or": alternatives("c", 100)}})


def test_valid_edge_cases_are_accepted() -> None:
    EventPattern({"a": [{"prefix": ""}, {"suffix": ""}, {"equals-ignore-case": ""}]})
    EventPattern({"a": [{"wildcard": ""}, {"wildcard": "\\*\\\\"}, {"wildcard": "*"}]})
    EventPattern({"a": [{"numeric": [">=", -5e9, "<=", 5e9]}], "b": [1e20, 123456789012]})
    EventPattern({"a": [{"cidr": "0.0.0.0/0"}, {"cidr": "10.0.0.1/31"}, {"cidr": "::1/127"}]})
    EventPattern({"prefix": ["top-level fields may be named like operators"]})
    EventPattern({"a": [{"wildcard": "*a*b*c*"}, {"wildcard": "x*y*z"}]})  # complexity 8
    EventPattern({"a": [{"wildcard": "*a*b*c*d*e*f*g"}]})  # seven stars, complexity 8
