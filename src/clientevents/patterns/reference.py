"""A slow, obviously correct matcher, for differential tests only.

It shares nothing with the compiled matcher but the parser's verdict (a pattern is first
validated through :class:`EventPattern`, so invalid patterns raise the same errors) and the
IP-literal reader. It then works from the raw pattern JSON:

1. expand ``$or`` into plain field lists (a field given twice keeps the last value);
2. list *every* leaf of the event with the position of each array it sits in;

(in both, a key stands for the names between its dots, since EventBridge joins nested names
with dots: ``{"a.b": 1}`` and ``{"a": {"b": 1}}`` are the same field);
3. for each branch, look for one leaf per field (or the field's absence, for
   ``exists: false``) such that any two chosen leaves agree on every array they share, by
   plain backtracking.

Numbers are compared as ``Decimal`` values of their shortest text, strings with ``==`` and
``str.startswith``/``endswith``, wildcards with a regular expression built per call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from itertools import count
from typing import Any

from clientevents.patterns.ipaddr import parse_cidr, parse_ip
from clientevents.patterns.pattern import EventPattern

_Path = tuple[str, ...]
_Leaf = tuple[_Path, Any, dict[int, int]]


def reference_matches(pattern: Mapping[str, Any] | str, event: dict[str, Any]) -> bool:
    """True when ``event`` matches ``pattern`` (validated like :class:`EventPattern`)."""
    EventPattern(pattern)
    raw = json.loads(pattern) if isinstance(pattern, str) else pattern
    leaves = list(_all_leaves(event, (), {}, count()))
    return any(_branch_matches(branch, leaves) for branch in _expand(raw, (), [{}]))


def _expand(
    obj: Mapping[str, Any], prefix: _Path, rules: list[dict[_Path, list[Any]]]
) -> list[dict[_Path, list[Any]]]:
    for key, value in obj.items():
        if key == "$or":
            forked: list[dict[_Path, list[Any]]] = []
            for alternative in value:
                forked += _expand(alternative, prefix, [dict(r) for r in rules])
            rules = forked
        elif isinstance(value, Mapping):
            rules = _expand(value, (*prefix, *key.split(".")), rules)
        else:
            rules = [{**r, (*prefix, *key.split(".")): value} for r in rules]
    return rules


def _all_leaves(
    value: Any, path: _Path, arrays: dict[int, int], ids: count[int]
) -> Iterator[_Leaf]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _all_leaves(child, (*path, *key.split(".")), arrays, ids)
    elif isinstance(value, list):
        array = next(ids)
        for index, element in enumerate(value):
            yield from _all_leaves(element, path, {**arrays, array: index}, ids)
    else:
        yield (path, value, arrays)


def _consistent(a: dict[int, int], b: dict[int, int]) -> bool:
    return all(b.get(array, index) == index for array, index in a.items())


def _branch_matches(branch: dict[_Path, list[Any]], leaves: list[_Leaf]) -> bool:
    options: list[list[dict[int, int]]] = []
    for path, wanted in branch.items():
        here = [leaf for leaf in leaves if leaf[0] == path]
        choices = [arrays for _, value, arrays in here if any(_holds(w, value) for w in wanted)]
        if not here and any(isinstance(w, dict) and w.get("exists") is False for w in wanted):
            choices.append({})
        if not choices:
            return False
        options.append(choices)
    return _choose(options, 0, [])


def _choose(options: list[list[dict[int, int]]], i: int, chosen: list[dict[int, int]]) -> bool:
    if i == len(options):
        return True
    for candidate in options[i]:
        if all(_consistent(candidate, c) for c in chosen) and _choose(
            options, i + 1, [*chosen, candidate]
        ):
            return True
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _decimal(v: Any) -> Decimal | None:
    """The value of a number EventBridge compares numerically, else None."""
    if not _is_number(v):
        return None
    d = Decimal(v) if isinstance(v, int) else Decimal(repr(v))
    if not d.is_finite() or abs(d) > 5_000_000_000:
        return None
    exponent = d.normalize().as_tuple().exponent
    return d if isinstance(exponent, int) and exponent >= -6 else None


def _same_number(a: Any, b: Any) -> bool:
    da, db = _decimal(a), _decimal(b)
    if da is not None and db is not None:
        return da == db
    return _is_number(a) and _is_number(b) and json.dumps(a) == json.dumps(b)


def _holds(wanted: Any, v: Any) -> bool:
    if isinstance(wanted, str):
        address = parse_ip(wanted)
        if address is not None:
            return isinstance(v, str) and parse_ip(v) == address
        return isinstance(v, str) and v == wanted
    if wanted is None or isinstance(wanted, bool):
        return v is wanted
    if _is_number(wanted):
        return _same_number(wanted, v)
    ((op, arg),) = wanted.items()
    s = v if isinstance(v, str) else None
    if op == "exists":
        return bool(arg)
    if op == "prefix":
        if isinstance(arg, dict):
            return s is not None and s.lower().startswith(arg["equals-ignore-case"].lower())
        return s is not None and s.startswith(arg)
    if op == "suffix":
        if isinstance(arg, dict):
            return s is not None and s.lower().endswith(arg["equals-ignore-case"].lower())
        return s is not None and s.endswith(arg)
    if op == "equals-ignore-case":
        return s is not None and s.lower() == arg.lower()
    if op == "wildcard":
        return s is not None and _wildcard_regex(arg).fullmatch(s) is not None
    if op == "numeric":
        return _numeric(arg, v)
    if op == "cidr":
        family, low, high = parse_cidr(arg)
        address = parse_ip(s) if s is not None else None
        return address is not None and address[0] == family and low <= address[1] <= high
    if op == "anything-but":
        return not _excluded(arg, v)
    raise AssertionError(f"validated pattern has unknown operator {op}")


def _excluded(arg: Any, v: Any) -> bool:
    if isinstance(arg, dict):
        ((op, inner),) = arg.items()
        if not isinstance(v, str):
            return False
        items = inner if isinstance(inner, list) else [inner]
        if op == "prefix":
            return any(v.startswith(p) for p in items)
        if op == "suffix":
            return any(v.endswith(p) for p in items)
        if op == "equals-ignore-case":
            return any(v.lower() == p.lower() for p in items)
        return any(_wildcard_regex(p).fullmatch(v) for p in items)
    items = arg if isinstance(arg, list) else [arg]
    for item in items:
        if isinstance(item, str) and isinstance(v, str) and v == item:
            return True
        if _is_number(item) and _decimal(v) is not None and _decimal(v) == _decimal(item):
            return True
    return False


def _numeric(arg: list[Any], v: Any) -> bool:
    d = _decimal(v)
    if d is None:
        return False
    checks = {
        "=": lambda x: d == x,
        "<": lambda x: d < x,
        "<=": lambda x: d <= x,
        ">": lambda x: d > x,
        ">=": lambda x: d >= x,
    }
    for i in range(0, len(arg), 2):
        bound = _decimal(arg[i + 1])
        if bound is None or not checks[arg[i]](bound):
            return False
    return True


def _wildcard_regex(text: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            out.append(re.escape(text[i + 1]))
            i += 2
        elif text[i] == "*":
            out.append(".*")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)
