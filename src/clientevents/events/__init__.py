"""Events: the envelope, PutEvents validation and the :class:`Publisher`.

The names load on first use (PEP 562), so that importing the envelope module alone, as the
event log does to expand stored batches, does not import the publisher, which imports the log.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clientevents.events.entries import DEFAULT_BUS, EntryError, EntryPreparer, LogRow
    from clientevents.events.envelope import (
        ENVELOPE_KEYS,
        format_time,
        new_event_id,
        parse_time,
    )
    from clientevents.events.publisher import INTERNAL_FAILURE, Publisher, PutEventsRequestError

__all__ = [
    "DEFAULT_BUS",
    "ENVELOPE_KEYS",
    "INTERNAL_FAILURE",
    "EntryError",
    "EntryPreparer",
    "LogRow",
    "Publisher",
    "PutEventsRequestError",
    "format_time",
    "new_event_id",
    "parse_time",
]

_HOMES = {
    "DEFAULT_BUS": "entries",
    "EntryError": "entries",
    "EntryPreparer": "entries",
    "LogRow": "entries",
    "ENVELOPE_KEYS": "envelope",
    "format_time": "envelope",
    "new_event_id": "envelope",
    "parse_time": "envelope",
    "INTERNAL_FAILURE": "publisher",
    "Publisher": "publisher",
    "PutEventsRequestError": "publisher",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
