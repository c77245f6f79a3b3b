"""Differential test: Matcher (many rules at once) == reference_matches == EventPattern.matches.

Patterns and events are drawn from deliberately small alphabets (a few keys, a few values
that sit on the boundaries of every operator) so that generated events match often, arrays of
objects exercise array consistency, and ``$or`` appears at several levels.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clientevents.patterns import EventPattern, InvalidEventPattern, Matcher
from clientevents.patterns.reference import reference_matches

KEYS = ["a", "b", "c", "a.b", "b.c"]
STRINGS = [
    "",
    "x",
    "X",
    "xy",
    "Xy",
    "abc",
    "ABC",
    "a*c",
    "10.0.0.1",
    "10.0.0.255",
    "::1",
    "2001:db8::7",
    "foo.png",
    "FOO.PNG",
    "1",
]
NUMBERS: list[Any] = [
    0,
    1,
    1.0,
    -1,
    2.5,
    5,
    300,
    300.0,
    5_000_000_000,
    6e9,
    1.1234567,
    123456789012,
    -0.5,
]
LEAVES: list[Any] = [*STRINGS, *NUMBERS, True, False, None]

strings = st.sampled_from(STRINGS)
numbers = st.sampled_from([n for n in NUMBERS if n not in (6e9, 1.1234567, 123456789012)])
wild = st.lists(st.sampled_from(["a", "x", "X", "", ".png", "b"]), min_size=1, max_size=3).map(
    lambda parts: "*".join(parts)
)
numeric = st.one_of(
    st.tuples(st.sampled_from(["=", "<", "<=", ">", ">="]), numbers).map(list),
    st.tuples(
        st.sampled_from([">", ">="]),
        st.sampled_from([-1, 0, 1]),
        st.sampled_from(["<", "<="]),
        st.sampled_from([2.5, 5, 300]),
    ).map(list),
)
anything_but = st.one_of(
    strings,
    numbers,
    st.lists(strings, min_size=1, max_size=3),
    st.lists(numbers, min_size=1, max_size=3),
    st.fixed_dictionaries({"prefix": st.sampled_from(["x", "a", "10."])}),
    st.fixed_dictionaries({"suffix": st.sampled_from(["y", ".png", "c"])}),
    st.fixed_dictionaries(
        {"equals-ignore-case": st.one_of(strings, st.lists(strings, min_size=1, max_size=2))}
    ),
    st.fixed_dictionaries({"wildcard": wild}),
)
operator = st.one_of(
    st.fixed_dictionaries(
        {"prefix": st.one_of(strings, st.fixed_dictionaries({"equals-ignore-case": strings}))}
    ),
    st.fixed_dictionaries(
        {"suffix": st.one_of(strings, st.fixed_dictionaries({"equals-ignore-case": strings}))}
    ),
    st.fixed_dictionaries({"equals-ignore-case": strings}),
    st.fixed_dictionaries({"wildcard": wild}),
    st.fixed_dictionaries({"anything-but": anything_but}),
    st.fixed_dictionaries({"numeric": numeric}),
    st.fixed_dictionaries({"exists": st.booleans()}),
    st.fixed_dictionaries(
        {"cidr": st.sampled_from(["10.0.0.0/24", "10.0.0.1/31", "::/1", "2001:db8::/32"])}
    ),
)
match_values = st.lists(st.one_of(st.sampled_from(LEAVES), operator), min_size=1, max_size=3)


def patterns(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    inner = (
        match_values
        if depth >= 2
        else st.one_of(match_values, st.deferred(lambda: patterns(depth + 1)))
    )
    fields = st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=3 - depth)
    if depth >= 2:
        return fields
    with_or = st.tuples(
        fields, st.lists(st.deferred(lambda: patterns(depth + 1)), min_size=2, max_size=3)
    ).map(lambda t: {**t[0], "$or": t[1]})
    return st.one_of(fields, fields, with_or)


def events(depth: int = 0) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(LEAVES)
    if depth >= 3:
        return leaf
    obj = st.dictionaries(st.sampled_from(KEYS), st.deferred(lambda: events(depth + 1)), max_size=4)
    return st.one_of(leaf, leaf, obj, st.lists(st.one_of(leaf, obj), max_size=3))


event_objects = st.dictionaries(st.sampled_from(KEYS), events(1), min_size=1, max_size=4)


def _satisfying(wanted: Any, data: st.DataObject) -> Any:
    """A leaf that likely satisfies one match value (so generated events often match)."""
    if not isinstance(wanted, dict):
        return wanted
    ((op, arg),) = wanted.items()
    if op in ("prefix", "suffix"):
        text = arg["equals-ignore-case"].upper() if isinstance(arg, dict) else arg
        return text + "z" if op == "prefix" else "z" + text
    if op == "equals-ignore-case":
        return data.draw(st.sampled_from([arg, arg.upper(), arg.lower()]))
    if op == "wildcard":
        return arg.replace("*", data.draw(st.sampled_from(["", "q", "x*y"])))
    if op == "numeric":
        bound = arg[1] if len(arg) == 2 else arg[3]
        return data.draw(st.sampled_from([bound, bound + 0.5, bound - 1, bound * 1.0]))
    if op == "cidr":
        return data.draw(st.sampled_from(["10.0.0.1", "10.0.0.0", "2001:db8::1", "::1"]))
    return data.draw(st.sampled_from(LEAVES))


def _place(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        nxt = node.get(key)
        if not isinstance(nxt, dict):
            nxt = node[key] = {}
        node = nxt
    node[path[-1]] = value


def _shake(value: Any, data: st.DataObject) -> Any:
    """Wrap objects and leaves in arrays, sometimes splitting an object across elements."""
    if isinstance(value, dict):
        value = {k: _shake(v, data) for k, v in value.items()}
        choice = data.draw(st.integers(0, 7))
        if choice == 0:
            return [value]
        if choice == 1 and len(value) >= 2:
            keys = sorted(value)
            return [{k: value[k] for k in keys[:1]}, {k: value[k] for k in keys[1:]}]
        if choice == 2:
            return [{"c": data.draw(st.sampled_from(LEAVES))}, value]
        return value
    if data.draw(st.integers(0, 4)) == 0:
        return [value, data.draw(st.sampled_from(LEAVES))]
    return value


def event_for(pattern: EventPattern, data: st.DataObject) -> dict[str, Any]:
    branch = data.draw(st.sampled_from(pattern.branches))
    tree: dict[str, Any] = {}
    for field in branch:
        if data.draw(st.integers(0, 19)) == 0:
            continue
        wanted = data.draw(st.sampled_from(field.source))
        if isinstance(wanted, dict) and wanted.get("exists") is False:
            continue
        value = (
            _satisfying(wanted, data)
            if data.draw(st.integers(0, 12))
            else data.draw(st.sampled_from(LEAVES))
        )
        _place(tree, field.path, value)
    event = {k: _shake(v, data) for k, v in tree.items()}
    return event or {"b": 1}


def _valid(pattern: dict[str, Any]) -> EventPattern | None:
    try:
        return EventPattern(pattern)
    except InvalidEventPattern:
        return None


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.lists(patterns(), min_size=1, max_size=6), st.lists(event_objects, max_size=2), st.data())
def test_matcher_reference_and_event_pattern_agree(
    raw_patterns: list[dict[str, Any]], evts: list[dict[str, Any]], data: st.DataObject
) -> None:
    compiled = {f"r{i}": p for i, raw in enumerate(raw_patterns) if (p := _valid(raw))}
    assume(compiled)
    evts = [*evts, *(event_for(p, data) for p in list(compiled.values())[:3])]
    matcher = Matcher()
    for name, p in compiled.items():
        matcher.add(name, p)
    for event in evts:
        expected = {name for name, p in compiled.items() if reference_matches(p.source, event)}
        assert matcher.matches_for_event(event) == expected, (event, compiled)
        for name, p in compiled.items():
            assert p.matches(event) == (name in expected), (name, p, event)
            assert (p.explain(event) == []) == (name in expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(patterns(), min_size=2, max_size=5), event_objects, st.data())
def test_removing_rules_leaves_the_others_intact(
    raw_patterns: list[dict[str, Any]], event: dict[str, Any], data: st.DataObject
) -> None:
    compiled = {f"r{i}": p for i, raw in enumerate(raw_patterns) if (p := _valid(raw))}
    assume(len(compiled) >= 2)
    matcher = Matcher()
    for name, p in compiled.items():
        matcher.add(name, p)
    gone = data.draw(st.sets(st.sampled_from(sorted(compiled)), min_size=1))
    for name in gone:
        assert matcher.remove(name)
    expected = {
        n for n, p in compiled.items() if n not in gone and reference_matches(p.source, event)
    }
    assert matcher.matches_for_event(event) == expected


small_values = st.lists(
    st.sampled_from(
        ["x", "y", 1, {"prefix": "x"}, {"exists": True}, {"anything-but": "x"}, {"exists": False}]
    ),
    min_size=1,
    max_size=2,
)
nested_patterns = st.dictionaries(
    st.sampled_from(["a", "b"]),
    st.dictionaries(
        st.sampled_from(["c", "d", "e"]),
        st.one_of(
            small_values, st.dictionaries(st.sampled_from(["f", "g"]), small_values, min_size=1)
        ),
        min_size=2,
        max_size=3,
    ),
    min_size=1,
    max_size=2,
)
small_leaf = st.sampled_from(["x", "y", "xz", 1, None])
element = st.dictionaries(
    st.sampled_from(["c", "d", "e"]),
    st.one_of(
        small_leaf,
        st.lists(small_leaf, max_size=2),
        st.dictionaries(
            st.sampled_from(["f", "g"]), st.one_of(small_leaf, st.lists(small_leaf, max_size=2))
        ),
        st.lists(st.dictionaries(st.sampled_from(["f", "g"]), small_leaf), max_size=2),
    ),
    max_size=3,
)
array_events = st.dictionaries(
    st.sampled_from(["a", "b"]),
    st.one_of(
        element,
        st.lists(element, min_size=1, max_size=3),
        st.lists(st.lists(element, max_size=2), max_size=2),
    ),
    min_size=1,
    max_size=2,
)


def scattered_event(pattern: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Satisfy each field, spreading the fields of an object over 1-3 array elements."""
    event: dict[str, Any] = {}
    for top, sub in pattern.items():
        elements: list[dict[str, Any]] = [{} for _ in range(data.draw(st.integers(1, 3)))]
        for key, wanted in sub.items():
            if isinstance(wanted, dict):
                inner = data.draw(st.sampled_from(elements)).setdefault(key, {})
                for k2, w2 in wanted.items():
                    inner[k2] = _satisfying(data.draw(st.sampled_from(w2)), data)
            else:
                data.draw(st.sampled_from(elements))[key] = _satisfying(
                    data.draw(st.sampled_from(wanted)), data
                )
        event[top] = elements if len(elements) > 1 or data.draw(st.booleans()) else elements[0]
    return event


@settings(max_examples=300, deadline=None)
@given(
    st.lists(nested_patterns, min_size=1, max_size=4), st.lists(array_events, max_size=2), st.data()
)
def test_array_consistency_agrees(
    raw_patterns: list[dict[str, Any]], evts: list[dict[str, Any]], data: st.DataObject
) -> None:
    evts = [*evts, *(scattered_event(p, data) for p in raw_patterns[:2])]
    compiled = {f"r{i}": EventPattern(raw) for i, raw in enumerate(raw_patterns)}
    matcher = Matcher()
    for name, p in compiled.items():
        matcher.add(name, p)
    for event in evts:
        expected = {name for name, p in compiled.items() if reference_matches(p.source, event)}
        assert matcher.matches_for_event(event) == expected, (event, compiled)
        for name, p in compiled.items():
            assert p.matches(event) == (name in expected)
