"""Wildcard complexity: how many match states one input can keep active at once.

EventBridge refuses a rule whose wildcards are "too complex". The measure is the one of
aws/event-ruler's ``MachineComplexityEvaluator``: every field of a rule is matched by a
byte-level automaton (a ``ByteMachine``), and the complexity of that automaton is the largest
number of states, on the paths of ``wildcard`` and ``anything-but``/``wildcard`` values, in
which some input value can be at the same time, each counted once per value it leads to. A
rule is refused when one of its automata exceeds :data:`MAX_WILDCARD_COMPLEXITY` (10).

The automaton of one wildcard value is built as event-ruler builds it, on the UTF-8 bytes of
the value written as JSON text (between double quotes), one state per token:

- a literal byte leads to the next state; a ``*`` is a state that loops on every byte and is
  also entered, without reading a byte, together with the state before it (``*`` may match
  nothing);
- the values of one ``anything-but`` wildcard list form one automaton: they share the states
  of their common star-free beginning, the first ``*`` after it and the final state, and have
  their own states after a star;
- different values have their own states (event-ruler shares beginnings across values too, but
  a shared state counts once per value it leads to, which is the same total).

The evaluation explores the sets of states one input can reach (the subset construction),
over the bytes that occur in the values plus one stand-in for every other byte, and stops as
soon as a set reaches the cap. For example, ``*:*:*:*:*:event-bus/*`` keeps 11 states active
after the input ``":::::`` (six stars and five colons), so it is refused, while
``arn:aws:s3:::bucket/*/report-*.csv`` never has more than 3.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Final

from clientevents.patterns.wildcard import Segments

MAX_WILDCARD_COMPLEXITY: Final = 10
"""The largest complexity EventBridge accepts for the wildcards of one field."""

MAX_EXPANSIONS: Final = 200_000
"""Work budget of one evaluation (set-and-byte steps); beyond it the wildcards are refused."""

WildcardSet = tuple[Segments, ...]
"""The values of one wildcard pattern object: one for ``wildcard``, several for an
``anything-but`` wildcard list."""

Term = tuple[Hashable, WildcardSet | None]
"""One match value of a field as the complexity check sees it: an identity (equal values lead
to the same next state) and its wildcards (None for other operators)."""

_STAR: Final = -1
_QUOTE: Final = 0x22


class _Automaton:
    """States of the wildcard values of one field; state 0 is the start and counts nothing."""

    def __init__(self) -> None:
        self.literal: list[dict[int, list[int]]] = [{}]
        self.stars: list[list[int]] = [[]]  # star states entered together with a state
        self.loops: list[bool] = [False]

    def new_state(self, loops: bool = False) -> int:
        self.literal.append({})
        self.stars.append([])
        self.loops.append(loops)
        return len(self.loops) - 1

    def add_edge(self, state: int, byte: int, target: int) -> None:
        targets = self.literal[state].setdefault(byte, [])
        if target not in targets:
            targets.append(target)

    def add_set(self, values: WildcardSet, quoted: bool) -> None:
        """Add the values of one pattern object (see the module docstring for the sharing)."""
        determinate: dict[tuple[int, int], int] = {}
        first_star: dict[int, int] = {}
        final = -1
        for segments in values:
            tokens = _tokens(segments, quoted)
            state = 0
            fixed = True  # no star read yet: states may be shared within the object
            for i, token in enumerate(tokens):
                if token == _STAR:
                    nxt = first_star.get(state, -1) if fixed else -1
                    if nxt < 0:
                        nxt = self.new_state(loops=True)
                        if fixed:
                            first_star[state] = nxt
                    if nxt not in self.stars[state]:
                        self.stars[state].append(nxt)
                    fixed = False
                else:
                    if i == len(tokens) - 1:
                        if final < 0:
                            final = self.new_state()
                        nxt = final
                    elif fixed:
                        nxt = determinate.get((state, token), -1)
                        if nxt < 0:
                            nxt = determinate[(state, token)] = self.new_state()
                    else:
                        nxt = self.new_state()
                    self.add_edge(state, token, nxt)
                state = nxt

    def evaluate(self, cap: int, budget: int) -> int:
        """The largest number of states one input keeps active, or ``cap`` if it reaches it."""
        count = len(self.loops)
        closure = [1 << s for s in range(count)]
        for s in range(count):
            for star in self.stars[s]:
                closure[s] |= 1 << star
        steps: list[dict[int, int]] = []
        for s in range(count):
            moves: dict[int, int] = {}
            for byte, targets in self.literal[s].items():
                mask = 0
                for t in targets:
                    mask |= closure[t]
                moves[byte] = mask
            steps.append(moves)
        keep = [1 << s if self.loops[s] else 0 for s in range(count)]
        start = closure[0]
        seen = {start}
        pending = [start]
        best = 0
        work = 0
        while pending:
            active = pending.pop()
            members = _bits(active)
            kept = 0
            for s in members:
                kept |= keep[s]
            nexts = {kept} if kept else set()
            for byte in {b for s in members for b in steps[s]}:
                mask = kept
                for s in members:
                    mask |= steps[s].get(byte, 0)
                nexts.add(mask)
            for mask in nexts:
                work += 1
                size = mask.bit_count()
                if size >= cap or work > budget:
                    return cap
                best = max(best, size)
                if mask not in seen:
                    seen.add(mask)
                    pending.append(mask)
        return best


def _bits(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _tokens(segments: Segments, quoted: bool) -> list[int]:
    tokens: list[int] = [_QUOTE] if quoted else []
    for i, segment in enumerate(segments):
        if i:
            tokens.append(_STAR)
        tokens.extend(segment.encode("utf-8"))
    if quoted:
        tokens.append(_QUOTE)
    return tokens


def wildcard_complexity(
    patterns: Iterable[WildcardSet],
    cap: int = MAX_WILDCARD_COMPLEXITY + 1,
    *,
    quoted: bool = True,
    budget: int = MAX_EXPANSIONS,
) -> int:
    """The complexity of the wildcard pattern objects of one field, at most ``cap``.

    Args:
        patterns: one entry per distinct pattern object: ``(segments,)`` for a ``wildcard``
            value, the tuple of all its values for an ``anything-but`` wildcard list.
        cap: evaluation stops when this value is reached (and returns it).
        quoted: match the values as JSON text, between double quotes, as EventBridge does;
            False measures the bare values (the figures of event-ruler's own unit tests).
        budget: set-and-byte steps allowed before giving up and returning ``cap``.
    """
    automaton = _Automaton()
    for values in dict.fromkeys(patterns):
        automaton.add_set(values, quoted)
    if len(automaton.loops) == 1:
        return 0
    return automaton.evaluate(cap, budget)


class _Name:
    """A state of the rule's field automaton: per field key, the values leading on."""

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, _Field] = {}


