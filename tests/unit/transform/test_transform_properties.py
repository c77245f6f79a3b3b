"""Properties over generated values: a JSON template never yields invalid JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from clientevents.transform import InputTransformer, TransformError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
# Literal text around a placeholder inside a template string, written as JSON string content.
string_parts = st.text().map(lambda text: orjson.dumps(text).decode()[1:-1])

SHAPE = InputTransformer(
    {"v": "$.detail.v", "missing": "$.detail.nope"},
    '{"as_value": <v>, "in_string": "<v>", "missing": <missing>, "list": [<v>, "<missing>"]}',
)


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_a_json_template_renders_valid_json_or_raises(value: Any) -> None:
    event = {"id": "e", "detail": {"v": value}}
    holds_quotes = isinstance(value, dict | list) and any(c in _text_of(value) for c in '"\\')
    try:
        out = SHAPE.render(event, rule_name="prop")
    except TransformError as exc:
        assert holds_quotes, exc
        assert "put the placeholder outside quotes" in str(exc)
        return
    assert not holds_quotes
    assert json.loads(out) == {
        "as_value": value,
        "in_string": _text_of(value),
        "missing": "",
        "list": [value, ""],
    }


@settings(max_examples=200, deadline=None)
@given(value=st.text(), before=string_parts, after=string_parts)
def test_a_string_inside_a_json_string_keeps_exactly_its_text(
    value: str, before: str, after: str
) -> None:
    shape = InputTransformer({"v": "$.v"}, f'["{before}<v>{after}"]')
    expected = json.loads(f'["{before}"]')[0] + value + json.loads(f'["{after}"]')[0]
    assert json.loads(shape.render({"v": value})) == [expected]


@settings(max_examples=200, deadline=None)
@given(value=values, text=st.text().filter(lambda t: not set(t) & set('<"\\\\')))
def test_a_text_template_never_fails_for_json_values(value: Any, text: str) -> None:
    prefix = "text: " + text  # never starts with { or [, so it stays a text template
    shape = InputTransformer({"v": "$.v"}, f'{prefix}<v>|"<v>"')
    out = shape.render({"v": value})
    assert out.startswith(prefix + _text_of(value) + '|"')
