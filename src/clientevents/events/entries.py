"""Turn one PutEvents request entry into a log row, or into the entry's error.

Checks, in this order (the first failure is the entry's answer):

1. ``Source``, ``DetailType`` and ``Detail`` are present and non-empty
   (``InvalidArgument``: "Parameter Source is not valid. Reason: Source is a required argument.").
2. ``Source`` and ``DetailType`` are strings; ``Resources`` a list of strings; ``Time`` a
   timestamp; ``EventBusName`` a string (``InvalidArgument``).
3. The bus exists (``InvalidArgument``; EventBridge itself accepts events for unknown buses and
   drops them, which loses data silently, so this service refuses them).
4. The entry's size is at most ``limits.max_entry_bytes`` (``InvalidArgument``).
5. ``Detail`` is JSON text of an object (or, from internal callers, a dict), nested at most
   ``limits.max_json_depth`` deep (``MalformedDetail``: "Detail is malformed.").

Internal-only keys: ``Id`` (keep this event id), ``ReplayName``, ``ReplayRules``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from clientevents.events.envelope import EnvelopeShape, format_time, new_event_id, parse_time
from clientevents.events.limits import TIME_BYTES, exceeds_depth, utf8_len
from clientevents.log.records import LogRow

__all__ = ["DEFAULT_BUS", "EntryError", "EntryPreparer", "LogRow"]

DEFAULT_BUS = "default"
"""The bus an entry without ``EventBusName`` goes to; it must be configured under ``buses``."""

INVALID_ARGUMENT = "InvalidArgument"
MALFORMED_DETAIL = "MalformedDetail"

MAX_EVENT_ID_CHARS = 64


class EntryError(NamedTuple):
    """Why one entry was refused: a PutEvents ``ErrorCode`` and ``ErrorMessage``."""

    code: str
    message: str


def _required(name: str) -> EntryError:
    return EntryError(
        INVALID_ARGUMENT, f"Parameter {name} is not valid. Reason: {name} is a required argument."
    )


def _invalid(name: str, reason: str) -> EntryError:
    return EntryError(INVALID_ARGUMENT, f"Parameter {name} is not valid. Reason: {reason}")


MALFORMED = EntryError(MALFORMED_DETAIL, "Detail is malformed.")


class EntryPreparer:
    """Validates entries and builds their log rows for one configuration.

    Args:
        account: the envelope's ``account``.
        region: the envelope's ``region``.
        buses: the configured bus names.
        max_entry_bytes: the entry size limit (EventBridge's calculation).
        max_json_depth: how deep ``Detail`` may nest.
    """

    def __init__(
        self,
        *,
        account: str,
        region: str,
        buses: Iterable[str],
        max_entry_bytes: int,
        max_json_depth: int,
    ) -> None:
        self.account = account
        self.region = region
        self.buses = frozenset(buses)
        self.max_entry_bytes = max_entry_bytes
        self.max_json_depth = max_json_depth
        self._default_bus = DEFAULT_BUS if DEFAULT_BUS in self.buses else None
        # What :func:`clientevents.events.batch.prepare_batch` renders once per combination
        # of shared fields (a client's requests): their entry size and the record's head.
        self.batch_shared: dict[tuple[str, ...], tuple[int, str]] = {}
        self._last_shape: tuple[tuple[str, ...], EnvelopeShape] | None = None

    def resolve_bus(self, name: Any) -> str | EntryError:
        """The bus an ``EventBusName`` (a name or an event bus ARN; None = default) names."""
        if name is None or name == "":
            if self._default_bus is not None:
                return self._default_bus
            return _invalid(
                "EventBusName",
                f"EventBusName is required: no bus named {DEFAULT_BUS!r} is configured "
                f"(configured: {self._known()}).",
            )
        if type(name) is str and name in self.buses:
            return name
        if not isinstance(name, str):
            return _invalid("EventBusName", "EventBusName must be a string.")
        bus = name
        if bus.startswith("arn:"):
            bus = bus.rpartition(":event-bus/")[2] if ":event-bus/" in bus else ""
        if bus in self.buses:
            return bus
        return _invalid(
            "EventBusName",
            f"Event bus {name!r} does not exist (configured: {self._known()}).",
        )

    def _known(self) -> str:
        return ", ".join(sorted(self.buses)) or "none"

    def prepare(self, entry: Any, now: float, new_id: str | None = None) -> LogRow | EntryError:
        """Validate ``entry`` and build its row; ``now`` is the ingestion time (epoch seconds).

        ``new_id`` is the event id to give an entry without ``Id`` (a fresh one when None).
        Never raises for bad input: every problem becomes the entry's :class:`EntryError`.
        """
        if not isinstance(entry, dict):
            return _invalid("Entry", f"an entry must be an object, not {type(entry).__name__}.")
        get = entry.get
        source = get("Source")
        detail_type = get("DetailType")
        detail = get("Detail")
        if source is None or source == "":
            return _required("Source")
        if detail_type is None or detail_type == "":
            return _required("DetailType")
        if detail is None or detail == "":
            return _required("Detail")
        if not isinstance(source, str):
            return _invalid("Source", "Source must be a string.")
        if not isinstance(detail_type, str):
            return _invalid("DetailType", "DetailType must be a string.")

        size = utf8_len(source) + utf8_len(detail_type)
        resources = get("Resources")
        if resources is None:
            resources = []
        elif not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return _invalid("Resources", "Resources must be a list of strings.")
        else:
            for resource in resources:
                size += utf8_len(resource)

        raw_time = get("Time")
        if raw_time is None:
            event_time = now
        else:
            try:
                event_time = parse_time(raw_time)
            except ValueError as exc:
                return _invalid("Time", str(exc))
            size += TIME_BYTES

        bus = self.resolve_bus(get("EventBusName"))
        if isinstance(bus, EntryError):
            return bus

        if isinstance(detail, str):
            size += utf8_len(detail)
            if size > self.max_entry_bytes:
                return self.too_large(size)
            try:
                parsed = orjson.loads(detail)
            except orjson.JSONDecodeError:
                return MALFORMED
            if not isinstance(parsed, dict):
                return MALFORMED
            if exceeds_depth(parsed, self.max_json_depth, detail):
                return MALFORMED
            detail_json = orjson.dumps(parsed)
        elif isinstance(detail, dict):
            try:
                detail_json = orjson.dumps(detail)
            except (orjson.JSONEncodeError, TypeError):
                return MALFORMED
            size += len(detail_json)
            if size > self.max_entry_bytes:
                return self.too_large(size)
            if exceeds_depth(detail, self.max_json_depth, detail_json):
                return MALFORMED
        else:
            return MALFORMED

        event_id = get("Id")
        if event_id is None:
            event_id = new_id if new_id is not None else new_event_id()
        elif not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID_CHARS:
            return _invalid("Id", f"Id must be a string of 1 to {MAX_EVENT_ID_CHARS} characters.")

        replay_name = get("ReplayName")
        if replay_name is not None and not isinstance(replay_name, str):
            return _invalid("ReplayName", "ReplayName must be a string.")
        replay_rules = get("ReplayRules")
        rules_text: str | None = None
        if replay_rules is not None:
            if not isinstance(replay_rules, list | tuple) or not all(
                isinstance(r, str) for r in replay_rules
            ):
                return _invalid("ReplayRules", "ReplayRules must be a list of rule names.")
            rules_text = orjson.dumps(list(replay_rules)).decode()

        try:
            time_text = format_time(event_time)
            # Entries of one call usually share these: the last shape is kept.
            key = (detail_type, source, time_text, *resources)
            shape = self._last_shape
            if shape is None or shape[0] != key:
                shape = self._last_shape = (key, EnvelopeShape(
                    detail_type=detail_type,
                    source=source,
                    account=self.account,
                    time_text=time_text,
                    region=self.region,
                    resources=resources,
                ))
            body = shape[1].render(event_id, detail_json.decode(), replay_name)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate in Source
            return _invalid("Entry", "the entry holds text that is not valid Unicode.")
        return LogRow(bus, event_id, event_time, now, body, replay_name, rules_text)

    def too_large(self, size: int) -> EntryError:
        """The error of an entry of ``size`` bytes (EventBridge's calculation), over the limit."""
        return _invalid(
            "Entry",
            f"the entry is {size} bytes, over the limit of {self.max_entry_bytes} bytes "
            "(Source, DetailType, Detail and Resources in UTF-8, plus 14 for Time).",
        )
