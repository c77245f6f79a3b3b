"""What each operator matches, checked on EventPattern, Matcher and the reference alike."""

from __future__ import annotations

from typing import Any

import pytest

from clientevents.patterns import EventPattern, Matcher
from clientevents.patterns.reference import reference_matches

EVENT: dict[str, Any] = {
    "source": "clientevents",
    "detail-type": "prod",
    "resources": ["0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10", "arn:aws:ec2:us-east-1:1:i-1"],
    "detail": {
        "eventType": "LoyaltyPurchase",
        "schemaVersion": 2,
        "price": 300.0,
        "count": 3,
        "big": 123456789012,
        "fine": 1.1234567,
        "flag": True,
        "nothing": None,
        "empty": "",
        "ip": "10.0.0.33",
        "ip6": "2001:db8::1",
        "file": "photos/Dir/a.PNG",
        "star": "a*b",
        "tags": ["x", "y"],
        "nested": {"deep": "value"},
        "emptyList": [],
        "a.b": "dotted",
    },
}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    # exact values
    ("string", {"source": ["clientevents"]}, True),
    ("string list OR", {"source": ["x", "clientevents"]}, True),
    ("string miss", {"source": ["ClientEvents"]}, False),
    ("array intersects", {"resources": ["arn:aws:ec2:us-east-1:1:i-1"]}, True),
    ("array element list", {"detail": {"tags": ["z", "y"]}}, True),
    ("number int vs float", {"detail": {"price": [300]}}, True),
    ("number float vs int", {"detail": {"count": [3.0]}}, True),
    ("number exponent", {"detail": {"price": [3e2]}}, True),
    ("number is not string", {"detail": {"count": ["3"]}}, False),
    ("string is not number", {"detail-type": [0]}, False),
    ("true is not 1", {"detail": {"flag": [1]}}, False),
    ("true", {"detail": {"flag": [True]}}, True),
    ("1 is not true", {"detail": {"count": [True]}}, False),
    ("null", {"detail": {"nothing": [None]}}, True),
    ("null is not empty string", {"detail": {"nothing": [""]}}, False),
    ("empty string", {"detail": {"empty": [""]}}, True),
    ("empty string is not null", {"detail": {"empty": [None]}}, False),
    ("null does not match absent", {"detail": {"absent": [None]}}, False),
    ("big number literal", {"detail": {"big": [123456789012]}}, True),
    ("big number float literal", {"detail": {"big": [123456789012.0]}}, False),
    ("fine number literal", {"detail": {"fine": [1.1234567]}}, True),
    ("nested", {"detail": {"nested": {"deep": ["value"]}}}, True),
    ("dotted key is one key", {"detail": {"a.b": ["dotted"]}}, True),
    # EventBridge joins nested names with dots: a dotted name and a nested path are one field.
    ("nested pattern matches a dotted event key", {"detail": {"a": {"b": ["dotted"]}}}, True),
    ("dotted pattern key matches a nested event field", {"detail": {"nested.deep": ["value"]}},
     True),
    ("dotted pattern key from the root", {"detail.nested.deep": ["value"]}, True),
    ("dotted pattern key, other value", {"detail.nested.deep": ["other"]}, False),
    ("object is not a leaf", {"detail": {"nested": ["value"]}}, False),
    ("IP literal by address", {"detail": {"ip6": ["2001:0db8:0:0::1"]}}, True),
    # prefix / suffix / equals-ignore-case / wildcard
    ("prefix", {"resources": [{"prefix": "arn:aws:ec2"}]}, True),
    ("prefix empty", {"detail": {"empty": [{"prefix": ""}]}}, True),
    ("prefix not on numbers", {"detail": {"count": [{"prefix": "3"}]}}, False),
    (
        "prefix ignore case",
        {"detail": {"eventType": [{"prefix": {"equals-ignore-case": "loyal"}}]}},
        True,
    ),
    ("prefix is case sensitive", {"detail": {"eventType": [{"prefix": "loyal"}]}}, False),
    ("suffix", {"detail": {"file": [{"suffix": ".PNG"}]}}, True),
    ("suffix case", {"detail": {"file": [{"suffix": ".png"}]}}, False),
    (
        "suffix ignore case",
        {"detail": {"file": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        True,
    ),
    (
        "equals-ignore-case",
        {"detail": {"eventType": [{"equals-ignore-case": "loyaltypurchase"}]}},
        True,
    ),
    (
        "equals-ignore-case miss",
        {"detail": {"eventType": [{"equals-ignore-case": "loyalty"}]}},
        False,
    ),
    ("wildcard", {"detail": {"file": [{"wildcard": "photos/*.PNG"}]}}, True),
    ("wildcard middle", {"detail": {"file": [{"wildcard": "p*/D*/*"}]}}, True),
    ("wildcard miss", {"detail": {"file": [{"wildcard": "*.png"}]}}, False),
    ("wildcard escaped star", {"detail": {"star": [{"wildcard": "a\\*b"}]}}, True),
    ("wildcard escaped star miss", {"detail": {"file": [{"wildcard": "photos\\*"}]}}, False),
    ("wildcard no star is exact", {"detail": {"star": [{"wildcard": "a"}]}}, False),
    ("wildcard star alone", {"detail": {"empty": [{"wildcard": "*"}]}}, True),
    ("wildcard not on numbers", {"detail": {"count": [{"wildcard": "*"}]}}, False),
    # anything-but
    ("anything-but string", {"detail-type": [{"anything-but": "staging"}]}, True),
    ("anything-but string miss", {"detail-type": [{"anything-but": "prod"}]}, False),
    ("anything-but list", {"detail-type": [{"anything-but": ["staging", "prod"]}]}, False),
    ("anything-but number", {"detail": {"price": [{"anything-but": 300}]}}, False),
    ("anything-but number list", {"detail": {"price": [{"anything-but": [1, 2]}]}}, True),
    ("anything-but string on number", {"detail": {"count": [{"anything-but": "3"}]}}, True),
    ("anything-but on null", {"detail": {"nothing": [{"anything-but": "x"}]}}, True),
    ("anything-but on absent", {"detail": {"absent": [{"anything-but": "x"}]}}, False),
    ("anything-but any array element", {"detail": {"tags": [{"anything-but": "x"}]}}, True),
    (
        "anything-but all array elements",
        {"detail": {"tags": [{"anything-but": ["x", "y"]}]}},
        False,
    ),
    ("anything-but prefix", {"detail-type": [{"anything-but": {"prefix": "pr"}}]}, False),
    ("anything-but prefix other", {"detail-type": [{"anything-but": {"prefix": "st"}}]}, True),
    (
        "anything-but prefix number",
        {"detail": {"count": [{"anything-but": {"prefix": "3"}}]}},
        True,
    ),
    (
        "anything-but prefix list",
        {"detail-type": [{"anything-but": {"prefix": ["a", "p"]}}]},
        False,
    ),
    ("anything-but suffix", {"detail": {"file": [{"anything-but": {"suffix": ".PNG"}}]}}, False),
    (
        "anything-but ignore case",
        {"detail": {"eventType": [{"anything-but": {"equals-ignore-case": "LOYALTYpurchase"}}]}},
        False,
    ),
    (
        "anything-but ignore case list",
        {"detail": {"eventType": [{"anything-but": {"equals-ignore-case": ["a", "b"]}}]}},
        True,
    ),
    (
        "anything-but wildcard",
        {"detail": {"file": [{"anything-but": {"wildcard": "*/Dir/*"}}]}},
        False,
    ),
    (
        "anything-but wildcard other",
        {"detail": {"file": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
        True,
    ),
    # numeric
    ("numeric =", {"detail": {"price": [{"numeric": ["=", 300]}]}}, True),
    ("numeric >", {"detail": {"price": [{"numeric": [">", 299.999999]}]}}, True),
    ("numeric > boundary", {"detail": {"price": [{"numeric": [">", 300]}]}}, False),
    ("numeric >= boundary", {"detail": {"price": [{"numeric": [">=", 300]}]}}, True),
    ("numeric <", {"detail": {"count": [{"numeric": ["<", 3]}]}}, False),
    ("numeric <=", {"detail": {"count": [{"numeric": ["<=", 3]}]}}, True),
    ("numeric range", {"detail": {"count": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ("numeric range open top", {"detail": {"count": [{"numeric": [">", 0, "<", 3]}]}}, False),
    ("numeric not on strings", {"detail-type": [{"numeric": [">", 0]}]}, False),
    ("numeric not on booleans", {"detail": {"flag": [{"numeric": [">", 0]}]}}, False),
    ("numeric out of range value", {"detail": {"big": [{"numeric": [">", 0]}]}}, False),
    ("numeric too precise value", {"detail": {"fine": [{"numeric": [">", 0]}]}}, False),
    ("numeric negative", {"detail": {"count": [{"numeric": [">=", -5e9, "<", -1]}]}}, False),
    # exists
    ("exists true", {"detail": {"count": [{"exists": True}]}}, True),
    ("exists true null", {"detail": {"nothing": [{"exists": True}]}}, True),
    ("exists true absent", {"detail": {"absent": [{"exists": True}]}}, False),
    ("exists true on object", {"detail": {"nested": [{"exists": True}]}}, False),
    ("exists true empty array", {"detail": {"emptyList": [{"exists": True}]}}, False),
    ("exists false absent", {"detail": {"absent": [{"exists": False}]}}, True),
    ("exists false present", {"detail": {"count": [{"exists": False}]}}, False),
    ("exists false null", {"detail": {"nothing": [{"exists": False}]}}, False),
    ("exists false on object", {"detail": {"nested": [{"exists": False}]}}, True),
    ("exists false empty array", {"detail": {"emptyList": [{"exists": False}]}}, True),
    ("exists false or value", {"detail": {"count": [4, {"exists": False}]}}, False),
    ("value or exists false", {"detail": {"absent": ["x", {"exists": False}]}}, True),
    # cidr
    ("cidr v4", {"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}, True),
    ("cidr v4 miss", {"detail": {"ip": [{"cidr": "10.0.1.0/24"}]}}, False),
    ("cidr starts at the given address", {"detail": {"ip": [{"cidr": "10.0.0.34/24"}]}}, False),
    ("cidr v6", {"detail": {"ip6": [{"cidr": "2001:db8::/32"}]}}, True),
    ("cidr family", {"detail": {"ip6": [{"cidr": "0.0.0.0/0"}]}}, False),
    ("cidr not on non-IP", {"detail-type": [{"cidr": "0.0.0.0/0"}]}, False),
    # $or
    ("or first", {"$or": [{"source": ["clientevents"]}, {"detail-type": ["x"]}]}, True),
    ("or second", {"$or": [{"source": ["x"]}, {"detail-type": ["prod"]}]}, True),
    ("or none", {"$or": [{"source": ["x"]}, {"detail-type": ["y"]}]}, False),
    (
        "or nested and",
        {
            "source": ["clientevents"],
            "detail": {
                "$or": [
                    {"count": [{"numeric": [">", 5]}]},
                    {"eventType": [{"prefix": "Loyal"}], "count": [3]},
                ]
            },
        },
        True,
    ),
    (
        "or and outer fails",
        {"source": ["x"], "$or": [{"detail-type": ["prod"]}, {"region": ["x"]}]},
        False,
    ),
    (
        "or field overrides an earlier one",
        {"source": ["x"], "$or": [{"source": ["clientevents"]}, {"detail-type": ["x"]}]},
        True,
    ),
    (
        "or field overridden later",
        {"detail-type": ["prod"], "$or": [{"detail-type": ["x"]}, {"source": ["x"]}]},
        False,
    ),
]


@pytest.mark.parametrize(("name", "pattern", "expected"), CASES, ids=[c[0] for c in CASES])
def test_operator_semantics(name: str, pattern: dict[str, Any], expected: bool) -> None:
    assert reference_matches(pattern, EVENT) is expected
    assert EventPattern(pattern).matches(EVENT) is expected
    matcher = Matcher()
    matcher.add(name, pattern)
    matcher.add("never", {"source": ["never"]})
    assert matcher.matches_for_event(EVENT) == ({name} if expected else set())


ARRAY_EVENT: dict[str, Any] = {
    "employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones", "tags": ["a", "b"]},
    ],
    "teams": [[{"name": "x", "size": 3}], [{"name": "y", "size": 5}]],
}

ARRAY_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"employees": {"firstName": ["Anna"]}}, True),
    ({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, True),
    ({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, False),
    ({"employees": {"firstName": ["Peter"], "tags": ["b"]}}, True),
    ({"employees": {"firstName": ["Anna"], "tags": ["b"]}}, False),
    ({"employees": {"firstName": ["Anna"], "tags": [{"exists": False}]}}, False),
    ({"teams": {"name": ["y"], "size": [{"numeric": [">", 4]}]}}, True),
    ({"teams": {"name": ["x"], "size": [{"numeric": [">", 4]}]}}, False),
    (
        {
            "employees": {
                "$or": [
                    {"firstName": ["Anna"], "lastName": ["Doe"]},
                    {"firstName": ["John"], "lastName": ["Doe"]},
                ]
            }
        },
        True,
    ),
    ({"employees": {"firstName": ["Anna"]}, "teams": {"name": ["x"]}}, True),
]


@pytest.mark.parametrize(("pattern", "expected"), ARRAY_CASES)
def test_array_consistency(pattern: dict[str, Any], expected: bool) -> None:
    assert reference_matches(pattern, ARRAY_EVENT) is expected
    assert EventPattern(pattern).matches(ARRAY_EVENT) is expected
    matcher = Matcher()
    matcher.add("r", pattern)
    assert matcher.matches_for_event(ARRAY_EVENT) == ({"r"} if expected else set())


def test_events_must_be_objects() -> None:
    with pytest.raises(TypeError, match="JSON object"):
        EventPattern({"a": ["x"]}).matches(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON object"):
        Matcher().matches_for_event("{}")  # type: ignore[arg-type]
