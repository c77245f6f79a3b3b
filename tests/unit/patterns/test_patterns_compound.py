"""Compound steps: a branch's single-value equalities are matched with one table lookup.

The fast path takes one key per path from events whose paths hold one leaf each; these tests
pin the other paths: several leaves (arrays), leaves inside arrays that matter for array
consistency, tables smaller than the combinations of leaves (scanned) and larger (probed).
"""

from __future__ import annotations

from typing import Any

import pytest

from clientevents.patterns import EventPattern, Matcher
from clientevents.patterns.compound import Compound
from clientevents.patterns.reference import reference_matches


def test_single_value_equalities_become_one_leading_compound_step() -> None:
    pattern = EventPattern(
        {
            "source": ["clientevents"],
            "detail": {"eventType": ["purchase"], "amount": [{"numeric": [">", 5]}]},
            "resources": ["r1", "r2"],
        }
    )
    # ["r1", "r2"] is split into two sequences, each with its own compound step.
    assert len(pattern.steps) == 2
    for steps in pattern.steps:
        first, *rest = steps
        assert isinstance(first, Compound)
        assert first.paths == (("detail", "eventType"), ("resources",), ("source",))
        assert [f.path for f in rest] == [("detail", "amount")]  # type: ignore[union-attr]
    assert pattern.matches(
        {
            "source": "clientevents",
            "resources": ["r2"],
            "detail": {"eventType": "purchase", "amount": 6},
        }
    )


def test_one_equality_stays_an_ordinary_step() -> None:
    (steps,) = EventPattern({"source": ["a"], "n": [{"numeric": ["<", 1]}]}).steps
    assert not any(isinstance(s, Compound) for s in steps)


EMPLOYEES = {
    "employees": [
        {"first": "Anna", "last": "Smith", "team": "ops"},
        {"first": "Peter", "last": "Jones", "team": "ops"},
    ],
    "org": "acme",
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    (
        "equalities from the same array element",
        {"employees": {"first": ["Anna"], "last": ["Smith"]}, "org": ["acme"]},
        EMPLOYEES,
        True,
    ),
    (
        "equalities from different elements of one array",
        {"employees": {"first": ["Anna"], "last": ["Jones"]}, "org": ["acme"]},
        EMPLOYEES,
        False,
    ),
    (
        "a value found in a list of strings",
        {"resources": ["r3"], "source": ["s"]},
        {"resources": ["r1", "r2", "r3"], "source": "s"},
        True,
    ),
    (
        "several leaves on every path (the table is scanned)",
        {"a": ["3"], "b": ["4"]},
        {"a": ["1", "2", "3", "4", "5"], "b": ["1", "2", "3", "4", "5"]},
        True,
    ),
    (
        "several leaves, no combination in the table",
        {"a": ["3"], "b": ["9"]},
        {"a": ["1", "2", "3", "4", "5"], "b": ["1", "2", "3", "4", "5"]},
        False,
    ),
    (
        "a path without leaves",
        {"a": ["1"], "b": ["2"]},
        {"a": ["1", "2"]},
        False,
    ),
    (
        "numbers compare by value inside the key",
        {"a": [300], "b": [True]},
        {"a": 300.0, "b": True},
        True,
    ),
    (
        "true is not 1 inside the key",
        {"a": [1], "b": [True]},
        {"a": 1, "b": 1},
        False,
    ),
]


@pytest.mark.parametrize(("why", "pattern", "event", "expected"), CASES, ids=[c[0] for c in CASES])
def test_compound_steps_agree_with_the_reference(
    why: str, pattern: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    assert reference_matches(pattern, event) is expected
    assert EventPattern(pattern).matches(event) is expected
    matcher = Matcher()
    matcher.add("rule", pattern)
    for i in range(40):  # a larger table, so that combinations are probed instead of scanned
        matcher.add(f"other-{i}", {key: [f"v{i}"] for key in pattern})
    assert (matcher.matches_for_event(event) == {"rule"}) is expected


def test_array_element_consistency_continues_after_the_compound_step() -> None:
    rule = {
        "org": ["acme"],
        "employees": {"first": ["Anna"], "team": ["ops"], "last": [{"prefix": "J"}]},
    }
    assert not EventPattern(rule).matches(EMPLOYEES)
    rule["employees"]["last"] = [{"prefix": "S"}]
    assert EventPattern(rule).matches(EMPLOYEES)


def test_removing_a_rule_keeps_the_others_of_the_same_table() -> None:
    matcher = Matcher()
    event = {"source": "s", "detail": {"type": "t", "n": 1}}
    matcher.add("a", {"source": ["s"], "detail": {"type": ["t"]}})
    matcher.add("b", {"source": ["s"], "detail": {"type": ["t"], "n": [{"numeric": [">", 0]}]}})
    matcher.add("c", {"source": ["s"], "detail": {"type": ["u"]}})
    assert matcher.matches_for_event(event) == {"a", "b"}
    matcher.remove("a")
    assert matcher.matches_for_event(event) == {"b"}
    matcher.remove("b")
    matcher.remove("c")
    assert matcher.matches_for_event(event) == set()
    matcher.add("a", {"source": ["s"], "detail": {"type": ["t"]}})
    assert matcher.matches_for_event(event) == {"a"}
