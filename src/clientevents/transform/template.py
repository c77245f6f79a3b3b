"""Parse an ``InputTemplate`` once into literal text and placeholders, each with its context.

A template whose first non-blank character is ``{`` or ``[`` is a *JSON template*; any other is
a *text template*. Both are cut into alternating literals and placeholders (``<name>``); what a
placeholder's value becomes depends on its *context*:

- `Context.JSON_VALUE`: a JSON template, outside quotes (``{"id": <id>}``): the value as JSON;
- `Context.JSON_STRING`: a JSON template, inside a string (``{"msg": "id <id>"}``);
- `Context.TEXT`: a text template, outside quotes (``Hello <name>``);
- `Context.TEXT_STRING`: a text template, inside quotes (``"Hello <name>"``).

A JSON template is checked when it is parsed: with every placeholder replaced by a stand-in of
the same length it must be valid JSON (so error positions are the template's own), and no
placeholder may stand in an object key (EventBridge: "The placeholder cannot be used as an object
key"). Its literals are then minified (whitespace outside strings removed, except before and
after the whole value), since EventBridge passes JSON to targets minified.

Only the scanner here knows the template syntax; what a value renders to lives in `render.py`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

import orjson

from clientevents.transform.errors import TransformError

MAX_TEMPLATE_LENGTH: Final = 8192
"""EventBridge's limit on an ``InputTemplate``."""

# Anything shaped like <name> is a placeholder (and must be defined): variable names are
# [A-Za-z0-9_-]+ and the predefined ones add dots ("aws.events.rule-name").
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_BLANK = " \t\r\n"


