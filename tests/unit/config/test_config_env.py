"""``${env:NAME}`` interpolation on its own, including properties over arbitrary text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clientevents.config.env import interpolate

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
plain = st.text().filter(lambda text: "$" not in text)


@given(plain)
def test_text_without_dollar_signs_is_unchanged(text: str) -> None:
    assert interpolate({"k": [text]}, {}) == ({"k": [text]}, [])


@given(names, st.text(), plain, plain)
def test_a_reference_is_replaced_by_the_value(
    name: str, value: str, before: str, after: str
) -> None:
    data, problems = interpolate(f"{before}${{env:{name}}}{after}", {name: value})
    assert (data, problems) == (before + value + after, [])


@given(names, plain.filter(lambda text: "}" not in text))
def test_the_default_applies_when_unset_or_empty(name: str, default: str) -> None:
    reference = f"${{env:{name}:-{default}}}"
    assert interpolate(reference, {}) == (default, [])
    assert interpolate(reference, {name: ""}) == (default, [])
    assert interpolate(reference, {name: "set"}) == ("set", [])


@given(plain, plain)
def test_double_dollar_escapes(before: str, after: str) -> None:
    assert interpolate(f"{before}$${{env:X}}{after}", {"X": "no"}) == (
        f"{before}${{env:X}}{after}",
        [],
    )


def test_values_are_not_interpolated_twice() -> None:
    assert interpolate("${env:A}", {"A": "${env:B}", "B": "x"}) == ("${env:B}", [])


def test_problems_carry_their_location() -> None:
    data, problems = interpolate({"a": [1, {"b": "${env:MISSING}"}]}, {})
    assert data == {"a": [1, {"b": "${env:MISSING}"}]}
    assert [loc for loc, _ in problems] == [("a", 1, "b")]
    assert "'MISSING' is not set" in problems[0][1]


def test_non_strings_pass_through() -> None:
    data = {"n": 1, "f": 1.5, "b": True, "z": None}
    assert interpolate(data, {}) == (data, [])
