"""Events: the envelope, PutEvents validation and the :class:`Publisher`."""

from __future__ import annotations

from clientevents.events.entries import DEFAULT_BUS, EntryError, EntryPreparer, LogRow
from clientevents.events.envelope import ENVELOPE_KEYS, format_time, new_event_id, parse_time
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
