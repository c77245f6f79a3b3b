"""PutEvents' per-entry checks that are about sizes: entry size and JSON nesting depth.

Entry size follows EventBridge's published calculation ("Calculating PutEvents event entry
size"): the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail`` and of each ``Resources``
element, plus 14 bytes when ``Time`` is given. The envelope's own keys are not counted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TIME_BYTES", "exceeds_depth", "utf8_len"]

TIME_BYTES = 14
"""What a given ``Time`` adds to an entry's size."""


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (ASCII text costs no encoding)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def exceeds_depth(value: Any, max_depth: int, encoded: bytes | str | None = None) -> bool:
    """Whether ``value`` (parsed JSON) nests objects and arrays deeper than ``max_depth``.

    ``{}`` has depth 1, ``{"a": []}`` depth 2. When ``encoded`` (the JSON text of ``value``)
    is given and holds no more opening brackets than ``max_depth``, the answer is known
    without walking the value: depth can never exceed the number of opening brackets.
    """
    if encoded is not None:
        if len(encoded) <= 2 * max_depth + 1:  # each level takes an opening and a closing
            return False
        if isinstance(encoded, str):
            opens = encoded.count("{") + encoded.count("[")
        else:
            opens = encoded.count(b"{") + encoded.count(b"[")
        if opens <= max_depth:
            return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return True
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False
