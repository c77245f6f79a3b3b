"""Pattern JSON to branches: validation with JSON-path errors, ``$or`` expansion, limits.

A pattern is an object whose leaves are non-empty arrays of match values. ``$or`` (an array of
at least two objects, allowed at any level) forks the pattern: the compiler expands it the way
EventBridge does, into a list of *branches*, each a plain AND of fields. For example::

    {"source": ["a"], "$or": [{"x": [1]}, {"y": {"z": [2]}}]}

becomes the two branches ``{source: ["a"], x: [1]}`` and ``{source: ["a"], y.z: [2]}``. A field
given twice in one branch (through ``$or``) keeps the value that comes last in the document.

Paths are tuples of name segments. EventBridge joins nested names with ``.`` when it
flattens a pattern, so a key is split at its dots: ``{"a.b": ..}`` and ``{"a": {"b": ..}}`` are
the same field, path ``("a", "b")`` (the flattener splits event keys the same way). Keeping the
segments, rather than the joined text, lets the flattener follow the event's own nesting.

Limits (EventBridge's): the pattern text is at most 2048 characters; ``$or`` expands to at
most 1000 branches; the wildcards of each field must keep at most
:data:`~clientevents.patterns.complexity.MAX_WILDCARD_COMPLEXITY` match states active for any
input (more is "too complex", see ``complexity.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Final

from clientevents.patterns.complexity import MAX_WILDCARD_COMPLEXITY, Term, most_complex_field
from clientevents.patterns.conditions import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    Cidr,
    Condition,
    EqualsIgnoreCase,
    Exact,
    Exists,
    IpEqual,
    Prefix,
    Range,
    Suffix,
    Wildcard,
)
from clientevents.patterns.errors import InvalidEventPattern, Location
from clientevents.patterns.ipaddr import parse_cidr, parse_ip
from clientevents.patterns.values import FALSE, NULL, TRUE, LeafKey, is_comparable, number_problem
from clientevents.patterns.values import number_text as _number_text
from clientevents.patterns.wildcard import parse_wildcard

MAX_PATTERN_CHARS: Final = 2048
MAX_BRANCHES: Final = 1000
OR_KEY: Final = "$or"

OPERATORS: Final = (
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
)
RESERVED_IN_OR: Final = frozenset(
    (
        *OPERATORS,
        "exactly",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    )
)

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a branch: its path, its conditions (OR) and the pattern text it came from.

    ``terms`` lists the match values in pattern order as the wildcard complexity check sees
    them (see :data:`complexity.Term`).
    """

    path: Path
    conditions: frozenset[Condition]
    source: tuple[Any, ...] = dc_field(compare=False, hash=False)
    terms: tuple[Term, ...] = dc_field(default=(), compare=False, hash=False)


Branch = tuple[Field, ...]
"""A conjunction of fields, sorted by path."""


