"""The rule automaton: states keyed by field, stepped by an event's leaves.

Every branch of every rule is a sequence of fields ``(path, conditions)``, ordered most
selective first (see :func:`conditions.selectivity_rank`). The automaton is a trie over those
sequences, in the manner of aws/event-ruler's NameState machine and quamina's core matcher:
a :class:`NameState` has, per path, a :class:`FieldMatcher` from leaf values to next states,
plus ``absent`` transitions (``exists: false``) taken when the event has no leaf at a path.
Branches that start with the same fields share states, so matching costs grow with the leaves
the event has on used paths and with the partial matches they produce, not with the number
of rules. A state where a branch ends carries the names of its rules.

Matching is a depth-first walk from the root carrying, per partial match, the array
memberships it has committed to (see ``flatten.py``): a leaf whose membership disagrees with
them on the index of a shared array is not used together with them.

States are persistent. :func:`add_branch` and :func:`remove_branch` return a new root, copying
only the states on the branch's path (and, in each, only the tables the change touches); the
old root stays valid for readers that hold it. Publishing the new root is the caller's single
reference assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clientevents.patterns.compile import Field, Path
from clientevents.patterns.conditions import Condition, Exists
from clientevents.patterns.field_matcher import FieldMatcher
from clientevents.patterns.flatten import Fields, Membership

EdgeKey = tuple[Path, frozenset[Condition]]
_EMPTY: dict[Any, Any] = {}  # shared by states without such transitions; never mutated
_NO_NAMES: frozenset[str] = frozenset()


class NameState:
    """One automaton state. Published states are never modified (copy, change, publish)."""

    __slots__ = ("absent", "absent_by_path", "edges", "fms", "fms_by_path", "names")

    def __init__(self) -> None:
        self.names: frozenset[str] = _NO_NAMES
        self.edges: dict[EdgeKey, NameState] = _EMPTY
        self.fms_by_path: dict[Path, FieldMatcher] = _EMPTY
        self.absent_by_path: dict[Path, tuple[NameState, ...]] = _EMPTY
        self.fms: tuple[tuple[Path, FieldMatcher], ...] = ()
        self.absent: tuple[tuple[Path, tuple[NameState, ...]], ...] = ()

    def copy(self) -> NameState:
        """A copy sharing every table (the writer copies a table before changing it)."""
        other = NameState.__new__(NameState)
        other.names = self.names
        other.edges = self.edges
        other.fms_by_path = self.fms_by_path
        other.absent_by_path = self.absent_by_path
        other.fms = self.fms
        other.absent = self.absent
        return other

    def is_empty(self) -> bool:
        return not self.names and not self.edges

    def relink(
        self,
        path: Path,
        conditions: frozenset[Condition],
        old: NameState | None,
        new: NameState | None,
    ) -> None:
        """Point the edge ``(path, conditions)`` from ``old`` to ``new`` (either may be None)."""
        values = [c for c in conditions if not (isinstance(c, Exists) and not c.present)]
        if values:
            self.fms_by_path = dict(self.fms_by_path)
            current = self.fms_by_path.get(path)
            fm = current.clone() if current is not None else FieldMatcher()
            for c in values:
                if old is not None:
                    fm.remove(c, old)
                if new is not None:
                    fm.add(c, new)
            fm.finish()
            if fm.is_empty():
                self.fms_by_path.pop(path, None)
            else:
                self.fms_by_path[path] = fm
            self.fms = tuple(self.fms_by_path.items())
        if len(values) != len(conditions):
            self.absent_by_path = dict(self.absent_by_path)
            kids = tuple(k for k in self.absent_by_path.get(path, ()) if k is not old)
            if new is not None:
                kids = (*kids, new)
            if kids:
                self.absent_by_path[path] = kids
            else:
                self.absent_by_path.pop(path, None)
            self.absent = tuple(self.absent_by_path.items())


def add_branch(state: NameState, fields: Sequence[Field], name: str, i: int = 0) -> NameState:
    """A copy of ``state`` in which the branch ``fields[i:]`` leads to a state naming ``name``."""
    new = state.copy()
    if i == len(fields):
        new.names = state.names | {name}
        return new
    field = fields[i]
    key = (field.path, field.conditions)
    old = state.edges.get(key)
    child = add_branch(old if old is not None else NameState(), fields, name, i + 1)
    new.edges = {**state.edges, key: child}
    new.relink(field.path, field.conditions, old, child)
    return new


def remove_branch(
    state: NameState, fields: Sequence[Field], name: str, i: int = 0
) -> NameState | None:
    """A copy of ``state`` without the branch (None when nothing would be left)."""
    if i == len(fields):
        if name not in state.names:
            return state
        new = state.copy()
        new.names = state.names - {name}
        return None if new.is_empty() else new
    field = fields[i]
    key = (field.path, field.conditions)
    old = state.edges.get(key)
    if old is None:
        return state
    child = remove_branch(old, fields, name, i + 1)
    if child is old:
        return state
    new = state.copy()
    new.edges = dict(state.edges)
    if child is None:
        del new.edges[key]
    else:
        new.edges[key] = child
    new.relink(field.path, field.conditions, old, child)
    return None if new.is_empty() else new


def _merge(committed: Membership, membership: Membership) -> Membership | None:
    """Both memberships together, or None when they disagree on a shared array."""
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


def run(root: NameState, fields: Fields) -> set[str]:
    """The names of all rules whose branch the flattened event completes."""
    # Hot path: one dict lookup per (state, used path), one per leaf and index kind.
    result: set[str] = set()
    stack: list[tuple[NameState, Membership]] = [(root, ())]
    seen: set[object] = set()
    push = stack.append
    get_leaves = fields.get
    while stack:
        state, committed = stack.pop()
        if state.names:
            result.update(state.names)
        for path, fm in state.fms:
            leaves = get_leaves(path)
            if leaves is None:
                continue
            exact_only = fm.exact_only
            for key, value, membership in leaves:
                kids = fm.exact.get(key) if exact_only else fm.match(key, value)
                if not kids:
                    continue
                if membership:
                    merged = _merge(committed, membership)
                    if merged is None:
                        continue
                else:
                    merged = committed
                if merged:
                    for kid in kids:
                        pair = (kid, merged)
                        if pair not in seen:
                            seen.add(pair)
                            push((kid, merged))
                else:
                    for kid in kids:
                        if kid not in seen:
                            seen.add(kid)
                            push((kid, merged))
        for path, kids in state.absent:
            if path not in fields:
                for kid in kids:
                    mark: object = (kid, committed) if committed else kid
                    if mark not in seen:
                        seen.add(mark)
                        push((kid, committed))
    return result
