"""How a value is written into a template, per `Context`, and the predefined variables' values.

The rules, from EventBridge's documentation and its recorded behaviour (see
docs/specs/input-transformers.md for the sources and docs/compatibility.md for our differences):

=============  ===============  ================  ====================  =======================
value          JSON_VALUE       JSON_STRING       TEXT                  TEXT_STRING
=============  ===============  ================  ====================  =======================
string         "JSON string"    text, escaped     text                  text
number/bool    JSON             JSON              JSON                  JSON
null           null             null              null                  null
object/array   JSON             refused (1)       JSON                  JSON without quotes (2)
missing        ""               (nothing)         (nothing)             (nothing)
=============  ===============  ================  ====================  =======================

(1) its quotes would end the string early: EventBridge produces invalid JSON and does not
deliver; we raise `TransformError` (unless the JSON text holds no quote or backslash, e.g. [1,2]).
(2) EventBridge "removes any internal quotes to ensure a valid string".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from clientevents.transform.jsonpath import MISSING
from clientevents.transform.template import Context


class Unplaceable(Exception):
    """A value cannot be written where the template puts it; the message says why."""


_dumps = orjson.dumps
# Characters that cannot appear raw inside a JSON string.
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _json(value: Any) -> str:
    try:
        return _dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise Unplaceable(f"cannot be written as JSON ({exc})") from exc


# The converters run for every placeholder of every render: each handles the common case (a
# string) first and inline, and calls `_json` for the rest.


def json_value(value: Any) -> str:
    """A JSON template, outside quotes: the value as JSON; a missing value as ``""``."""
    if value is MISSING:
        return '""'
    try:
        return _dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise Unplaceable(f"cannot be written as JSON ({exc})") from exc


def json_string(value: Any) -> str:
    """A JSON template, inside a string: the text of the value, escaped to stay in the string."""
    if type(value) is str:
        if _NEEDS_ESCAPE.search(value) is None:
            return value
        return _json(value)[1:-1]
    if value is MISSING:
        return ""
    text = _json(value)
    if isinstance(value, dict | list) and ('"' in text or "\\" in text):
        kind = "an object" if isinstance(value, dict) else "an array"
        raise Unplaceable(
            f"holds {kind} ({_preview(text)}) and the template puts it inside a JSON string, "
            "where its quotes would end the string; put the placeholder outside quotes"
        )
    return text


def text(value: Any) -> str:
    """A text template, outside quotes: strings as they are, anything else as JSON."""
    if type(value) is str:
        return value
    if value is MISSING:
        return ""
    return _json(value)


def text_string(value: Any) -> str:
    """A text template, inside quotes: as `text`, but objects and arrays lose their quotes."""
    if type(value) is str:
        return value
    if value is MISSING:
        return ""
    written = _json(value)
    if isinstance(value, dict | list):
        return written.replace('"', "")
    return written


CONVERTERS: Final[dict[Context, Callable[[Any], str]]] = {
    Context.JSON_VALUE: json_value,
    Context.JSON_STRING: json_string,
    Context.TEXT: text,
    Context.TEXT_STRING: text_string,
}


def _preview(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


# The keys of <aws.events.event> in the order EventBridge writes them, "detail-type" renamed.
_EVENT_KEYS: Final = (
    ("id", "id"),
    ("account", "account"),
    ("detail-type", "detailType"),
    ("time", "time"),
    ("source", "source"),
    ("region", "region"),
    ("resources", "resources"),
    ("version", "version"),
)
_RENAMED: Final = frozenset(key for key, _ in _EVENT_KEYS) | {"detail"}


def event_without_detail(event: dict[str, Any]) -> dict[str, Any]:
    """The value of ``<aws.events.event>``: the envelope without ``detail``, as EventBridge has it.

    EventBridge writes ``id, account, detailType, time, source, region, resources, version``
    (``detail-type`` becomes ``detailType``); any other top-level field (``replay-name``) follows
    under its own name.
    """
    shaped = {name: event[key] for key, name in _EVENT_KEYS if key in event}
    for key, value in event.items():
        if key not in _RENAMED:
            shaped[key] = value
    return shaped


def ingestion_time(event: dict[str, Any], given: datetime | float | str | None) -> Any:
    """The value of ``<aws.events.event.ingestion-time>``: ISO 8601, UTC, to the second.

    Args:
        event: the event; its ``time`` is used when ``given`` is None.
        given: when the event was received: an aware or naive-UTC datetime, epoch seconds, or an
            already formatted string (used as is).
    """
    if given is None:
        return event.get("time", MISSING)
    if isinstance(given, str):
        return given
    if isinstance(given, datetime):
        moment = given if given.tzinfo is not None else given.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromtimestamp(given, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise Unplaceable(f"is not a time ({given!r}: {exc})") from exc
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