class Context(enum.Enum):
    """Where a placeholder stands, which decides how its value is written."""

    JSON_VALUE = "json-value"
    JSON_STRING = "json-string"
    TEXT = "text"
    TEXT_STRING = "text-string"


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``<name>`` in a template.

    Attributes:
        name: the variable name between the angle brackets.
        context: where it stands.
        position: the offset of its ``<`` in the template, for error messages.
    """

    name: str
    context: Context
    position: int


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """A template cut into ``literals[0] placeholders[0] literals[1] ... literals[-1]``.

    Attributes:
        is_json: True for a JSON template (its rendered output is JSON).
        literals: the text around the placeholders; one more than there are placeholders.
        placeholders: the placeholders in order of appearance.
    """

    is_json: bool
    literals: tuple[str, ...]
    placeholders: tuple[Placeholder, ...]


def is_json_template(template: str) -> bool:
    """True when ``template`` is a JSON template: its first non-blank character is { or [."""
    stripped = template.lstrip(_BLANK)
    return stripped[:1] in ("{", "[")


def parse_template(template: str) -> ParsedTemplate:
    """Parse ``template``, or raise `TransformError` naming the problem and where it is.

    Raises:
        TransformError: the template is empty, too long, or is a JSON template that is not
            valid JSON once its placeholders are filled, or that puts a placeholder in a key.
    """
    if not isinstance(template, str):
        raise TransformError(
            f"An InputTemplate must be a string, not {type(template).__name__}: {template!r}."
        )
    if not template:
        raise TransformError(
            "The InputTemplate is empty; EventBridge requires 1 to 8192 characters."
        )
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise TransformError(
            f"The InputTemplate is {len(template)} characters long; EventBridge allows at most "
            f"{MAX_TEMPLATE_LENGTH}."
        )
    if is_json_template(template):
        return _JsonScanner(template).scan()
    return _scan_text(template)


def _scan_text(template: str) -> ParsedTemplate:
    """Cut a text template; quotes only decide which placeholders stand inside a string."""
    literals: list[str] = []
    placeholders: list[Placeholder] = []
    in_string = False
    start = at = 0
    while at < len(template):
        char = template[at]
        if char == "\\" and in_string:
            at += 2
            continue
        if char == '"':
            in_string = not in_string
        elif char == "<":
            found = _PLACEHOLDER.match(template, at)
            if found is not None:
                literals.append(template[start:at])
                context = Context.TEXT_STRING if in_string else Context.TEXT
                placeholders.append(Placeholder(found.group(1), context, at))
                start = at = found.end()
                continue
        at += 1
    literals.append(template[start:])
    return ParsedTemplate(False, tuple(literals), tuple(placeholders))


class _JsonScanner:
    """One pass over a JSON template: cut it, check keys, minify, then validate with a probe."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.literals: list[str] = []
        self.placeholders: list[Placeholder] = []
        self.current: list[str] = []  # the literal being built, minified
        self.probe: list[str] = []  # the template with same-length stand-ins for placeholders
        # Structure, enough to know whether a string or placeholder stands in a key.
        self.stack: list[str] = []
        self.expect_key = False
        self.last = ""  # the last structural character outside strings

    def scan(self) -> ParsedTemplate:
        template = self.template
        body_start = len(template) - len(template.lstrip(_BLANK))
        body_end = len(template.rstrip(_BLANK))
        self.current.append(template[:body_start])
        self.probe.append(template[:body_start])
        at = body_start
        while at < body_end:
            char = template[at]
            if char == '"':
                at = self._string(at)
            elif char == "<" and (found := _PLACEHOLDER.match(template, at)) is not None:
                self._placeholder(found, Context.JSON_VALUE)
                at = found.end()
            else:
                self._structure(char)
                if char not in _BLANK:
                    self.current.append(char)
                self.probe.append(char)
                at += 1
        self.current.append(template[body_end:])
        self.probe.append(template[body_end:])
        self.literals.append("".join(self.current))
        self._validate("".join(self.probe))
        return ParsedTemplate(True, tuple(self.literals), tuple(self.placeholders))

    def _structure(self, char: str) -> None:
        if char not in _BLANK:
            self.last = char
        if char in "{[":
            self.stack.append(char)
            self.expect_key = char == "{"
        elif char in "}]":
            if self.stack:
                self.stack.pop()
            self.expect_key = False
        elif char == ":":
            self.expect_key = False
        elif char == ",":
            self.expect_key = bool(self.stack) and self.stack[-1] == "{"

    def _string(self, at: int) -> int:
        """Scan the string opening at ``template[at]``; return the offset after it."""
        template = self.template
        is_key = self.expect_key and self.last in ("{", ",")
        self.last = '"'
        self.current.append('"')
        self.probe.append('"')
        at += 1
        while at < len(template):
            char = template[at]
            if char == "\\":
                escape = template[at : at + 2]
                self.current.append(escape)
                self.probe.append(escape)
                at += 2
                continue
            if char == '"':
                self.current.append('"')
                self.probe.append('"')
                return at + 1
            if char == "<" and (found := _PLACEHOLDER.match(template, at)) is not None:
                if is_key:
                    raise TransformError(
                        f"The InputTemplate puts placeholder <{found.group(1)}> inside an object "
                        f"key (at position {at}); EventBridge does not allow placeholders in "
                        "keys. Use a fixed key and put the placeholder in the value."
                    )
                self._placeholder(found, Context.JSON_STRING)
                at = found.end()
                continue
            self.current.append(char)
            self.probe.append(char)
            at += 1
        return at  # unterminated: the probe parse reports it

    def _placeholder(self, found: re.Match[str], context: Context) -> None:
        width = found.end() - found.start()
        if context is Context.JSON_VALUE:
            if self.expect_key and self.last in ("{", ","):
                raise TransformError(
                    f"The InputTemplate uses placeholder <{found.group(1)}> as an object key (at "
                    f"position {found.start()}); EventBridge does not allow placeholders as keys."
                )
            # "[]" is a complete value wherever one may stand and invalid next to a sign or
            # another value, so the probe fails exactly when the template is malformed.
            self.probe.append("[]" + " " * (width - 2))
            self.last = "]"
        else:
            self.probe.append("x" * width)
        self.literals.append("".join(self.current))
        self.current = []
        self.placeholders.append(Placeholder(found.group(1), context, found.start()))

    def _validate(self, probe: str) -> None:
        try:
            orjson.loads(probe)
        except orjson.JSONDecodeError as exc:
            raise TransformError(
                f"The InputTemplate starts with {probe.lstrip(_BLANK)[0]!r}, so it must be valid "
                f"JSON once its placeholders are filled, and it is not: {exc}. A placeholder may "
                'stand for a whole value (<name>) or inside a string ("id <name>"), nowhere '
                "else."
            ) from exc
