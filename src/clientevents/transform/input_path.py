"""``InputPath``: pass the target one part of the event, as JSON text."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from clientevents.transform.errors import TransformError
from clientevents.transform.jsonpath import MISSING, JsonPath, compile_path


class InputPath:
    """A target's ``InputPath``, compiled once.

    Usage::

        shape = InputPath("$.detail.ticket")      # TransformError here if the path is invalid
        body = shape.apply(event)                 # '{"ticket":{...}}'

    Bracket notation for names is accepted (``$['detail']['ticket']``), as EventBridge's
    ``InputPath`` accepts it; see `compile_path` for the rest of the supported syntax.

    Attributes:
        path: the compiled path.
    """

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        try:
            self.path: JsonPath = compile_path(path, brackets=True)
        except TransformError as exc:
            raise TransformError(f"InputPath is invalid: {exc}") from exc

    def apply(self, event: dict[str, Any], *, rule_name: str = "") -> str:
        """Return the JSON text of the part of ``event`` the path selects.

        A string value is returned as a JSON string (with its quotes), an object or array as
        compact JSON, exactly the text the target receives.

        Raises:
            TransformError: the path matches nothing in this event (there is nothing to send),
                or the value cannot be written as JSON.
        """
        value = self.path.find(event)
        if value is MISSING:
            where = f"Rule {rule_name!r}: " if rule_name else ""
            raise TransformError(
                f"{where}InputPath {self.path.text!r} matches nothing in event "
                f"{_event_id(event)}, so there is no input to send to the target.",
                rule=rule_name,
            )
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError as exc:
            raise TransformError(
                f"InputPath {self.path.text!r} selects a value that cannot be written as JSON: "
                f"{exc}.",
                rule=rule_name,
            ) from exc

    def __repr__(self) -> str:
        return f"InputPath({self.path.text!r})"


@lru_cache(maxsize=1024)
def _compiled(path: str) -> InputPath:
    return InputPath(path)


def apply_input_path(event: dict[str, Any], path: str, *, rule_name: str = "") -> str:
    """Return the JSON text a target with ``InputPath: path`` receives for ``event``.

    The compiled path is cached, so calling this repeatedly with the same path is cheap; hold an
    `InputPath` to validate the path up front instead.

    Raises:
        TransformError: the path is invalid, or matches nothing in ``event``.
    """
    return _compiled(path).apply(event, rule_name=rule_name)


def _event_id(event: Any) -> str:
    event_id = event.get("id") if isinstance(event, dict) else None
    return repr(event_id) if isinstance(event_id, str) else "(without an id)"
