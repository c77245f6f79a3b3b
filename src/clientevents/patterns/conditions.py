"""The compiled form of one match value: a condition on a single JSON leaf.

The parser turns every element of a field's value list into one of these frozen, hashable
conditions. They are the unit the matcher indexes (see ``field_matcher.py``) and the unit the
explanation of a non-match reports. Each has ``test(key, value)``, the plain-Python meaning of
the condition on one leaf (``key`` is :func:`values.leaf_key` of ``value``); the index
structures must agree with it exactly.

``Exists(False)`` is the only condition that no leaf satisfies: it holds when the event has no
leaf at the field's path at all (anywhere, in any array element).
"""

from __future__ import annotations

from dataclasses import dataclass

from clientevents.patterns.ipaddr import parse_ip
from clientevents.patterns.values import LeafKey, is_number_key
from clientevents.patterns.wildcard import Segments, wildcard_matches


@dataclass(frozen=True, slots=True)
class Exact:
    """Equal to one JSON value (strings, numbers by value when comparable, true/false/null)."""

    key: LeafKey

    def test(self, key: LeafKey, value: object) -> bool:
        return (key == self.key and type(key) is type(self.key)) or _same_number(key, self.key)


def _same_number(a: LeafKey, b: LeafKey) -> bool:
    return is_number_key(a) and is_number_key(b) and a == b


@dataclass(frozen=True, slots=True)
class IpEqual:
    """A string that is the same IP address (a pattern string that is an IP literal)."""

    family: int
    address: int

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is str and parse_ip(value) == (self.family, self.address)


@dataclass(frozen=True, slots=True)
class Prefix:
    """A string starting with ``text`` (``text`` is lower-cased when ``ignore_case``)."""

    text: str
    ignore_case: bool = False

    def test(self, key: LeafKey, value: object) -> bool:
        if type(value) is not str:
            return False
        return (value.lower() if self.ignore_case else value).startswith(self.text)


@dataclass(frozen=True, slots=True)
class Suffix:
    """A string ending with ``text`` (``text`` is lower-cased when ``ignore_case``)."""

    text: str
    ignore_case: bool = False

    def test(self, key: LeafKey, value: object) -> bool:
        if type(value) is not str:
            return False
        return (value.lower() if self.ignore_case else value).endswith(self.text)


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    """A string equal to ``lowered`` after lower-casing."""

    lowered: str

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is str and value.lower() == self.lowered


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A string matching a wildcard with at least one star."""

    segments: Segments

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is str and wildcard_matches(self.segments, value)


@dataclass(frozen=True, slots=True)
class Range:
    """A comparable number inside an interval; ``None`` bounds are unbounded."""

    low: int | float | None
    low_open: bool
    high: int | float | None
    high_open: bool

    def test(self, key: LeafKey, value: object) -> bool:
        if not is_number_key(key):
            return False
        v: float = key  # type: ignore[assignment]
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return not (
            self.high is not None and (v > self.high or (self.high_open and v == self.high))
        )


@dataclass(frozen=True, slots=True)
class Cidr:
    """A string that is an IP address of ``family`` within [low, high]."""

    family: int
    low: int
    high: int

    def test(self, key: LeafKey, value: object) -> bool:
        if type(value) is not str:
            return False
        address = parse_ip(value)
        return (
            address is not None
            and address[0] == self.family
            and self.low <= address[1] <= self.high
        )


@dataclass(frozen=True, slots=True)
class Exists:
    """``exists: true`` holds for any leaf; ``exists: false`` only when there is none."""

    present: bool

    def test(self, key: LeafKey, value: object) -> bool:
        return self.present


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Any leaf whose exact key is not excluded (strings, or comparable numbers)."""

    excluded: frozenset[LeafKey]

    def test(self, key: LeafKey, value: object) -> bool:
        return not any(Exact(x).test(key, value) for x in self.excluded)


@dataclass(frozen=True, slots=True)
class AnythingButPrefix:
    """Any leaf except strings starting with one of ``prefixes``."""

    prefixes: frozenset[str]

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is not str or not any(value.startswith(p) for p in self.prefixes)


@dataclass(frozen=True, slots=True)
class AnythingButSuffix:
    """Any leaf except strings ending with one of ``suffixes``."""

    suffixes: frozenset[str]

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is not str or not any(value.endswith(s) for s in self.suffixes)


@dataclass(frozen=True, slots=True)
class AnythingButIgnoreCase:
    """Any leaf except strings equal to one of ``lowered`` after lower-casing."""

    lowered: frozenset[str]

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is not str or value.lower() not in self.lowered


@dataclass(frozen=True, slots=True)
class AnythingButWildcard:
    """Any leaf except strings matching one of the wildcards."""

    wildcards: frozenset[Segments]

    def test(self, key: LeafKey, value: object) -> bool:
        return type(value) is not str or not any(wildcard_matches(w, value) for w in self.wildcards)


Condition = (
    Exact
    | IpEqual
    | Prefix
    | Suffix
    | EqualsIgnoreCase
    | Wildcard
    | Range
    | Cidr
    | Exists
    | AnythingBut
    | AnythingButPrefix
    | AnythingButSuffix
    | AnythingButIgnoreCase
    | AnythingButWildcard
)

_RANK: dict[type, int] = {
    Exact: 0,
    IpEqual: 0,
    EqualsIgnoreCase: 0,
    Prefix: 1,
    Suffix: 1,
    Range: 1,
    Cidr: 1,
    Wildcard: 2,
    AnythingBut: 3,
    AnythingButPrefix: 3,
    AnythingButSuffix: 3,
    AnythingButIgnoreCase: 3,
    AnythingButWildcard: 3,
}


def selectivity_rank(conditions: frozenset[Condition]) -> int:
    """How little a field narrows the candidates (0: one dict lookup, 4: only absence).

    The matcher orders a rule's fields by this rank so that selective fields are stepped first
    and the unselective ones (anything-but, exists) are only evaluated for events that already
    passed the others.
    """
    rank = 0
    for c in conditions:
        if isinstance(c, Exists):
            rank = max(rank, 3 if c.present else 4)
        else:
            rank = max(rank, _RANK[type(c)])
    return rank
