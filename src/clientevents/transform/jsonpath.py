"""The JSONPath subset EventBridge supports, compiled once into a tuple of steps.

EventBridge documents the paths it supports in ``InputPath`` and ``InputPathsMap`` as: dot
notation (``$.detail``), names made of alphanumerics, dashes, underscores and forward slashes,
array indexes (``$.resources[0]``) and wildcards (``*``). ``InputPath`` also accepts bracket
notation for names (``$['detail']['ticket']``); ``InputPathsMap`` does not ("You must use JSON
dot notation, not bracket notation"). Everything else JSONPath offers (filters ``[?(...)]``,
recursive descent ``..``, slices, unions, negative indexes, functions) is refused when the path is
compiled, with a message naming the construct; EventBridge itself does not validate paths when a
target is created and fails at delivery time instead.

A compiled path is a tuple of steps: ``str`` (an object key), ``int`` (an array index) or
`WILDCARD`. A path without wildcards is *definite* and yields one value or `MISSING`; a path with
wildcards yields the JSON array of every match, in document order (``[]`` when nothing matches).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from clientevents.transform.errors import TransformError

MAX_PATH_LENGTH: Final = 256
"""EventBridge's limit on an ``InputPath`` and on each ``InputPathsMap`` value."""


class _Missing:
    """The type of `MISSING`: what a path yields when the event has nothing there."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class _Wildcard:
    """The type of `WILDCARD`: the ``*`` step, every member of an object or array."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "WILDCARD"


WILDCARD: Final = _Wildcard()

Step = str | int | _Wildcard

# A dot-notation name: letters, digits, "_" (all of \w, Unicode included), "-" and "/".
_NAME = re.compile(r"[\w\-/]+")
_INDEX = re.compile(r"\[(0|[1-9][0-9]*)\]")
_BRACKET_NAME = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")


class JsonPath:
    """A compiled EventBridge JSONPath.

    Usage::

        path = compile_path("$.detail.ticket")
        value = path.find(event)          # MISSING when the event has no detail.ticket

    Attributes:
        text: the path as written.
        steps: the compiled steps.
        definite: True when the path has no wildcard (it yields at most one value).
    """

    __slots__ = ("_keys", "_names", "_only_names", "definite", "steps", "text")

    def __init__(self, text: str, steps: tuple[Step, ...]) -> None:
        self.text = text
        self.steps = steps
        self.definite = not any(isinstance(step, _Wildcard) for step in steps)
        # The same steps, typed without wildcards, for the definite fast path.
        self._keys: tuple[str | int, ...] = tuple(
            step for step in steps if not isinstance(step, _Wildcard)
        )
        # Paths of names only (the usual "$.detail.x.y"), for the fastest lookup.
        self._names: tuple[str, ...] = tuple(step for step in steps if isinstance(step, str))
        self._only_names = len(self._names) == len(steps)

    def find(self, document: Any) -> Any:
        """Return the value at this path in ``document``, or `MISSING`.

        A definite path returns the value itself (which may be ``None`` for a JSON null); a path
        with wildcards returns a list of every match.
        """
        # Hot path (the router calls this for every variable of every matched target): no
        # allocation for definite paths, one list for wildcard paths.
        value = document
        if self._only_names:
            # A name step on anything but an object raises TypeError, a missing name KeyError;
            # cheaper than checking types at every step when the path is found, the usual case.
            try:
                for name in self._names:
                    value = value[name]
            except (LookupError, TypeError):
                return MISSING
            return value
        if not self.definite:
            matches: list[Any] = []
            _collect(document, self.steps, 0, matches)
            return matches
        for step in self._keys:
            if isinstance(step, str):
                if not isinstance(value, dict):
                    return MISSING
                value = value.get(step, MISSING)
                if value is MISSING:
                    return MISSING
            elif isinstance(value, list) and step < len(value):
                value = value[step]
            else:
                return MISSING
        return value

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonPath) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)


def _collect(value: Any, steps: tuple[Step, ...], at: int, out: list[Any]) -> None:
    """Append to ``out`` every value ``steps[at:]`` reaches from ``value``, in document order."""
    if at == len(steps):
        out.append(value)
        return
    step = steps[at]
    if isinstance(step, _Wildcard):
        if isinstance(value, dict):
            for child in value.values():
                _collect(child, steps, at + 1, out)
        elif isinstance(value, list):
            for child in value:
                _collect(child, steps, at + 1, out)
    elif isinstance(step, str):
        if isinstance(value, dict) and step in value:
            _collect(value[step], steps, at + 1, out)
    elif isinstance(value, list) and step < len(value):
        _collect(value[step], steps, at + 1, out)