class _Field:
    __slots__ = ("next", "path", "wildcards")

    def __init__(self, path: Sequence[str]) -> None:
        self.path = tuple(path)
        self.next: dict[Hashable, _Name] = {}
        self.wildcards: dict[WildcardSet, None] = {}


def most_complex_field(
    branches: Iterable[Sequence[tuple[Sequence[str], Sequence[Term]]]],
    cap: int = MAX_WILDCARD_COMPLEXITY + 1,
) -> tuple[tuple[str, ...], int] | None:
    """The field whose wildcards are the most complex, with that complexity (at most ``cap``).

    ``branches`` are the AND-branches of one rule, each a sequence of ``(path, terms)``; None
    when no field has a wildcard. As in event-ruler, the branches are added to one machine:
    fields in the order of their dotted names, each value leading to a next state shared by
    the values of the same field (and by equal values of other branches), so branches that
    reach the same state put their wildcards for one field into the same automaton, which is
    evaluated as a whole. Every automaton is evaluated, also those behind ``exists: false``.
    The search stops at the first field that reaches ``cap``.
    """
    root = _Name()
    for branch in branches:
        states = [root]
        for path, terms in sorted(branch, key=lambda item: ".".join(item[0])):
            key = ".".join(path)
            reached: dict[int, _Name] = {}
            for state in states:
                field = state.fields.get(key)
                if field is None:
                    field = state.fields[key] = _Field(path)
                last: _Name | None = None
                for identity, wildcards in terms:
                    nxt = field.next.get(identity)
                    if nxt is None:
                        nxt = last if last is not None else _Name()
                        field.next[identity] = nxt
                    last = nxt
                    reached[id(nxt)] = nxt
                    if wildcards is not None:
                        field.wildcards[wildcards] = None
            states = list(reached.values())
    return _most_complex(root, cap)


def _most_complex(root: _Name, cap: int) -> tuple[tuple[str, ...], int] | None:
    best: tuple[tuple[str, ...], int] | None = None
    seen: set[int] = set()
    pending = [root]
    while pending:
        state = pending.pop()
        if id(state) in seen:
            continue
        seen.add(id(state))
        for field in state.fields.values():
            if field.wildcards:
                complexity = wildcard_complexity(field.wildcards, cap)
                if best is None or complexity > best[1]:
                    best = field.path, complexity
                if complexity >= cap:
                    return best
            pending.extend({id(s): s for s in field.next.values()}.values())
    return best
