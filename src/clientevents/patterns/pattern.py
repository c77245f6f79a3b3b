"""EventPattern: one validated pattern, its matching and the explanation of a non-match."""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import product
from typing import Any, Final

from clientevents.patterns.automaton import NameState, Step, add_branch, run
from clientevents.patterns.compile import Branch, Field, Path, compile_branches, load_pattern
from clientevents.patterns.compound import Compound
from clientevents.patterns.conditions import (
    EqualsIgnoreCase,
    Exact,
    Exists,
    IpEqual,
    selectivity_rank,
)
from clientevents.patterns.errors import format_location
from clientevents.patterns.flatten import PathNode, build_path_tree, flatten, flatten_with_singles

_SELF = "pattern"
_EQUALITIES = (Exact, IpEqual, EqualsIgnoreCase)


MAX_SPLIT: Final = 64


def ordered(branch: Branch) -> tuple[Field, ...]:
    """The order in which the automaton steps a branch's fields: selective ones first."""
    return tuple(sorted(branch, key=lambda f: (selectivity_rank(f.conditions), f.path)))


def automaton_steps(branches: tuple[Branch, ...]) -> tuple[tuple[Step, ...], ...]:
    """The step sequences the automaton stores for a pattern.

    A field whose values are all plain equalities (``["a", "b"]``) is split into one sequence
    per value (as long as a branch yields at most :data:`MAX_SPLIT` sequences). OR within a
    field is OR between sequences, so the meaning is unchanged, but the edges become
    ``(path, {"a"})`` and ``(path, {"b"})``, which every rule naming ``"a"`` or ``"b"`` shares:
    rules listing different combinations of the same values reuse states instead of each
    adding its own. Then, when a sequence has two or more single-value exact fields, they
    become one :class:`Compound` step in front (see :func:`compound_first`).
    """
    steps: dict[tuple[Step, ...], None] = {}
    for branch in branches:
        options: list[list[Field]] = []
        count = 1
        for f in ordered(branch):
            splittable = len(f.conditions) > 1 and all(
                isinstance(c, _EQUALITIES) for c in f.conditions
            )
            if splittable and count * len(f.conditions) <= MAX_SPLIT:
                count *= len(f.conditions)
                options.append([Field(f.path, frozenset((c,)), f.source) for c in f.conditions])
            else:
                options.append([f])
        for combination in product(*options):
            steps[compound_first(combination)] = None
    return tuple(steps)


def compound_first(fields: tuple[Field, ...]) -> tuple[Step, ...]:
    """The fields with all single-value exact ones merged into one leading compound step.

    AND is commutative, so the order of steps does not change the meaning; a compound step
    costs one lookup per event instead of one state per field (``compound.py``).
    """
    exact: list[tuple[Path, Exact]] = []
    rest: list[Field] = []
    for f in fields:
        (only,) = f.conditions if len(f.conditions) == 1 else (None,)
        if type(only) is Exact:
            exact.append((f.path, only))
        else:
            rest.append(f)
    if len(exact) < 2:
        return fields
    exact.sort(key=lambda item: item[0])
    compound = Compound(tuple(p for p, _ in exact), tuple(c.key for _, c in exact))
    return (compound, *rest)


def check_event(event: object) -> dict[str, Any]:
    """Refuse what is not a JSON object, with a message saying what it was."""
    if not isinstance(event, dict):
        raise TypeError(f"an event must be a JSON object (dict), got {type(event).__name__}")
    return event


class EventPattern:
    """A validated EventBridge event pattern.

    Args:
        pattern: the pattern as a dict or as JSON text.

    Raises:
        InvalidEventPattern: the pattern is not one EventBridge accepts; the message names the
            JSON path and the problem, like ``detail.price: numeric operator '>' must be
            followed by a number``.

    Example::

        p = EventPattern({"detail": {"eventType": ["loyaltypurchase"]}})
        p.matches(event)   # True or False
        p.explain(event)   # [] when it matches, else what failed, field by field
    """

    __slots__ = ("_root", "_tree", "branches", "paths", "source", "steps")

    def __init__(self, pattern: Mapping[str, Any] | str) -> None:
        self.source: dict[str, Any] = load_pattern(pattern)
        self.branches: tuple[Branch, ...] = compile_branches(self.source)
        self.paths: frozenset[Path] = frozenset(f.path for b in self.branches for f in b)
        self.steps: tuple[tuple[Step, ...], ...] = automaton_steps(self.branches)
        root = NameState()
        for steps in self.steps:
            root = add_branch(root, steps, _SELF)
        self._root = root
        # Built on first use: a pattern added to a Matcher is matched through the matcher's own
        # tree, so most patterns never need one.
        self._tree: PathNode | None = None

    def _path_tree(self) -> PathNode:
        tree = self._tree
        if tree is None:  # two threads may both build it: the trees are equal, either will do
            tree = self._tree = build_path_tree(self.paths)
        return tree

    def matches(self, event: dict[str, Any]) -> bool:
        """True when the event matches (the same automaton and semantics as :class:`Matcher`)."""
        return bool(run(self._root, *flatten_with_singles(check_event(event), self._path_tree())))

    def explain(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Why the event does not match: ``[]`` when it does.

        Otherwise a list of ``{"path", "wanted", "had"}`` dicts, one per failing field of the
        branch (``$or`` alternative) that came closest: ``path`` is the field's dotted path,
        ``wanted`` the pattern's value list for it, ``had`` the event's leaf values there
        (``[]`` when it has none). When every field holds on its own but only with values from
        different elements of the same array, the entries carry a ``note`` saying so.
        """
        if self.matches(event):
            return []
        fields = flatten(event, self._path_tree())
        best: list[dict[str, Any]] | None = None
        for branch in self.branches:
            failures: list[dict[str, Any]] = []
            for f in branch:
                leaves = fields.get(f.path, [])
                if not _field_holds(f, leaves):
                    failures.append(_entry(f, leaves))
            if not failures:
                failures = [
                    {
                        **_entry(f, fields.get(f.path, [])),
                        "note": "each value matches, but they are in different elements of the "
                        "same array",
                    }
                    for f in branch
                    if any(m for _, _, m in fields.get(f.path, []))
                ]
            if best is None or len(failures) < len(best):
                best = failures
        return best or []

    def to_json(self) -> str:
        """The pattern as compact JSON text."""
        return json.dumps(self.source, separators=(",", ":"), ensure_ascii=False)

    def __repr__(self) -> str:
        return f"EventPattern({self.to_json()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventPattern) and self.branches == other.branches

    def __hash__(self) -> int:
        return hash(self.branches)


def _field_holds(f: Field, leaves: list[Any]) -> bool:
    if not leaves:
        return any(isinstance(c, Exists) and not c.present for c in f.conditions)
    return any(c.test(key, value) for key, value, _ in leaves for c in f.conditions)


def _entry(f: Field, leaves: list[Any]) -> dict[str, Any]:
    return {
        "path": format_location(f.path),
        "wanted": list(f.source),
        "had": [value for _, value, _ in leaves],
    }
