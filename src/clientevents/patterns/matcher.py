"""Matcher: many named rules compiled into one automaton, matched without locks.

Concurrency model (the class enforcing it): any number of threads may call
:meth:`Matcher.matches_for_event` at any time without locking; :meth:`Matcher.add` and
:meth:`Matcher.remove` serialise on one lock. A writer builds the new automaton root from the
current one, copying only the states on the changed branches (see ``automaton.py``), and
publishes it together with the new path tree by assigning one attribute. A reader reads that
attribute once per event, so it sees every rule either entirely before or entirely after a
change (a replaced rule is never seen half-added, and never absent in between).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from clientevents.patterns.automaton import NameState, Step, add_branch, remove_branch, run
from clientevents.patterns.compile import Path
from clientevents.patterns.compound import Compound
from clientevents.patterns.flatten import PathNode, build_path_tree, flatten_with_singles
from clientevents.patterns.pattern import EventPattern, check_event


class _Snapshot:
    __slots__ = ("root", "tree")

    def __init__(self, root: NameState, tree: PathNode) -> None:
        self.root = root
        self.tree = tree


class Matcher:
    """Named event patterns, matched together.

    Example::

        m = Matcher()
        m.add("purchases", {"detail": {"eventType": ["loyaltypurchase"]}})
        m.add("all", '{"source": ["clientevents"]}')
        m.matches_for_event(event)   # {"purchases", "all"}
        m.remove("all")

    Matching costs in proportion to the event's leaves on paths some rule uses and to the
    partial matches they make, not to the number of rules.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, EventPattern] = {}
        self._path_users: dict[Path, int] = {}
        self._canonical: dict[Path, Path] = {}  # one tuple object per used path (see add)
        self._snapshot = _Snapshot(NameState(), build_path_tree(set()))

    def add(self, name: str, pattern: EventPattern | Mapping[str, Any] | str) -> None:
        """Add a rule, or replace the rule of that name.

        Raises:
            InvalidEventPattern: the pattern is invalid (the matcher is unchanged).
        """
        compiled = pattern if isinstance(pattern, EventPattern) else EventPattern(pattern)
        with self._lock:
            snapshot = self._snapshot
            root = snapshot.root
            previous = self._rules.get(name)
            if previous is not None:
                root = self._without(root, name, previous)
            for steps in compiled.steps:
                root = add_branch(root, self._canonical_steps(steps), name)
            self._rules[name] = compiled
            tree = self._track_paths(compiled.paths, previous.paths if previous else frozenset())
            self._snapshot = _Snapshot(root, tree or snapshot.tree)

    def remove(self, name: str) -> bool:
        """Remove a rule; returns False when there is no rule of that name."""
        with self._lock:
            previous = self._rules.pop(name, None)
            if previous is None:
                return False
            snapshot = self._snapshot
            root = self._without(snapshot.root, name, previous)
            tree = self._track_paths(frozenset(), previous.paths)
            self._snapshot = _Snapshot(root, tree or snapshot.tree)
            return True

    def matches_for_event(self, event: dict[str, Any]) -> set[str]:
        """The names of every rule that matches the event (a parsed JSON object)."""
        snapshot = self._snapshot  # the one read of shared state
        return run(snapshot.root, *flatten_with_singles(check_event(event), snapshot.tree))

    def names(self) -> list[str]:
        """The rule names, in the order they were first added."""
        return list(self._rules)

    def pattern(self, name: str) -> EventPattern:
        """The pattern of a rule (KeyError when there is none)."""
        return self._rules[name]

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    @staticmethod
    def _without(root: NameState, name: str, pattern: EventPattern) -> NameState:
        for steps in pattern.steps:
            root = remove_branch(root, steps, name) or NameState()
        return root

    def _canonical_steps(self, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        """``steps`` with every path replaced by the matcher's one object for that path.

        The states, the path tree and every event's fields then share the same path tuples
        (and key strings), so matching hashes and compares paths that are already in the
        processor's cache instead of each rule's own copies.
        """
        canonical = self._canonical
        out: list[Step] = []
        for step in steps:
            if isinstance(step, Compound):
                paths = tuple(canonical.setdefault(p, _interned(p)) for p in step.paths)
                out.append(Compound(paths, step.keys))
            else:
                path = canonical.setdefault(step.path, _interned(step.path))
                out.append(replace(step, path=path))
        return tuple(out)

    def _track_paths(self, added: frozenset[Path], removed: frozenset[Path]) -> PathNode | None:
        """Count rules per path; a new tree when the set of used paths changed, else None."""
        changed = False
        for path in added:
            count = self._path_users.get(path, 0)
            changed = changed or count == 0
            self._path_users[path] = count + 1
        for path in removed:
            count = self._path_users[path] - 1
            if count:
                self._path_users[path] = count
            else:
                del self._path_users[path]
                self._canonical.pop(path, None)
                changed = True
        if not changed:
            return None
        canonical = self._canonical
        return build_path_tree({canonical.setdefault(p, _interned(p)) for p in self._path_users})


def _interned(path: Path) -> Path:
    return tuple(sys.intern(key) for key in path)
