"""``InputTransformer``: an ``InputPathsMap`` and an ``InputTemplate``, checked, compiled once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from clientevents.transform import render
from clientevents.transform.errors import TransformError
from clientevents.transform.jsonpath import JsonPath, compile_path
from clientevents.transform.template import Context, parse_template

MAX_VARIABLES: Final = 100
"""EventBridge's limit on ``InputPathsMap`` entries."""

RULE_ARN: Final = "aws.events.rule-arn"
RULE_NAME: Final = "aws.events.rule-name"
INGESTION_TIME: Final = "aws.events.event.ingestion-time"
EVENT: Final = "aws.events.event"
EVENT_JSON: Final = "aws.events.event.json"
PREDEFINED_VARIABLES: Final = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON})
"""The variables every template may use without defining them; reserved as names."""

_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,256}")

# Where a predefined variable's value comes from.
_RULE_NAME, _RULE_ARN, _INGESTION, _EVENT, _EVENT_JSON = range(5)
_PREDEFINED_KIND: Final = {
    RULE_NAME: _RULE_NAME,
    RULE_ARN: _RULE_ARN,
    INGESTION_TIME: _INGESTION,
    EVENT: _EVENT,
    EVENT_JSON: _EVENT_JSON,
}


class InputTransformer:
    """A target's ``InputTransformer``: variables taken from the event, written into a template.

    Usage::

        shape = InputTransformer(
            {"instance": "$.detail.instance-id", "state": "$.detail.state"},
            '{"instance": <instance>, "status": "is <state>"}',
        )                                         # TransformError here if either is invalid
        body = shape.render(event, rule_name="ec2", rule_arn="arn:aws:events:...:rule/ec2")
        # '{"instance":"i-0123456789","status":"is RUNNING"}'

    The template is parsed once into literals and placeholders and each path compiled once, so
    `render` only looks values up and joins strings. A template whose first non-blank character
    is ``{`` or ``[`` is a JSON template: it is validated here, rendered minified, and `render`
    never returns invalid JSON (it raises instead). Any other template is text and is rendered
    as text. docs/specs/input-transformers.md states every rule.

    Args:
        input_paths_map: variable name -> JSONPath (dot notation); up to 100 entries; may be
            None or empty when the template uses only predefined variables.
        input_template: the template, 1 to 8192 characters.

    Raises:
        TransformError: a name or path in the map is invalid, or the template is invalid or uses
            a placeholder that is neither a map key nor a predefined variable.
    """

    __slots__ = (
        "_finders",
        "_head",
        "_names",
        "_predefined",
        "_slots",
        "input_paths_map",
        "input_template",
        "is_json",
    )

    def __init__(self, input_paths_map: Mapping[str, str] | None, input_template: str) -> None:
        paths = _compile_map(input_paths_map)
        parsed = parse_template(input_template)
        self.input_paths_map: Mapping[str, str] = MappingProxyType(
            {name: path.text for name, path in paths.items()}
        )
        self.input_template = input_template
        self.is_json = parsed.is_json

        used: list[str] = []  # placeholder names in order of first use
        for placeholder in parsed.placeholders:
            name = placeholder.name
            if name not in paths and name not in PREDEFINED_VARIABLES:
                raise TransformError(
                    f"The InputTemplate contains invalid placeholder <{name}> (at position "
                    f"{placeholder.position}): it is neither a key of InputPathsMap nor a "
                    f"predefined variable ({', '.join(sorted(PREDEFINED_VARIABLES))})."
                )
            if name in (EVENT, EVENT_JSON) and placeholder.context is Context.JSON_STRING:
                raise TransformError(
                    f"The InputTemplate puts <{name}> inside a JSON string (at position "
                    f"{placeholder.position}); it is a whole JSON object, so it can only be the "
                    f'value of a field, for example {{"event": <{name}>}}.'
                )
            if name not in used:
                used.append(name)
        # Values are computed in this order: the path variables, then the predefined ones.
        names = [name for name in used if name in paths]
        names += [name for name in used if name not in paths]
        self._names = tuple(names)
        self._finders: tuple[Callable[[Any], Any], ...] = tuple(
            paths[name].find for name in names if name in paths
        )
        self._predefined = tuple(_PREDEFINED_KIND[name] for name in names if name not in paths)
        self._head = parsed.literals[0]
        self._slots: tuple[tuple[int, Callable[[Any], str], str], ...] = tuple(
            (names.index(placeholder.name), render.CONVERTERS[placeholder.context], literal)
            for placeholder, literal in zip(parsed.placeholders, parsed.literals[1:], strict=True)
        )

    def render(
        self,
        event: dict[str, Any],
        *,
        rule_name: str = "",
        rule_arn: str = "",
        ingestion_time: datetime | float | str | None = None,
    ) -> str:
        """Return the text the target receives for ``event``.

        Args:
            event: the matched event (the envelope, as a dict).
            rule_name: the value of ``<aws.events.rule-name>``, also named in errors.
            rule_arn: the value of ``<aws.events.rule-arn>``.
            ingestion_time: when the event was received, for
                ``<aws.events.event.ingestion-time>``: a datetime, epoch seconds, or a formatted
                string; the event's own ``time`` when None.

        Raises:
            TransformError: a value cannot be placed where the template puts it (for example an
                object inside a JSON string), so the output would not be valid JSON.
        """
        # Hot path: one list of values, one list of parts, one join; no per-call closures.
        values = [find(event) for find in self._finders] if self._finders else []
        index = len(values)  # the variable being computed or written, named if that fails
        try:
            for kind in self._predefined:
                if kind == _EVENT_JSON:
                    values.append(event)
                elif kind == _RULE_NAME:
                    values.append(rule_name)
                elif kind == _RULE_ARN:
                    values.append(rule_arn)
                elif kind == _EVENT:
                    values.append(render.event_without_detail(event))
                else:
                    values.append(render.ingestion_time(event, ingestion_time))
                index += 1
            parts = [self._head]
            append = parts.append
            for index, convert, literal in self._slots:
                append(convert(values[index]))
                append(literal)
        except render.Unplaceable as exc:
            raise self._render_error(event, rule_name, self._names[index], str(exc)) from exc
        return "".join(parts)

    def _render_error(
        self, event: dict[str, Any], rule_name: str, name: str, reason: str
    ) -> TransformError:
        where = f"Rule {rule_name!r}: the" if rule_name else "The"
        event_id = event.get("id") if isinstance(event, dict) else None
        path = self.input_paths_map.get(name)
        variable = f"<{name}> ({path})" if path else f"<{name}>"
        return TransformError(
            f"{where} input template cannot be rendered for event {event_id!r}: {variable} "
            f"{reason}.",
            rule=rule_name,
        )

    def __repr__(self) -> str:
        return f"InputTransformer({dict(self.input_paths_map)!r}, {self.input_template!r})"