def load_pattern(pattern: Mapping[str, Any] | str) -> dict[str, Any]:
    """Parse JSON text (or check a dict) into a pattern object, enforcing the size limit."""
    if isinstance(pattern, str):
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidEventPattern(
                f"the pattern is {len(pattern)} characters long; at most {MAX_PATTERN_CHARS} "
                "are allowed"
            )
        try:
            loaded = json.loads(pattern, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise InvalidEventPattern(f"the pattern is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidEventPattern(
                f"the pattern must be a JSON object, got {_json_type(loaded)}"
            )
        return loaded
    if not isinstance(pattern, Mapping):
        raise InvalidEventPattern(
            f"the pattern must be a JSON object (a dict or JSON text), got {type(pattern).__name__}"
        )
    try:
        text = json.dumps(pattern, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidEventPattern(f"the pattern is not a JSON value: {exc}") from exc
    if len(text) > MAX_PATTERN_CHARS:
        raise InvalidEventPattern(
            f"the pattern is {len(text)} characters long as compact JSON; at most "
            f"{MAX_PATTERN_CHARS} are allowed"
        )
    return dict(pattern)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def compile_branches(pattern: Mapping[str, Any]) -> tuple[Branch, ...]:
    """Validate a loaded pattern and expand it into its distinct branches."""
    rules = _object(pattern, [], (), [{}], in_or=False)
    branches: dict[Branch, None] = {}
    for rule in rules:
        branches[tuple(sorted(rule.values(), key=lambda f: f.path))] = None
    _check_complexity(branches)
    return tuple(branches)


def _object(
    obj: Mapping[str, Any],
    loc: list[str | int],
    keys: Path,
    rules: list[dict[Path, Field]],
    *,
    in_or: bool,
) -> list[dict[Path, Field]]:
    if not obj:
        raise InvalidEventPattern("empty objects are not allowed", loc)
    for key, value in obj.items():
        here = [*loc, key]
        if not isinstance(key, str):
            raise InvalidEventPattern(f"keys must be strings, got {key!r}", loc)
        if key == OR_KEY:
            rules = _or(value, here, keys, rules)
            continue
        if in_or and key in RESERVED_IN_OR:
            raise InvalidEventPattern(
                f"{key!r} is a reserved word and cannot be a field name inside $or", here
            )
        path = (*keys, *key.split("."))
        if isinstance(value, Mapping):
            rules = _object(value, here, path, rules, in_or=in_or)
        elif isinstance(value, list):
            field = _field(path, value, here)
            for rule in rules:
                rule[field.path] = field
        else:
            raise InvalidEventPattern(
                f"must be an object of fields or an array of match values, got "
                f"{_json_type(value)} (write [{json.dumps(value)}] to match that value)",
                here,
            )
    return rules


def _or(
    value: Any, loc: list[str | int], keys: Path, rules: list[dict[Path, Field]]
) -> list[dict[Path, Field]]:
    if not isinstance(value, list) or len(value) < 2:
        raise InvalidEventPattern("$or must be an array of at least two objects", loc)
    expanded: list[dict[Path, Field]] = []
    for i, alternative in enumerate(value):
        if not isinstance(alternative, Mapping):
            raise InvalidEventPattern(
                f"$or may only contain objects, got {_json_type(alternative)}", [*loc, i]
            )
        copies = [dict(rule) for rule in rules]
        expanded.extend(_object(alternative, [*loc, i], keys, copies, in_or=True))
        if len(expanded) > MAX_BRANCHES:
            raise InvalidEventPattern(
                f"$or expands to more than {MAX_BRANCHES} combinations; split the rule or "
                "use fewer alternatives",
                loc,
            )
    return expanded


def _field(path: Path, values: list[Any], loc: list[str | int]) -> Field:
    if not values:
        raise InvalidEventPattern("empty arrays are not allowed", loc)
    conditions: list[Condition] = []
    terms: list[Term] = []
    for i, value in enumerate(values):
        here = [*loc, i]
        if isinstance(value, Mapping):
            conditions.append(_operator(value, here))
            terms.append(_term(value, conditions[-1]))
            continue
        elif isinstance(value, str):
            address = parse_ip(value)
            conditions.append(IpEqual(*address) if address else Exact(value))
        elif isinstance(value, bool):
            conditions.append(Exact(TRUE if value else FALSE))
        elif value is None:
            conditions.append(Exact(NULL))
        elif isinstance(value, int | float):
            conditions.append(Exact(_number_key(value, here)))
        else:
            raise InvalidEventPattern(
                f"match values must be strings, numbers, true, false, null or operator "
                f"objects, got {_json_type(value)}",
                here,
            )
        terms.append((conditions[-1], None))
    return Field(path, frozenset(conditions), tuple(values), tuple(terms))


def _term(expr: Mapping[str, Any], condition: Condition) -> Term:
    """How an operator value counts for wildcard complexity.

    A ``wildcard`` without a star compiles to an exact match but is still a wildcard pattern
    for the complexity measure (as in EventBridge), so it keeps its own identity.
    """
    if isinstance(condition, AnythingButWildcard):
        return condition, tuple(sorted(condition.wildcards))
    if isinstance(condition, Wildcard):
        return condition, (condition.segments,)
    if "wildcard" in expr and isinstance(condition, Exact) and isinstance(condition.key, str):
        segments = (condition.key,)
        return ("wildcard", segments), (segments,)
    return condition, None


def _number_key(value: int | float, loc: Location) -> LeafKey:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidEventPattern(f"{value} is not a JSON number", loc)
    return value if is_comparable(value) else ("lit", _number_text(value))


def _operator(expr: Mapping[str, Any], loc: list[str | int]) -> Condition:
    if len(expr) != 1:
        found = ", ".join(repr(k) for k in expr) or "none"
        raise InvalidEventPattern(
            f"an operator object must have exactly one key (found {found})", loc
        )
    ((op, arg),) = expr.items()
    here = [*loc, op]
    if op in ("prefix", "suffix"):
        return _affix(op, arg, here)
    if op == "equals-ignore-case":
        return EqualsIgnoreCase(_string(arg, op, here).lower())
    if op == "wildcard":
        segments = _wildcard(arg, here)
        return Exact(segments[0]) if len(segments) == 1 else Wildcard(segments)
    if op == "anything-but":
        return _anything_but(arg, here)
    if op == "numeric":
        return _numeric(arg, here)
    if op == "exists":
        if not isinstance(arg, bool):
            raise InvalidEventPattern(f"exists must be true or false, got {_json_type(arg)}", here)
        return Exists(arg)
    if op == "cidr":
        try:
            return Cidr(*parse_cidr(_string(arg, op, here)))
        except ValueError as exc:
            raise InvalidEventPattern(str(exc), here) from exc
    raise InvalidEventPattern(
        f"unknown operator {op!r}; the operators are {', '.join(OPERATORS)}", loc
    )


def _string(arg: Any, op: str, loc: Location) -> str:
    if not isinstance(arg, str):
        raise InvalidEventPattern(f"the value of {op} must be a string, got {_json_type(arg)}", loc)
    return arg


def _wildcard(arg: Any, loc: Location) -> tuple[str, ...]:
    try:
        return parse_wildcard(_string(arg, "wildcard", loc))
    except ValueError as exc:
        raise InvalidEventPattern(str(exc), loc) from exc


def _affix(op: str, arg: Any, loc: list[str | int]) -> Condition:
    kind = Prefix if op == "prefix" else Suffix
    if isinstance(arg, Mapping):
        if list(arg) != ["equals-ignore-case"]:
            raise InvalidEventPattern(
                f'{op} accepts a string or {{"equals-ignore-case": <string>}} only', loc
            )
        inner = "equals-ignore-case"
        text = _string(arg[inner], inner, [*loc, inner])
        return kind(text.lower(), True)
    return kind(_string(arg, op, loc), False)


def _anything_but(arg: Any, loc: list[str | int]) -> Condition:
    if isinstance(arg, Mapping):
        if len(arg) != 1:
            raise InvalidEventPattern(
                "anything-but takes one of prefix, suffix, equals-ignore-case or wildcard", loc
            )
        ((op, inner),) = arg.items()
        here = [*loc, op]
        if op not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise InvalidEventPattern(
                f"unsupported anything-but operator {op!r}; use prefix, suffix, "
                "equals-ignore-case or wildcard",
                here,
            )
        items = inner if isinstance(inner, list) else [inner]
        if not items:
            raise InvalidEventPattern("empty arrays are not allowed", here)
        texts = [_string(t, f"anything-but {op}", [*here, i]) for i, t in enumerate(items)]
        if op in ("prefix", "suffix") and "" in texts:
            raise InvalidEventPattern(f"anything-but {op} must not be an empty string", here)
        if op == "prefix":
            return AnythingButPrefix(frozenset(texts))
        if op == "suffix":
            return AnythingButSuffix(frozenset(texts))
        if op == "equals-ignore-case":
            return AnythingButIgnoreCase(frozenset(t.lower() for t in texts))
        return AnythingButWildcard(frozenset(_wildcard(t, [*here, i]) for i, t in enumerate(texts)))
    items = arg if isinstance(arg, list) else [arg]
    if not items:
        raise InvalidEventPattern("empty arrays are not allowed", loc)
    keys: list[LeafKey] = []
    kinds = set()
    for i, item in enumerate(items):
        here = [*loc, i] if isinstance(arg, list) else loc
        if isinstance(item, str):
            kinds.add("string")
            keys.append(item)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            problem = number_problem(item)
            if problem:
                raise InvalidEventPattern(problem, here)
            kinds.add("number")
            keys.append(item)
        else:
            raise InvalidEventPattern(
                f"anything-but values must be strings or numbers, got {_json_type(item)}", here
            )
    if len(kinds) > 1:
        raise InvalidEventPattern(
            "anything-but lists must be all strings or all numbers, not a mix", loc
        )
    return AnythingBut(frozenset(keys))


_LOWER_OPS: Final = (">", ">=")
_UPPER_OPS: Final = ("<", "<=")


def _numeric(arg: Any, loc: list[str | int]) -> Condition:
    if not isinstance(arg, list) or not arg:
        raise InvalidEventPattern('numeric must be a non-empty array like [">", 0, "<=", 5]', loc)
    op = arg[0]
    if not isinstance(op, str) or op not in ("=", *_LOWER_OPS, *_UPPER_OPS):
        raise InvalidEventPattern(
            f"unknown numeric operator {json.dumps(op)}; use =, <, <=, > or >=", [*loc, 0]
        )
    first = _operand(arg, 1, op, loc)
    if op == "=" or op in _UPPER_OPS:
        if len(arg) > 2:
            raise InvalidEventPattern(
                f"too many elements after numeric operator {op!r}; only a lower bound (> or "
                ">=) may be followed by an upper bound",
                [*loc, 2],
            )
        if op == "=":
            return Exact(first)
        return Range(None, False, first, op == "<")
    if len(arg) == 2:
        return Range(first, op == ">", None, False)
    upper = arg[2]
    if not isinstance(upper, str) or upper not in _UPPER_OPS:
        raise InvalidEventPattern(
            f"a numeric lower bound may only be followed by < or <=, got {json.dumps(upper)}",
            [*loc, 2],
        )
    second = _operand(arg, 3, upper, loc)
    if len(arg) > 4:
        raise InvalidEventPattern("too many elements in numeric range expression", [*loc, 4])
    if not first < second:
        raise InvalidEventPattern(
            f"the bottom of a numeric range ({_number_text(first)}) must be less than its top "
            f"({_number_text(second)})",
            loc,
        )
    return Range(first, op == ">", second, upper == "<")


def _operand(arg: list[Any], index: int, op: str, loc: list[str | int]) -> int | float:
    if len(arg) <= index:
        raise InvalidEventPattern(f"numeric operator {op!r} must be followed by a number", loc)
    value = arg[index]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventPattern(
            f"numeric operator {op!r} must be followed by a number, got {_json_type(value)}",
            [*loc, index],
        )
    number: int | float = value
    problem = number_problem(number)
    if problem:
        raise InvalidEventPattern(problem, [*loc, index])
    return number


def _check_complexity(branches: Mapping[Branch, None]) -> None:
    found = most_complex_field([(f.path, f.terms) for f in branch] for branch in branches)
    if found is not None and found[1] > MAX_WILDCARD_COMPLEXITY:
        raise InvalidEventPattern(
            f"the rule is too complex: some values would keep more than "
            f"{MAX_WILDCARD_COMPLEXITY} wildcard match states of this field active at once; try "
            "using fewer wildcard characters or fewer repeating character sequences after a "
            "wildcard character",
            list(found[0]),
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
