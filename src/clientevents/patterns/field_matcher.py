"""Per-state, per-path value index: which next states a leaf value leads to.

A :class:`FieldMatcher` holds every condition that rules place on one path at one automaton
state, each mapped to the next states it leads to, and indexes them so that one leaf is
matched without looping over rules:

============================  ==========================================================
condition                     index (lookup cost per leaf)
============================  ==========================================================
exact value, numeric ``=``    ``dict`` keyed by :func:`values.leaf_key` (one lookup)
equals-ignore-case            ``dict`` keyed by the lower-cased string (one lookup)
prefix / suffix (+ ignore)    ``dict`` per kind + the distinct lengths (one lookup per length)
IP literal, cidr              ``dict`` of addresses; cidr ranges as sorted breakpoints + bisect
numeric range                 sorted breakpoints + ``bisect`` over precomputed segments
exists: true                  the list of next states, taken for every leaf
anything-but (all forms)      everything minus what the excluded-value index says failed
wildcard                      a short list of compiled wildcards, tested one by one
============================  ==========================================================

Wildcards (and anything-but wildcards) are the only conditions tested one at a time; the
compiler caps their stars per field, and each test is linear in the value.

Concurrency: a published FieldMatcher is never modified. Writers call :meth:`clone`, which
shares every table, change the clone (a table is copied on its first write, so a change costs
the size of the tables it touches, not of the matcher), then :meth:`finish` it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

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
from clientevents.patterns.ipaddr import parse_ip
from clientevents.patterns.values import LeafKey
from clientevents.patterns.wildcard import wildcard_matches

if TYPE_CHECKING:
    from clientevents.patterns.automaton import NameState

Children = tuple["NameState", ...]
Pair = tuple[Condition, "NameState"]

# Table attribute holding each condition kind; the key inside the table is given by _key().
_TABLE: dict[type, str] = {
    Exact: "exact",
    EqualsIgnoreCase: "ignore_case",
    IpEqual: "ip",
    Range: "ranges",
    Cidr: "cidrs",
    Wildcard: "wildcards",
    AnythingBut: "anything_but",
    AnythingButPrefix: "anything_but_prefix",
    AnythingButSuffix: "anything_but_suffix",
    AnythingButIgnoreCase: "anything_but_ignore_case",
    AnythingButWildcard: "anything_but_wildcard",
    Exists: "exists",
}
_TABLES = (
    "exact",
    "ignore_case",
    "prefix",
    "prefix_ic",
    "suffix",
    "suffix_ic",
    "ip",
    "ranges",
    "cidrs",
    "wildcards",
    "anything_but",
    "anything_but_prefix",
    "anything_but_suffix",
    "anything_but_ignore_case",
    "anything_but_wildcard",
    "exists",
)


_TABLE_NAMES = frozenset(_TABLES)
_STRING_TABLES = frozenset(
    ("ignore_case", "prefix", "prefix_ic", "suffix", "suffix_ic", "ip", "cidrs", "wildcards")
)
_ANYTHING_BUT_TABLES = frozenset(
    (
        "anything_but",
        "anything_but_prefix",
        "anything_but_suffix",
        "anything_but_ignore_case",
        "anything_but_wildcard",
    )
)


def _table_and_key(c: Condition) -> tuple[str, Any]:
    if isinstance(c, Exact):
        return "exact", c.key
    if isinstance(c, EqualsIgnoreCase):
        return "ignore_case", c.lowered
    if isinstance(c, Prefix):
        return ("prefix_ic" if c.ignore_case else "prefix"), c.text
    if isinstance(c, Suffix):
        return ("suffix_ic" if c.ignore_case else "suffix"), c.text
    if isinstance(c, IpEqual):
        return "ip", (c.family, c.address)
    return _TABLE[type(c)], c


_EMPTY: dict[Any, Any] = {}  # shared by every matcher that has no such table; never mutated

EXACT_ONLY = 0
"""``FieldMatcher.kind``: only exact values; ``exact.get(key)`` is the whole match."""
RANGES_ONLY = 1
"""Only numeric ranges; ``range_hits(key)`` is the whole match."""
GENERAL = 2
"""Anything else; use ``match(key, value)``."""
PREFIXES_ONLY = 3
"""Only (case-sensitive) prefixes; ``prefix_hits(value)`` is the whole match."""


class FieldMatcher:
    """The conditions on one path at one state, indexed (see the module docstring).

    Tables and derived indexes default to shared empty class attributes, so a matcher only
    pays memory for the kinds of condition it holds.
    """

    exact: dict[Any, Children] = _EMPTY
    ignore_case: dict[str, Children] = _EMPTY
    prefix: dict[str, Children] = _EMPTY
    prefix_ic: dict[str, Children] = _EMPTY
    suffix: dict[str, Children] = _EMPTY
    suffix_ic: dict[str, Children] = _EMPTY
    ip: dict[tuple[int, int], Children] = _EMPTY
    ranges: dict[Range, Children] = _EMPTY
    cidrs: dict[Cidr, Children] = _EMPTY
    wildcards: dict[Wildcard, Children] = _EMPTY
    anything_but: dict[AnythingBut, Children] = _EMPTY
    anything_but_prefix: dict[AnythingButPrefix, Children] = _EMPTY
    anything_but_suffix: dict[AnythingButSuffix, Children] = _EMPTY
    anything_but_ignore_case: dict[AnythingButIgnoreCase, Children] = _EMPTY
    anything_but_wildcard: dict[AnythingButWildcard, Children] = _EMPTY
    exists: dict[Exists, Children] = _EMPTY
    kind: int = 0  # EXACT_ONLY, RANGES_ONLY, PREFIXES_ONLY or GENERAL: lets run() skip match()
    probe: tuple[int, Any, Any] = (EXACT_ONLY, _EMPTY, None)
    """``(kind, a, b)``: what run() needs for the kind without touching the matcher again:
    ``(EXACT_ONLY, exact, None)``, ``(RANGES_ONLY, num_points, num_segments)``,
    ``(PREFIXES_ONLY, prefix, prefix_lens)`` or ``(GENERAL, None, None)``."""
    _owned: set[str] | frozenset[str] = frozenset()
    _ab: tuple[Pair, ...] = ()
    _ab_excluded: dict[Any, frozenset[Pair]] = _EMPTY
    _abp: tuple[Pair, ...] = ()
    _abp_map: dict[Any, frozenset[Pair]] = _EMPTY
    _abp_lens: tuple[int, ...] = ()
    _abs: tuple[Pair, ...] = ()
    _abs_map: dict[Any, frozenset[Pair]] = _EMPTY
    _abs_lens: tuple[int, ...] = ()
    _abi: tuple[Pair, ...] = ()
    _abi_map: dict[Any, frozenset[Pair]] = _EMPTY
    _abw: tuple[tuple[frozenset[tuple[str, ...]], Children], ...] = ()
    _any: Children = ()
    _cidr_index: dict[int, tuple[list[Any], list[tuple[Any, ...]]]] = _EMPTY
    num_points: list[Any] = []  # noqa: RUF012 - shared empty default, never mutated
    num_segments: list[Children] = []  # noqa: RUF012 - next states per elementary segment
    prefix_lens: tuple[int, ...] = ()
    _prefix_ic_lens: tuple[int, ...] = ()
    _suffix_lens: tuple[int, ...] = ()
    _suffix_ic_lens: tuple[int, ...] = ()
    _wild: tuple[tuple[tuple[str, ...], Children], ...] = ()
    _has_anything_but: bool = False
    _strings: bool = False

    # -- writer side -------------------------------------------------------------------

    def clone(self) -> FieldMatcher:
        """A copy sharing every table; tables are copied when first changed."""
        other = FieldMatcher.__new__(FieldMatcher)
        other.__dict__.update(self.__dict__)
        other._owned = set()
        return other

    def _table(self, name: str) -> dict[Any, Children]:
        table: dict[Any, Children] = getattr(self, name)
        if name not in self._owned or name not in self.__dict__:
            table = dict(table)
            setattr(self, name, table)
            owned = self._owned
            if isinstance(owned, frozenset):
                owned = self._owned = set()
            owned.add(name)
        return table

    def add(self, condition: Condition, child: NameState) -> None:
        """Make ``condition`` lead to ``child`` (on an unpublished clone)."""
        name, key = _table_and_key(condition)
        table = self._table(name)
        table[key] = (*table.get(key, ()), child)

    def remove(self, condition: Condition, child: NameState) -> None:
        """Undo :meth:`add` (on an unpublished clone)."""
        name, key = _table_and_key(condition)
        table = self._table(name)
        remaining = tuple(c for c in table.get(key, ()) if c is not child)
        if remaining:
            table[key] = remaining
        else:
            table.pop(key, None)
        if not table:
            delattr(self, name)  # back to the shared empty table

    def finish(self) -> None:
        """Rebuild the derived indexes of the tables changed since :meth:`clone`."""
        self._derive(self._owned)
        self.__dict__.pop("_owned", None)  # published: nothing may change it any more

    def is_empty(self) -> bool:
        return not self.__dict__.keys() & _TABLE_NAMES

    def _derive(self, changed: set[str] | frozenset[str]) -> None:
        if "prefix" in changed:
            self.prefix_lens = _lengths(self.prefix)
        if "prefix_ic" in changed:
            self._prefix_ic_lens = _lengths(self.prefix_ic)
        if "suffix" in changed:
            self._suffix_lens = _lengths(self.suffix)
        if "suffix_ic" in changed:
            self._suffix_ic_lens = _lengths(self.suffix_ic)
        if "ranges" in changed:
            points, segments = _segments(
                [(r.low, r.low_open, r.high, r.high_open, r) for r in self.ranges]
            )
            self.num_points = points
            self.num_segments = [tuple(k for r in seg for k in self.ranges[r]) for seg in segments]
        if "cidrs" in changed:
            by_family: dict[int, list[tuple[Any, bool, Any, bool, Cidr]]] = {}
            for c in self.cidrs:
                by_family.setdefault(c.family, []).append((c.low, False, c.high, False, c))
            self._cidr_index = {f: _segments(items) for f, items in by_family.items()}
        if "wildcards" in changed:
            self._wild = tuple((c.segments, kids) for c, kids in self.wildcards.items())
        if "exists" in changed:
            self._any = tuple(k for kids in self.exists.values() for k in kids)
        if "anything_but" in changed:
            self._ab = self._pairs(self.anything_but)
            self._ab_excluded = _exclusion_map(self.anything_but, lambda c: c.excluded)
        if "anything_but_prefix" in changed:
            self._abp = self._pairs(self.anything_but_prefix)
            self._abp_map = _exclusion_map(self.anything_but_prefix, lambda c: c.prefixes)
            self._abp_lens = _lengths(self._abp_map)
        if "anything_but_suffix" in changed:
            self._abs = self._pairs(self.anything_but_suffix)
            self._abs_map = _exclusion_map(self.anything_but_suffix, lambda c: c.suffixes)
            self._abs_lens = _lengths(self._abs_map)
        if "anything_but_ignore_case" in changed:
            self._abi = self._pairs(self.anything_but_ignore_case)
            self._abi_map = _exclusion_map(self.anything_but_ignore_case, lambda c: c.lowered)
        if "anything_but_wildcard" in changed:
            self._abw = tuple((c.wildcards, kids) for c, kids in self.anything_but_wildcard.items())
        present = self.__dict__.keys() & _TABLE_NAMES
        self._strings = not present.isdisjoint(_STRING_TABLES)
        self._has_anything_but = not present.isdisjoint(_ANYTHING_BUT_TABLES)
        if present <= {"exact"}:
            self.kind = EXACT_ONLY
            self.probe = (EXACT_ONLY, self.exact, None)
        elif present == {"ranges"}:
            self.kind = RANGES_ONLY
            self.probe = (RANGES_ONLY, self.num_points, self.num_segments)
        elif present == {"prefix"}:
            self.kind = PREFIXES_ONLY
            self.probe = (PREFIXES_ONLY, self.prefix, self.prefix_lens)
        else:
            self.kind = GENERAL
            self.probe = (GENERAL, None, None)

    @staticmethod
    def _pairs(table: dict[Any, Children]) -> tuple[Pair, ...]:
        return tuple((c, kid) for c, kids in table.items() for kid in kids)

    # -- reader side (hot path: no locks, no allocation when nothing matches) --------------

    def range_hits(self, key: LeafKey) -> Children:
        """The next states of the numeric ranges holding ``key`` (a leaf key)."""
        t = type(key)
        if t is not int and t is not float:
            return ()
        points = self.num_points
        i = bisect_left(points, key)
        if i < len(points) and points[i] == key:
            return self.num_segments[2 * i + 1]
        return self.num_segments[2 * i]

    def match(self, key: LeafKey, value: object) -> list[NameState]:
        """Every next state one leaf leads to (with repetitions)."""
        out: list[NameState] = []
        hit = self.exact.get(key)
        if hit:
            out.extend(hit)
        if type(value) is str:
            if self._strings:
                self._match_string(value, out)
        elif self.num_points and (type(key) is int or type(key) is float):
            hit = self.num_segments[_segment_of(self.num_points, key)]
            if hit:
                out.extend(hit)
        if self._any:
            out.extend(self._any)
        if self._has_anything_but:
            self._anything_but(key, value, out)
        return out

    def _match_string(self, value: str, out: list[NameState]) -> None:
        if self.ignore_case:
            hit = self.ignore_case.get(value.lower())
            if hit:
                out.extend(hit)
        if self.prefix_lens:
            _affixes(self.prefix, self.prefix_lens, value, True, out)
        if self._prefix_ic_lens:
            _affixes(self.prefix_ic, self._prefix_ic_lens, value.lower(), True, out)
        if self._suffix_lens:
            _affixes(self.suffix, self._suffix_lens, value, False, out)
        if self._suffix_ic_lens:
            _affixes(self.suffix_ic, self._suffix_ic_lens, value.lower(), False, out)
        if self.ip or self._cidr_index:
            address = parse_ip(value)
            if address is not None:
                hit = self.ip.get(address)
                if hit:
                    out.extend(hit)
                index = self._cidr_index.get(address[0])
                if index is not None:
                    for c in index[1][_segment_of(index[0], address[1])]:
                        out.extend(self.cidrs[c])
        for segments, kids in self._wild:
            if wildcard_matches(segments, value):
                out.extend(kids)

    def _anything_but(self, key: LeafKey, value: object, out: list[NameState]) -> None:
        failed = self._ab_excluded.get(key) if self._ab_excluded else None
        _survivors(self._ab, failed, out)
        if type(value) is not str:
            # Every string-only anything-but form holds for numbers, booleans and null.
            for pairs in (self._abp, self._abs, self._abi):
                out.extend(kid for _, kid in pairs)
            for _, kids in self._abw:
                out.extend(kids)
            return
        if self._abp:
            _survivors(self._abp, _failed_affixes(self._abp_map, self._abp_lens, value, True), out)
        if self._abs:
            _survivors(self._abs, _failed_affixes(self._abs_map, self._abs_lens, value, False), out)
        if self._abi:
            _survivors(self._abi, self._abi_map.get(value.lower()), out)
        for wildcards, kids in self._abw:
            if not any(wildcard_matches(w, value) for w in wildcards):
                out.extend(kids)


def _lengths(table: dict[str, Any]) -> tuple[int, ...]:
    return tuple(sorted({len(k) for k in table}))


def _affixes(
    table: dict[str, Children],
    lengths: tuple[int, ...],
    value: str,
    prefix: bool,
    out: list[NameState],
) -> None:
    n = len(value)
    for length in lengths:
        if length > n:
            break
        piece = value[:length] if prefix else (value[n - length :])
        hit = table.get(piece)
        if hit:
            out.extend(hit)


def _failed_affixes(
    table: dict[str, frozenset[Pair]], lengths: tuple[int, ...], value: str, prefix: bool
) -> set[Pair] | None:
    failed: set[Pair] | None = None
    n = len(value)
    for length in lengths:
        if length > n:
            break
        hit = table.get(value[:length] if prefix else value[n - length :])
        if hit:
            failed = set(hit) if failed is None else failed | hit
    return failed


def _survivors(
    pairs: tuple[Pair, ...], failed: Iterable[Pair] | None, out: list[NameState]
) -> None:
    if not pairs:
        return
    if not failed:
        out.extend(kid for _, kid in pairs)
        return
    failed_set = failed if isinstance(failed, set | frozenset) else set(failed)
    out.extend(pair[1] for pair in pairs if pair not in failed_set)


def _exclusion_map(
    table: dict[Any, Children], excluded_by: Callable[[Any], Iterable[Any]]
) -> dict[Any, frozenset[Pair]]:
    """Excluded value -> the (condition, next state) pairs that the value makes fail."""
    result: dict[Any, set[Pair]] = {}
    for condition, kids in table.items():
        for value in excluded_by(condition):
            bucket = result.setdefault(value, set())
            bucket.update((condition, kid) for kid in kids)
    return {value: frozenset(pairs) for value, pairs in result.items()}


def _segment_of(points: Sequence[Any], value: Any) -> int:
    """Index of the elementary segment holding ``value`` (see :func:`_segments`)."""
    i = bisect_left(points, value)
    if i < len(points) and points[i] == value:
        return 2 * i + 1
    return 2 * i


def _segments(
    intervals: list[tuple[Any, bool, Any, bool, Any]],
) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """Sorted breakpoints and, per elementary segment, the intervals covering it.

    With breakpoints ``p0 < p1 < ... < pn-1`` the segments are ``(-inf, p0)``, ``[p0]``,
    ``(p0, p1)``, ``[p1]``, ..., ``(pn-1, +inf)``: segment ``2i`` is the gap before ``pi``
    and ``2i + 1`` the point ``pi``. A lookup is one bisect; the table costs the sum of the
    intervals' widths in segments, built only when the set of distinct intervals changes.
    """
    points = sorted({p for low, _, high, _, _ in intervals for p in (low, high) if p is not None})
    where = {p: i for i, p in enumerate(points)}
    segments: list[list[Any]] = [[] for _ in range(2 * len(points) + 1)]
    for low, low_open, high, high_open, item in intervals:
        first = 0 if low is None else 2 * where[low] + (2 if low_open else 1)
        last = 2 * len(points) if high is None else 2 * where[high] + (0 if high_open else 1)
        for s in range(first, last + 1):
            segments[s].append(item)
    return points, [tuple(s) for s in segments]