def _compile_map(input_paths_map: Mapping[str, str] | None) -> dict[str, JsonPath]:
    """Check every name and path of an ``InputPathsMap``; return the compiled paths."""
    if input_paths_map is None:
        return {}
    if not isinstance(input_paths_map, Mapping):
        raise TransformError(
            "InputPathsMap must be a mapping of variable names to JSONPaths, not "
            f"{type(input_paths_map).__name__}."
        )
    if len(input_paths_map) > MAX_VARIABLES:
        raise TransformError(
            f"InputPathsMap defines {len(input_paths_map)} variables; EventBridge allows at most "
            f"{MAX_VARIABLES}."
        )
    compiled: dict[str, JsonPath] = {}
    for name, path in input_paths_map.items():
        if not isinstance(name, str):
            raise TransformError(f"InputPathsMap key {name!r} must be a string.")
        if name.lower().startswith("aws."):
            raise TransformError(
                f"InputPathsMap key {name!r} is reserved: names starting with 'aws.' belong to "
                "EventBridge's predefined variables, which templates use without defining them."
            )
        if _VARIABLE_NAME.fullmatch(name) is None:
            raise TransformError(
                f"InputPathsMap key {name!r} is not a valid variable name: use 1 to 256 letters, "
                "digits, '_' or '-'."
            )
        if not isinstance(path, str):
            raise TransformError(
                f"InputPathsMap[{name!r}] must be a JSONPath string, not {type(path).__name__}."
            )
        try:
            compiled[name] = compile_path(path)
        except TransformError as exc:
            raise TransformError(f"InputPathsMap[{name!r}] is invalid: {exc}") from exc
    return compiled
