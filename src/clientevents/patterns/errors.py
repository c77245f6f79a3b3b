"""The one error of the pattern language, and how it names a place in a pattern."""

from __future__ import annotations

from collections.abc import Sequence

Location = Sequence[str | int]
"""Where in a pattern: object keys (str) and array indexes (int), outermost first."""


def format_location(location: Location) -> str:
    """Render a location as ``detail.price``, ``$or[1].source`` or ``detail["a.b"]``.

    Keys that could be misread (empty, containing dots, brackets, quotes or spaces) are written
    as JSON strings in brackets, so the rendering never confuses ``{"a.b": ..}`` with
    ``{"a": {"b": ..}}``.
    """
    out: list[str] = []
    for part in location:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part and not any(c in part for c in '.[]" \t\n'):
            out.append(f".{part}" if out else part)
        else:
            quoted = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{quoted}"]')
    return "".join(out)


class InvalidEventPattern(ValueError):
    """An event pattern that EventBridge would reject.

    Attributes:
        path: where the problem is, rendered like ``detail.price`` ("" for the whole pattern).
        problem: what is wrong and, where it is known, how to fix it.
    """

    def __init__(self, problem: str, location: Location = ()) -> None:
        self.path = format_location(location)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
