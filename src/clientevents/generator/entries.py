"""The entries the blueprint's clients send: five event types, and one malformed entry.

The texts are exactly those of the reference ingest request (``examples/`` and the samples
shipped with the tests): each ``entry`` is JSON text of an object with ``eventType``,
``schemaVersion`` and ``data``. ``loyaltypurchase`` also carries the ticket the second rule
sends to the ticketing API. The malformed ``shopping`` entry (one closing brace too many) is
what a real client once sent; the server must answer it with a per-entry error.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

__all__ = ["ENTRIES", "EVENT_TYPES", "MALFORMED", "MALFORMED_SHOPPING", "EntryPicker"]

ENTRIES: Final[dict[str, str]] = {
    "shopping": '{"eventType": "shopping", "schemaVersion": 1, "data": {"itemSku": 123}}',
    "searching": '{"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}}',
    "paging": '{"eventType": "paging", "schemaVersion": 2, "data": {"searchTerm": "games", '
    '"page": 3}}',
    "purchase": '{"eventType": "purchase", "schemaVersion": 2, "data": {"itemSku": 123}}',
    "loyaltypurchase": '{"eventType": "loyaltypurchase", "schemaVersion": 2, "data": '
    '{"itemSku": 123}, "ticket": {"ticket": {"subject": "Loyalty customer purchase", '
    '"comment": {"body": "This customer has made a loyalty purchase"}}}}',
}
"""Entry text by event type."""

EVENT_TYPES: Final = tuple(ENTRIES)
"""The five event types, in the reference request's order."""

MALFORMED: Final = "shopping (malformed)"
"""The name the malformed entry goes by in choices and counts."""

MALFORMED_SHOPPING: Final = (
    '{"eventType": "shopping", "schemaVersion":1, "data": {"itemSku":123}}}'
)
"""The blueprint's malformed shopping entry (one closing brace too many)."""


class EntryPicker:
    """Chooses a batch's entries at random, as the blueprint's generator does.

    Without ``loyalty`` the choice is among the four types other than ``loyaltypurchase``;
    ``errors`` adds the malformed shopping entry to the choice.
    """

    def __init__(self, *, loyalty: bool, errors: bool, seed: int | None = None) -> None:
        kinds = [k for k in EVENT_TYPES if loyalty or k != "loyaltypurchase"]
        if errors:
            kinds.append(MALFORMED)
        self.kinds: tuple[str, ...] = tuple(kinds)
        self._random = random.Random(seed)

    def pick(self, count: int) -> list[tuple[str, str]]:
        """``count`` entries as ``(kind, entry text)``."""
        return [(kind, text_of(kind)) for kind in self._random.choices(self.kinds, k=count)]


def text_of(kind: str) -> str:
    """The entry text of an event type or of :data:`MALFORMED`."""
    return MALFORMED_SHOPPING if kind == MALFORMED else ENTRIES[kind]


def kinds_of(entries: Sequence[tuple[str, str]]) -> list[str]:
    """The kinds of picked entries."""
    return [kind for kind, _ in entries]
