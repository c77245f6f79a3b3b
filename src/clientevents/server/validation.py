"""Validation of ingest request bodies and of each entry, with optional JSON Schemas.

The request body must be ``{"entries": [{"entry": <JSON text of an object> | <object>}, ...]}``
with 1..``max_entries_per_request`` items; anything else is a 400 naming the problem
(:class:`~clientevents.server.errors.RequestRejected`). Each entry is then checked on its own and
a bad entry gets its own PutEvents-style error, so the good ones still go through:

=========================  =================================================================
ErrorCode                  when
=========================  =================================================================
``MalformedDetail``        the entry is not JSON text of an object (nor an object)
``InvalidArgument``        the entry is larger than ``max_entry_bytes`` or nested deeper than
                           ``max_json_depth``
``SchemaValidationFailed`` a JSON Schema configured for the entry's ``eventType`` (and
                           ``schemaVersion``) rejects it; the message names the JSON pointer
=========================  =================================================================

Schemas are compiled once, when the :class:`EntryValidator` is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from clientevents.server.errors import bad_request


@dataclass(frozen=True, slots=True)
class EntryError:
    """A per-entry failure in PutEvents' shape; ``reason`` is the metric label."""

    code: str
    message: str
    reason: str

    def result(self) -> dict[str, str]:
        """The PutEvents result entry for this failure."""
        return {"ErrorCode": self.code, "ErrorMessage": self.message}


@dataclass(frozen=True, slots=True)
class SchemaRule:
    """A JSON Schema for one ``eventType`` (and, when given, one ``schemaVersion``)."""

    event_type: str
    schema_version: int | str | None
    schema: Mapping[str, Any]


def parse_entries(body: bytes, *, max_entries: int) -> list[Any]:
    """Parse an ingest body and return the raw ``entry`` values, in request order.

    Raises:
        RequestRejected: 400 with a message naming what was wrong.
    """
    if not body.strip():
        raise bad_request('The request body is empty; send {"entries": [{"entry": "..."}]}.')
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).", "not_json") from None
    if not isinstance(doc, dict):
        raise bad_request(
            f"The request body must be a JSON object with an 'entries' array, "
            f"got a JSON {_json_type(doc)}.",
        )
    if "entries" not in doc:
        raise bad_request(
            'The request body has no "entries" field; send {"entries": [{"entry": "..."}]}.'
        )
    items = doc["entries"]
    if not isinstance(items, list):
        raise bad_request(f'"entries" must be an array, got a JSON {_json_type(items)}.')
    if not items:
        raise bad_request('"entries" is empty; send between 1 and '
                          f"{max_entries} entries.")
    if len(items) > max_entries:
        raise bad_request(
            f'"entries" has {len(items)} items; at most {max_entries} are allowed a request. '
            "Split the batch.",
            "too_many_entries",
        )
    values: list[Any] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad_request(
                f"entries[{index}] must be an object like {{\"entry\": \"...\"}}, "
                f"got a JSON {_json_type(item)}."
            )
        if "entry" not in item:
            raise bad_request(f'entries[{index}] has no "entry" field.')
        values.append(item["entry"])
    return values


class EntryValidator:
    """Turns raw ``entry`` values into detail objects, or :class:`EntryError`.

    Example::

        validator = EntryValidator(max_entry_bytes=262144, max_depth=64, schemas=[...])
        detail_or_error = validator.check(raw_entry)
    """

    def __init__(
        self,
        *,
        max_entry_bytes: int,
        max_depth: int,
        schemas: Iterable[SchemaRule] = (),
    ) -> None:
        self.max_entry_bytes = max_entry_bytes
        self.max_depth = max_depth
        self._schemas: dict[tuple[str, str | None], Any] = {}
        for rule in schemas:
            cls = validators.validator_for(rule.schema)
            cls.check_schema(rule.schema)
            version = None if rule.schema_version is None else str(rule.schema_version)
            self._schemas[(rule.event_type, version)] = cls(rule.schema)

    def check(self, raw: Any) -> dict[str, Any] | EntryError:
        """Return the entry as a detail object, or the per-entry error it earns."""
        if isinstance(raw, str):
            # A character is at most 4 UTF-8 bytes: encode only when the length is in doubt.
            if len(raw) * 4 > self.max_entry_bytes and (
                len(raw.encode("utf-8", "surrogatepass")) > self.max_entry_bytes
            ):
                return self._too_large()
            try:
                detail = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                return EntryError("MalformedDetail", f"The entry is not valid JSON ({exc}).",
                                  "malformed_detail")
            if not isinstance(detail, dict):
                return EntryError(
                    "MalformedDetail",
                    f"The entry must be a JSON object, got a JSON {_json_type(detail)}.",
                    "malformed_detail",
                )
        elif isinstance(raw, dict):
            detail = raw
            # Depth first: orjson.dumps refuses objects nested deeper than 255 levels (the
            # body's parser allows 1024), and it must never see one.
            if json_depth(detail, self.max_depth) > self.max_depth:
                return self._too_deep()
            if len(orjson.dumps(detail)) > self.max_entry_bytes:
                return self._too_large()
        else:
            return EntryError(
                "MalformedDetail",
                "The entry must be JSON text of an object, or an object; "
                f"got a JSON {_json_type(raw)}.",
                "malformed_detail",
            )
        # Depth never exceeds the number of opening brackets, nor half the text's length:
        # most entries skip the walk (objects were checked above).
        if (
            isinstance(raw, str)
            and len(raw) > 2 * self.max_depth + 1
            and raw.count("{") + raw.count("[") > self.max_depth
            and json_depth(detail, self.max_depth) > self.max_depth
        ):
            return self._too_deep()
        if self._schemas:
            failure = self._check_schema(detail)
            if failure is not None:
                return failure
        return detail

    def _too_deep(self) -> EntryError:
        return EntryError(
            "InvalidArgument",
            f"The entry is nested more than {self.max_depth} levels deep.",
            "too_deep",
        )

    def _too_large(self) -> EntryError:
        return EntryError(
            "InvalidArgument",
            f"The entry is larger than {self.max_entry_bytes} bytes.",
            "too_large",
        )

    def _check_schema(self, detail: dict[str, Any]) -> EntryError | None:
        event_type = detail.get("eventType")
        if not isinstance(event_type, str):
            return None
        version = detail.get("schemaVersion")
        validator = None
        if version is not None and not isinstance(version, (dict, list)):
            validator = self._schemas.get((event_type, str(version)))
        if validator is None:
            validator = self._schemas.get((event_type, None))
        if validator is None:
            return None
        error = schema_exceptions.best_match(validator.iter_errors(detail))
        if error is None:
            return None
        pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1")
                          for p in error.absolute_path)
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        return EntryError(
            "SchemaValidationFailed",
            f"The entry does not match the schema of eventType {event_type!r} at "
            f"{pointer or '/'} ({error.validator}): {message}",
            "schema_validation",
        )


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0); stops counting past ``limit``."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return deepest


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
