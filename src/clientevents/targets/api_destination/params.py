"""A target's ``http_parameters``, rendered when an event is routed.

The router calls :meth:`HttpParametersRenderer.render` for each delivery of an
``api_destination`` target that has ``http_parameters``, and stores the result beside the
payload (the delivery's ``attributes``): a JSON object ``{"path": [...], "headers": {...},
"query": {...}}`` with every value final. A value starting with ``$.`` is a JSON path into the
event, resolved here, when the event is at hand; the others are copied. So a delivery keeps the
parameters it was routed with through retries and the dead-letter queue, as it keeps its payload.

Resolution, as for EventBridge's dynamic parameters: a string is used as it is; a number, a
boolean, an object or an array as its JSON text. A path parameter whose path matches nothing
(or ``null``) makes the delivery a ``TransformError`` (there is no URL to call); a header or
query string parameter whose path matches nothing is left out. A header value taken from the
event that holds a line break or another control character is a ``TransformError``: it would
let an event write headers of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from clientevents.config.api_destinations import HttpParametersConfig, is_dynamic_value
from clientevents.transform import MISSING, JsonPath, TransformError, compile_path

__all__ = ["HttpParameters", "HttpParametersRenderer"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class HttpParameters:
    """The final HTTP parameters of one delivery."""

    path: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """The ``attributes`` text stored with the delivery."""
        return orjson.dumps({"path": self.path, "headers": self.headers,
                             "query": self.query}).decode()

    @classmethod
    def from_json(cls, text: str | None) -> HttpParameters:
        """Read a delivery's ``attributes`` (``None`` or ``{}``: no parameters).

        Raises:
            ValueError: the text is not such an object (a damaged row).
        """
        if not text:
            return cls()
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("delivery attributes are not a JSON object")
        path = data.get("path") or []
        headers = data.get("headers") or {}
        query = data.get("query") or {}
        if not (isinstance(path, list) and isinstance(headers, dict) and isinstance(query, dict)):
            raise ValueError("delivery attributes have the wrong shape")
        return cls([str(v) for v in path], {str(k): str(v) for k, v in headers.items()},
                   {str(k): str(v) for k, v in query.items()})


def _text(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class HttpParametersRenderer:
    """Renders one target's ``http_parameters`` for each event (compiled once)."""

    def __init__(self, config: HttpParametersConfig, *, rule: str = "") -> None:
        self.rule = rule
        self._path = [self._compile(v) for v in config.path_parameter_values]
        self._headers = {k: self._compile(v) for k, v in config.header_parameters.items()}
        self._query = {k: self._compile(v) for k, v in config.query_string_parameters.items()}

    @staticmethod
    def _compile(value: str) -> str | JsonPath:
        return compile_path(value, brackets=True) if is_dynamic_value(value) else value

    def render(self, event: dict[str, Any]) -> str:
        """The delivery's ``attributes`` for ``event``.

        Raises:
            TransformError: a path parameter is missing from the event, or a header value from
                the event holds a control character.
        """
        path: list[str] = []
        for i, item in enumerate(self._path):
            if isinstance(item, str):
                path.append(item)
                continue
            value = _text(item.find(event))
            if value is None or value == "":
                raise TransformError(
                    f"Rule {self.rule!r}: path_parameter_values[{i}] {item.text!r} matches "
                    f"nothing in event {event.get('id', '?')!r}, so there is no URL to call.",
                    rule=self.rule,
                )
            path.append(value)
        headers: dict[str, str] = {}
        for name, item in self._headers.items():
            value = item if isinstance(item, str) else _text(item.find(event))
            if value is None:
                continue
            if _CONTROL.search(value):
                raise TransformError(
                    f"Rule {self.rule!r}: header {name!r} from {getattr(item, 'text', item)!r} "
                    f"holds a line break or control character in event "
                    f"{event.get('id', '?')!r}; it cannot be sent as a header.",
                    rule=self.rule,
                )
            headers[name] = value
        query: dict[str, str] = {}
        for key, item in self._query.items():
            value = item if isinstance(item, str) else _text(item.find(event))
            if value is not None:
                query[key] = value
        return HttpParameters(path, headers, query).to_json()
