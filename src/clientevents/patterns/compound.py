"""Compound steps: several single-value equalities of a branch checked with one lookup.

Most rules start with plain equalities: ``source``, ``detail-type``, an event type, a client
id. Stepping them one field at a time visits a state per field, and the unselective ones
(``source`` is the same in nearly every event) keep many partial matches alive. A
:class:`Compound` step takes all of a branch's single-value equalities together: the state
holds one table per tuple of paths, keyed by the tuple of the values, and an event costs one
lookup per table, built from the event's single leaf at each path.

When a path has several leaves (an array) or leaves inside arrays that matter for array
consistency, :func:`compound_matches` enumerates the combinations instead, or scans the table
when that is smaller, and keeps only combinations whose array memberships agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from math import prod
from typing import TYPE_CHECKING

from clientevents.patterns.flatten import Fields, Membership
from clientevents.patterns.values import LeafKey

if TYPE_CHECKING:
    from clientevents.patterns.automaton import NameState

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Compound:
    """Equalities on several paths, stepped as one transition keyed by the values' tuple."""

    paths: tuple[Path, ...]
    keys: tuple[LeafKey, ...]


def merge(committed: Membership, membership: Membership) -> Membership | None:
    """Both memberships together, or None when they disagree on a shared array."""
    if not membership:
        return committed
    if not committed:
        return membership
    merged = dict(committed)
    for array, index in membership:
        seen = merged.get(array)
        if seen is None:
            merged[array] = index
        elif seen != index:
            return None
    return tuple(sorted(merged.items()))


def compound_matches(
    paths: Sequence[Path],
    table: Mapping[tuple[LeafKey, ...], NameState],
    fields: Fields,
    committed: Membership,
) -> list[tuple[NameState, Membership]]:
    """Every next state of a compound table for the event, with the memberships it commits.

    The general case, for paths with several leaves or with array memberships: combinations
    of leaves are enumerated when there are fewer of them than table entries, else the table
    is scanned; either way only combinations whose memberships agree are kept.
    """
    columns: list[dict[LeafKey, list[Membership]]] = []
    for path in paths:
        leaves = fields.get(path)
        if not leaves:
            return []
        column: dict[LeafKey, list[Membership]] = {}
        for key, _, membership in leaves:
            column.setdefault(key, []).append(membership)
        columns.append(column)
    out: list[tuple[NameState, Membership]] = []
    if prod(len(c) for c in columns) <= len(table):
        for keys in product(*columns):
            kid = table.get(keys)
            if kid is not None:
                _consistent(kid, keys, columns, committed, out)
    else:
        for keys, kid in table.items():
            if all(k in c for k, c in zip(keys, columns, strict=True)):
                _consistent(kid, keys, columns, committed, out)
    return out


def _consistent(
    kid: NameState,
    keys: tuple[LeafKey, ...],
    columns: list[dict[LeafKey, list[Membership]]],
    committed: Membership,
    out: list[tuple[NameState, Membership]],
) -> None:
    partial: list[Membership] = [committed]
    for key, column in zip(keys, columns, strict=True):
        grown: dict[Membership, None] = {}
        for done in partial:
            for membership in column[key]:
                merged = merge(done, membership)
                if merged is not None:
                    grown[merged] = None
        if not grown:
            return
        partial = list(grown)
    out.extend((kid, m) for m in partial)
