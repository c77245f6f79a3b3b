"""Wildcard values: ``*`` matches any run of characters; ``\\*`` and ``\\\\`` are escapes.

A wildcard is compiled at rule-add time into its literal segments (the text between
unescaped stars). Matching is then a greedy left-to-right search: the first segment must be a
prefix, the last a suffix, and each middle segment is found with ``str.find`` after the
previous one. For patterns whose only operator is ``*`` the leftmost placement of each segment
is always safe, so this runs in linear time with no backtracking, no regular expression and no
per-event compilation.
"""

from __future__ import annotations

Segments = tuple[str, ...]
"""Literal pieces between stars; one segment means no star at all."""


def parse_wildcard(text: str) -> Segments:
    """Split a wildcard value into segments; raises ValueError for bad escapes or ``**``."""
    segments: list[str] = []
    current: list[str] = []
    i = 0
    previous_star = False
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in ("*", "\\"):
                raise ValueError(
                    f"invalid escape at position {i + 1} of wildcard {text!r}: only \\* and "
                    "\\\\ are escapes"
                )
            current.append(nxt)
            i += 2
            previous_star = False
            continue
        if c == "*":
            if previous_star:
                raise ValueError(
                    f"consecutive wildcard characters at position {i + 1} of {text!r}: "
                    "use a single *"
                )
            segments.append("".join(current))
            current = []
            previous_star = True
        else:
            current.append(c)
            previous_star = False
        i += 1
    segments.append("".join(current))
    return tuple(segments)


def star_count(segments: Segments) -> int:
    """How many wildcard characters a compiled wildcard has."""
    return len(segments) - 1


def wildcard_matches(segments: Segments, value: str) -> bool:
    """True when ``value`` matches the compiled wildcard."""
    if len(segments) == 1:
        return value == segments[0]
    first = segments[0]
    last = segments[-1]
    if not value.startswith(first):
        return False
    end = len(value) - len(last)
    if end < len(first) or not value.endswith(last):
        return False
    pos = len(first)
    for middle in segments[1:-1]:
        found = value.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True