@lru_cache(maxsize=4096)
def compile_path(text: str, *, brackets: bool = False) -> JsonPath:
    """Compile an EventBridge JSONPath, or raise `TransformError` naming what is wrong.

    Args:
        text: the path, e.g. ``"$.detail.items[0].sku"``.
        brackets: also accept bracket notation for names (``$['detail']``), as ``InputPath``
            does; ``InputPathsMap`` values are compiled without it.

    Returns:
        The compiled path (cached: compiling the same text twice returns the same object).

    Raises:
        TransformError: the path is not in the subset EventBridge supports.
    """
    if not isinstance(text, str):
        raise TransformError(f"A JSONPath must be a string, not {type(text).__name__}: {text!r}.")
    if len(text) > MAX_PATH_LENGTH:
        raise TransformError(
            f"JSONPath {text[:40]!r}... is {len(text)} characters long; EventBridge allows at "
            f"most {MAX_PATH_LENGTH}."
        )
    if not text.startswith("$"):
        raise TransformError(
            f"JSONPath {text!r} must start with '$' (the event), for example '$.detail.id'."
        )
    steps: list[Step] = []
    at = 1
    while at < len(text):
        at = _compile_step(text, at, steps, brackets)
    return JsonPath(text, tuple(steps))


def _compile_step(text: str, at: int, steps: list[Step], brackets: bool) -> int:
    """Compile the step starting at ``text[at]`` into ``steps``; return where the next begins."""
    char = text[at]
    if char == ".":
        if text.startswith("..", at):
            raise _unsupported(text, at, "recursive descent '..'")
        if text.startswith(".*", at):
            steps.append(WILDCARD)
            return at + 2
        name = _NAME.match(text, at + 1)
        if name is None:
            raise _bad_name(text, at + 1)
        steps.append(name.group())
        return name.end()
    if char == "[":
        if text.startswith("[*]", at):
            steps.append(WILDCARD)
            return at + 3
        index = _INDEX.match(text, at)
        if index is not None:
            steps.append(int(index.group(1)))
            return index.end()
        quoted = _BRACKET_NAME.match(text, at)
        if quoted is not None:
            if not brackets:
                raise TransformError(
                    f"JSONPath {text!r} uses bracket notation at position {at}; InputPathsMap "
                    "values must use dot notation (for example '$.detail.name'), as EventBridge "
                    "requires."
                )
            raw = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
            steps.append(re.sub(r"\\(.)", r"\1", raw))
            return quoted.end()
        raise _unsupported(text, at, _describe_bracket(text, at))
    raise TransformError(
        f"JSONPath {text!r} has {char!r} at position {at} where '.name', '.*', '[index]' or "
        "'[*]' was expected."
    )


def _describe_bracket(text: str, at: int) -> str:
    """Name the unsupported bracket expression starting at ``text[at]``."""
    end = text.find("]", at)
    inner = text[at + 1 : end] if end != -1 else text[at + 1 :]
    if end == -1:
        return "an unclosed '['"
    if inner.startswith("?"):
        return f"the filter expression [{inner}]"
    if ":" in inner:
        return f"the slice [{inner}]"
    if "," in inner:
        return f"the union [{inner}]"
    if inner.lstrip().startswith("-"):
        return f"the negative index [{inner}]"
    if inner.startswith("(") or "@" in inner:
        return f"the script expression [{inner}]"
    return f"the bracket expression [{inner}]"


def _unsupported(text: str, at: int, what: str) -> TransformError:
    return TransformError(
        f"JSONPath {text!r} uses {what} at position {at}, which EventBridge does not support; "
        "use dot names, '[index]' with a non-negative index, or the wildcard '*'."
    )


def _bad_name(text: str, at: int) -> TransformError:
    found = repr(text[at]) if at < len(text) else "the end of the path"
    return TransformError(
        f"JSONPath {text!r} has {found} at position {at} where a name was expected; names may "
        "contain letters, digits, '_', '-' and '/' (EventBridge's dot notation)."
    )
