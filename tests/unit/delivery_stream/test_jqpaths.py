"""The fast path for object-of-paths queries agrees with the jq binding."""

from __future__ import annotations

from typing import Any

import jq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientevents.delivery_stream.jqpaths import JqPathError, compile_simple

SIMPLE = [
    "{eventType: .detail.eventType, schemaVersion: .detail.schemaVersion}",
    '{"a b": .x, c: ."y z", d: .["w"].v}',
    "{a}",
    " { a : .a , b : .b.c } ",
    ".detail",
    ".",
    '.a["b"]',
    "{}",
]
NOT_SIMPLE = [
    '{day: .ts | strftime("%Y")}', ".a?", ".[0]", "{(.k): .v}", "{a: .a, }", ".a | .b",
    "{if: .x}", "{a: .b + 1}", "..", "{a: $x}",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "x", "detail", "eventType", "y z", "w", "v",
                                       "c", "schemaVersion"]), inner, max_size=4),
    max_leaves=12,
)


def jq_result(query: str, value: Any) -> tuple[str, Any]:
    try:
        return "ok", jq.compile(query).input_value(value).first()
    except ValueError:
        return "error", None


def fast_result(query: str, value: Any) -> tuple[str, Any]:
    run = compile_simple(query)
    assert run is not None
    try:
        return "ok", run(value)
    except JqPathError:
        return "error", None


@pytest.mark.parametrize("query", SIMPLE)
def test_simple_queries_are_recognised(query: str) -> None:
    assert compile_simple(query) is not None


@pytest.mark.parametrize("query", NOT_SIMPLE)
def test_other_queries_are_left_to_jq(query: str) -> None:
    assert compile_simple(query) is None


@pytest.mark.parametrize("query", SIMPLE)
@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_the_fast_path_agrees_with_jq(query: str, value: Any) -> None:
    assert fast_result(query, value) == jq_result(query, value)
