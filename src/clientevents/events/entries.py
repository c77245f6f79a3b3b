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

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from clientevents.events.envelope import encode_envelope, format_time, new_event_id, parse_time
from clientevents.events.limits import TIME_BYTES, exceeds_depth, utf8_len

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


class LogRow(NamedTuple):
    """One event ready to append: the columns of the ``events`` table after ``seq``."""

    bus: str
    event_id: str
    time: float
    ingested_at: float
    body: str
    replay_name: str | None
    replay_rules: str | None


def _required(name: str) -> EntryError:
    return EntryError(
        INVALID_ARGUMENT, f"Parameter {name} is not valid. Reason: {name} is a required argument."
    )


def _invalid(name: str, reason: str) -> EntryError:
    return EntryError(INVALID_ARGUMENT, f"Parameter {name} is not valid. Reason: {reason}")


_MALFORMED = EntryError(MALFORMED_DETAIL, "Detail is malformed.")


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
        self._arn_prefix = f"arn:aws:events:{region}:{account}:event-bus/"
        self._default_bus = DEFAULT_BUS if DEFAULT_BUS in self.buses else None
        # (source, detail-type) -> the envelope's constant text around the time, and their size
        self._heads: dict[tuple[str, str], tuple[str, str, int]] = {}

    def resolve_bus(self, name: Any) -> str | EntryError:
        """The bus an ``EventBusName`` (a name or an event bus ARN; None = default) names."""
        if name is None or name == "":
            if DEFAULT_BUS in self.buses:
                return DEFAULT_BUS
            return _invalid(
                "EventBusName",
                f"EventBusName is required: no bus named {DEFAULT_BUS!r} is configured "
                f"(configured: {self._known()}).",
            )
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
        # Hot path (a few microseconds an entry): the common, valid entry. Anything unusual
        # (a missing or mistyped field, Time, Id, a replay, an ARN, a problem) takes the
        # careful path below, which gives the same result and names every problem.
        if type(entry) is dict and len(entry) <= 5:
            source = entry.get("Source")
            detail_type = entry.get("DetailType")
            detail = entry.get("Detail")
            resources = entry.get("Resources")
            bus = entry.get("EventBusName")
            if bus is None:
                bus = self._default_bus
            if (
                type(source) is str
                and source
                and type(detail_type) is str
                and detail_type
                and type(detail) is str
                and detail
                and (resources is None or type(resources) is list)
                and bus in self.buses
                and len(entry) == 3 + (resources is not None) + ("EventBusName" in entry)
                and source.isascii()
                and detail_type.isascii()
                and detail.isascii()
            ):
                size = len(source) + len(detail_type) + len(detail)
                plain = True
                if resources is None:
                    resources = []
                else:
                    for resource in resources:
                        if type(resource) is not str or not resource.isascii():
                            plain = False
                            break
                        size += len(resource)
                if plain and size <= self.max_entry_bytes:
                    try:
                        parsed = orjson.loads(detail)
                    except orjson.JSONDecodeError:
                        return _MALFORMED
                    if type(parsed) is dict and (
                        detail.count("{") + detail.count("[") <= self.max_json_depth
                        or not exceeds_depth(parsed, self.max_json_depth)
                    ):
                        event_id = new_id if new_id is not None else new_event_id()
                        head = orjson.dumps(
                            {
                                "version": "0",
                                "id": event_id,
                                "detail-type": detail_type,
                                "source": source,
                                "account": self.account,
                                "time": format_time(now),
                                "region": self.region,
                                "resources": resources,
                            }
                        )
                        body = b"".join((head[:-1], b',"detail":', orjson.dumps(parsed), b"}"))
                        return LogRow(bus, event_id, now, now, body.decode(), None, None)
        return self._prepare_checked(entry, now, new_id)

    def _prepare_checked(self, entry: Any, now: float, new_id: str | None) -> LogRow | EntryError:
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
                return self._too_large(size)
            try:
                parsed = orjson.loads(detail)
            except orjson.JSONDecodeError:
                return _MALFORMED
            if not isinstance(parsed, dict):
                return _MALFORMED
            if exceeds_depth(parsed, self.max_json_depth, detail):
                return _MALFORMED
            detail_json = orjson.dumps(parsed)
        elif isinstance(detail, dict):
            try:
                detail_json = orjson.dumps(detail)
            except (orjson.JSONEncodeError, TypeError):
                return _MALFORMED
            size += len(detail_json)
            if size > self.max_entry_bytes:
                return self._too_large(size)
            if exceeds_depth(detail, self.max_json_depth, detail_json):
                return _MALFORMED
        else:
            return _MALFORMED

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
            body = encode_envelope(
                event_id=event_id,
                detail_type=detail_type,
                source=source,
                account=self.account,
                time_text=format_time(event_time),
                region=self.region,
                resources=resources,
                detail_json=detail_json,
                replay_name=replay_name,
            )
        except orjson.JSONEncodeError:  # e.g. a lone surrogate in Source
            return _invalid("Entry", "the entry holds text that is not valid Unicode.")
        return LogRow(bus, event_id, event_time, now, body.decode(), replay_name, rules_text)

    def _too_large(self, size: int) -> EntryError:
        return _invalid(
            "Entry",
            f"the entry is {size} bytes, over the limit of {self.max_entry_bytes} bytes "
            "(Source, DetailType, Detail and Resources in UTF-8, plus 14 for Time).",
        )

    def prepare_details(
        self,
        details: Sequence[Any],
        *,
        source: str,
        detail_type: str,
        resources: list[str],
        bus: str,
        now: float,
        ids: Sequence[str],
    ) -> list[LogRow | EntryError]:
        """Rows for events that share everything but ``Detail`` (one gateway request's batch).

        The result is what :meth:`prepare` gives for each entry ``{"Source": source,
        "DetailType": detail_type, "Detail": detail, "Resources": resources, "EventBusName":
        bus}`` with the event id ``ids[i]``, byte for byte, but the envelope's shared parts are
        rendered once for the batch: an event costs one ``orjson.dumps`` of its detail and one
        string assembly. Anything unusual about the shared fields takes :meth:`prepare`.
        """
        head = self._batch_head(source, detail_type, resources, bus, now)
        if head is None:
            return [
                self.prepare(
                    {"Source": source, "DetailType": detail_type, "Detail": detail,
                     "Resources": resources, "EventBusName": bus},
                    now,
                    new_id,
                )
                for detail, new_id in zip(details, ids, strict=True)
            ]
        middle, base_size = head
        max_bytes = self.max_entry_bytes
        max_depth = self.max_json_depth
        dumps = orjson.dumps
        out: list[LogRow | EntryError] = []
        append = out.append
        for detail, event_id in zip(details, ids, strict=True):
            if type(detail) is not dict:
                append(
                    self.prepare(
                        {"Source": source, "DetailType": detail_type, "Detail": detail,
                         "Resources": resources, "EventBusName": bus},
                        now,
                        event_id,
                    )
                )
                continue
            try:
                detail_json = dumps(detail)
            except (orjson.JSONEncodeError, TypeError):
                append(_MALFORMED)
                continue
            size = base_size + len(detail_json)
            if size > max_bytes:
                append(self._too_large(size))
            elif exceeds_depth(detail, max_depth, detail_json):
                append(_MALFORMED)
            else:
                append(
                    LogRow(
                        bus,
                        event_id,
                        now,
                        now,
                        f'{{"version":"0","id":"{event_id}{middle}{detail_json.decode()}}}',
                        None,
                        None,
                    )
                )
        return out

    def _batch_head(
        self, source: Any, detail_type: Any, resources: Any, bus: Any, now: float
    ) -> tuple[str, int] | None:
        """The envelope text between the id and the detail, and the fields' entry size.

        None when a shared field is missing, mistyped, not valid Unicode or names an unknown
        bus: :meth:`prepare` then gives each entry its error.
        """
        if not (
            type(source) is str
            and source
            and type(detail_type) is str
            and detail_type
            and type(resources) is list
            and all(type(r) is str for r in resources)
            and type(bus) is str
            and bus in self.buses
        ):
            return None
        key = (source, detail_type)
        parts = self._heads.get(key)
        if parts is None:
            try:
                parts = (
                    '","detail-type":'
                    + orjson.dumps(detail_type).decode()
                    + ',"source":'
                    + orjson.dumps(source).decode()
                    + ',"account":'
                    + orjson.dumps(self.account).decode()
                    + ',"time":"',
                    '","region":' + orjson.dumps(self.region).decode() + ',"resources":',
                    utf8_len(source) + utf8_len(detail_type),
                )
            except orjson.JSONEncodeError:  # e.g. a lone surrogate
                return None
            if len(self._heads) < 64:
                self._heads[key] = parts
        before_time, before_resources, size = parts
        try:
            resources_json = orjson.dumps(resources).decode()
        except orjson.JSONEncodeError:
            return None
        for resource in resources:
            size += utf8_len(resource)
        middle = (
            before_time + format_time(now) + before_resources + resources_json + ',"detail":'
        )
        return middle, size
