"""The rule automaton: states keyed by field, stepped by an event's leaves.

Every branch of every rule is a sequence of steps: first, when the branch has two or more
single-value equalities, one :class:`~compound.Compound` step holding all of them, then its
other fields ``(path, conditions)``, most selective first (see
:func:`conditions.selectivity_rank`). The automaton is a trie over those sequences, in the
manner of aws/event-ruler's NameState machine and quamina's core matcher: a
:class:`NameState` has, per tuple of paths, a table from value tuples to next states
(compound steps), per path a :class:`FieldMatcher` from leaf values to next states, plus
``absent`` transitions (``exists: false``) taken when the event has no leaf at a path.
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

from bisect import bisect_left
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from clientevents.patterns.compile import Field, Path
from clientevents.patterns.compound import Compound, compound_matches, merge
from clientevents.patterns.conditions import Condition, Exists
from clientevents.patterns.field_matcher import (
    EXACT_ONLY,
    PREFIXES_ONLY,
    RANGES_ONLY,
    FieldMatcher,
)
from clientevents.patterns.flatten import ANY_SEVERAL, SEVERAL, Fields, Membership, Singles
from clientevents.patterns.values import LeafKey

Step = Field | Compound
EdgeKey = tuple[Path, frozenset[Condition]] | tuple[tuple[Path, ...], tuple[LeafKey, ...]]
Table = dict[tuple[LeafKey, ...], "NameState"]
_EMPTY: dict[Any, Any] = {}  # shared by states without such transitions; never mutated
_NO_NAMES: frozenset[str] = frozenset()


class NameState:
    """One automaton state. Published states are never modified (copy, change, publish)."""

    __slots__ = (
        "absent",
        "absent_by_path",
        "edges",
        "final",
        "fms",
        "fms_by_path",
        "names",
        "tables",
        "tables_by_paths",
    )

    def __init__(self) -> None:
        self.names: frozenset[str] = _NO_NAMES
        self.final = False  # names rules and has no transitions (see settle)
        self.edges: dict[EdgeKey, NameState] = _EMPTY
        self.tables_by_paths: dict[tuple[Path, ...], Table] = _EMPTY
        self.fms_by_path: dict[Path, FieldMatcher] = _EMPTY
        self.absent_by_path: dict[Path, tuple[NameState, ...]] = _EMPTY
        # (paths, itemgetter of those paths, table); a compound step has two or more paths
        self.tables: tuple[tuple[tuple[Path, ...], Callable[[Singles], Any], Table], ...] = ()
        # (path, kind, a, b, matcher): FieldMatcher.probe inlined for run()
        self.fms: tuple[tuple[Path, int, Any, Any, FieldMatcher], ...] = ()
        self.absent: tuple[tuple[Path, tuple[NameState, ...]], ...] = ()

    def copy(self) -> NameState:
        """A copy sharing every table (the writer copies a table before changing it)."""
        other = NameState.__new__(NameState)
        other.names = self.names
        other.final = self.final
        other.edges = self.edges
        other.tables_by_paths = self.tables_by_paths
        other.fms_by_path = self.fms_by_path
        other.absent_by_path = self.absent_by_path
        other.tables = self.tables
        other.fms = self.fms
        other.absent = self.absent
        return other

    def is_empty(self) -> bool:
        return not self.names and not self.edges

    def settle(self) -> NameState:
        """Recompute :attr:`final` after a change (before publishing); returns the state."""
        self.final = bool(self.names) and not self.edges
        return self

    def relink_compound(self, step: Compound, new: NameState | None) -> None:
        """Point the compound edge ``step`` to ``new`` (None removes it)."""
        self.tables_by_paths = dict(self.tables_by_paths)
        table = dict(self.tables_by_paths.get(step.paths, _EMPTY))
        if new is None:
            table.pop(step.keys, None)
        else:
            table[step.keys] = new
        if table:
            self.tables_by_paths[step.paths] = table
        else:
            self.tables_by_paths.pop(step.paths, None)
        self.tables = tuple((p, itemgetter(*p), t) for p, t in self.tables_by_paths.items())

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
            self.fms = tuple((p, *fm.probe, fm) for p, fm in self.fms_by_path.items())
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


def _edge_key(step: Step) -> EdgeKey:
    if isinstance(step, Compound):
        return step.paths, step.keys
    return step.path, step.conditions


def _relink(state: NameState, step: Step, old: NameState | None, new: NameState | None) -> None:
    if isinstance(step, Compound):
        state.relink_compound(step, new)
    else:
        state.relink(step.path, step.conditions, old, new)


def add_branch(state: NameState, steps: Sequence[Step], name: str, i: int = 0) -> NameState:
    """A copy of ``state`` in which the branch ``steps[i:]`` leads to a state naming ``name``."""
    new = state.copy()
    if i == len(steps):
        new.names = state.names | {name}
        return new.settle()
    step = steps[i]
    key = _edge_key(step)
    old = state.edges.get(key)
    child = add_branch(old if old is not None else NameState(), steps, name, i + 1)
    new.edges = {**state.edges, key: child}
    _relink(new, step, old, child)
    return new.settle()


def remove_branch(
    state: NameState, steps: Sequence[Step], name: str, i: int = 0
) -> NameState | None:
    """A copy of ``state`` without the branch (None when nothing would be left)."""
    if i == len(steps):
        if name not in state.names:
            return state
        new = state.copy()
        new.names = state.names - {name}
        return None if new.is_empty() else new.settle()
    step = steps[i]
    key = _edge_key(step)
    old = state.edges.get(key)
    if old is None:
        return state
    child = remove_branch(old, steps, name, i + 1)
    if child is old:
        return state
    new = state.copy()
    new.edges = dict(state.edges)
    if child is None:
        del new.edges[key]
    else:
        new.edges[key] = child
    _relink(new, step, old, child)
    return None if new.is_empty() else new.settle()


def run(root: NameState, fields: Fields, singles: Singles) -> set[str]:
    """The names of all rules whose branch the flattened event completes."""
    # Hot path: one lookup per (state, compound table), per (state, used path) and per leaf
    # and index kind. Partial matches that have committed to no array element (nearly all)
    # are plain states, visited once; a match that uses a leaf inside an array that matters
    # for array consistency continues in _run_committed. Exact-only, ranges-only and
    # prefixes-only field matchers (nearly all) are looked up inline; states that only name
    # rules are never pushed.
    result: set[str] = set()
    stack = [root]
    seen: set[NameState] = set()
    committed: list[tuple[NameState, Membership]] = []
    push = stack.append
    mark = seen.add
    several = ANY_SEVERAL in singles
    kids: Sequence[NameState] | None
    while stack:
        state = stack.pop()
        if state.names:
            result.update(state.names)
        for paths, getter, table in state.tables:
            keys = getter(singles)
            kid = table.get(keys)  # a None or SEVERAL never matches
            if kid is not None:
                if kid.final:
                    result.update(kid.names)
                elif kid not in seen:
                    mark(kid)
                    push(kid)
            elif several and SEVERAL in keys:
                for kid, merged in compound_matches(paths, table, fields, ()):
                    if merged:
                        committed.append((kid, merged))
                    elif kid not in seen:
                        mark(kid)
                        push(kid)
        for probe in state.fms:
            if probe[0] not in fields:  # most paths of a wide state are not in the event
                continue
            path, kind, a, b, fm = probe
            for key, value, membership in fields[path]:
                if kind == RANGES_ONLY:
                    t = type(key)
                    if t is not int and t is not float:
                        continue
                    i = bisect_left(a, key)
                    kids = b[2 * i + 1] if i < len(a) and a[i] == key else b[2 * i]
                elif kind == EXACT_ONLY:
                    kids = a.get(key)
                elif kind == PREFIXES_ONLY:
                    if type(value) is not str:
                        continue
                    kids = None
                    n = len(value)
                    for length in b:
                        if length > n:
                            break
                        hit = a.get(value[:length])
                        if hit:
                            kids = hit if kids is None else (*kids, *hit)
                else:
                    kids = fm.match(key, value)
                if not kids:
                    continue
                if membership:
                    committed.extend((kid, membership) for kid in kids)
                    continue
                for kid in kids:
                    if kid.final:
                        result.update(kid.names)
                    elif kid not in seen:
                        mark(kid)
                        push(kid)
        for path, absent_kids in state.absent:
            if path not in fields:
                for kid in absent_kids:
                    if kid not in seen:
                        mark(kid)
                        push(kid)
    if committed:
        _run_committed(committed, fields, result)
    return result


def _run_committed(
    stack: list[tuple[NameState, Membership]], fields: Fields, result: set[str]
) -> None:
    """Continue the partial matches that have committed to array elements (see ``run``)."""
    seen = set(stack)
    push = stack.append
    while stack:
        state, committed = stack.pop()
        if state.names:
            result.update(state.names)
        following: list[tuple[NameState, Membership]] = []
        for paths, _, table in state.tables:
            following.extend(compound_matches(paths, table, fields, committed))
        for path, _, _, _, fm in state.fms:
            for key, value, membership in fields.get(path, ()):
                kids = fm.match(key, value)
                merged = merge(committed, membership) if kids else None
                if merged is not None:
                    following.extend((kid, merged) for kid in kids)
        for path, absent_kids in state.absent:
            if path not in fields:
                following.extend((kid, committed) for kid in absent_kids)
        for pair in following:
            if pair not in seen:
                seen.add(pair)
                push(pair)
