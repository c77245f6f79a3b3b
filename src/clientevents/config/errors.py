"""Configuration errors that name the file, the field path and the problem, one per line.

Pydantic reports locations as tuples (``("rules", 2, "targets", 0, "log", "path")``); this
module turns them into the paths people read (``rules[2].targets[0].path``), adds the names of the
rule and target concerned and the line in the file, and words the common problems helpfully
(an unknown key names the keys allowed there and the closest match).
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from clientevents.errors import ConfigError

__all__ = [
    "ConfigFileError",
    "ConfigValidationError",
    "format_location",
    "problems_from_validation_error",
]

Location = tuple[str | int, ...]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Collections whose items are named, and how an item is called in messages.
_ITEM_LABELS = {
    "buses": ("bus", "name"),
    "rules": ("rule", "name"),
    "targets": ("target", "id"),
    "stages": ("stage", "name"),
    "archives": ("archive", "name"),
    "streams": ("stream", "name"),
    "delivery_streams": ("delivery stream", "name"),
    "processors": ("processor", "type"),
    "issuers": ("issuer", "name"),
    "schemas": ("schema for", "event_type"),
    "connections": ("connection", "name"),
    "api_destinations": ("API destination", "name"),
}

# Fields whose values must never be echoed in a message.
_SECRET_FIELDS = frozenset(
    {
        "password",
        "secret_access_key",
        "access_key_id",
        "session_token",
        "api_keys",
        "username",
        "value",
        "client_secret",
    }
)


class ConfigValidationError(ConfigError):
    """A configuration with one or more invalid values; ``problems`` lists ``(path, message)``.

    ``str(error)`` has one line per problem, each naming the file and the field path.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], *, file: str = "") -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        first_path, first_message = self.problems[0]
        rest = [_where(file, path) + message for path, message in self.problems[1:]]
        super().__init__("\n".join([first_message, *rest]), path=first_path, file=file)


class ConfigFileError(ConfigError):
    """The configuration file cannot be read at all (missing, unreadable, not UTF-8 text)."""


def _where(file: str, path: str) -> str:
    where = ": ".join(part for part in (file, path) if part)
    return f"{where}: " if where else ""


def format_location(loc: Sequence[str | int]) -> str:
    """``("rules", 2, "targets", 0, "id")`` -> ``"rules[2].targets[0].id"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that holds the fields."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _step(annotation: Any, part: str | int) -> tuple[Any, bool]:
    """Descend one location part; returns the new type and whether ``part`` was a union tag."""
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return (field.annotation if field else None), False
    if origin is list and isinstance(part, int):
        return get_args(annotation)[0], False
    if origin is dict:
        return get_args(annotation)[1], False
    if origin in (Union, types.UnionType):
        for member in get_args(annotation):
            member_type = getattr(member, "model_fields", {}).get("type")
            if member_type is not None and part in get_args(member_type.annotation):
                return member, True
    return None, False


def _resolve(root: type[BaseModel], loc: Location) -> tuple[Location, Any]:
    """The location without union tags, and the type found at its end (None if unknown)."""
    annotation: Any = root
    clean: list[str | int] = []
    for part in loc:
        if annotation is None:
            clean.append(part)
            continue
        annotation, was_tag = _step(annotation, part)
        if not was_tag:
            clean.append(part)
    return tuple(clean), _unwrap(annotation) if annotation is not None else None


def _context(data: Any, loc: Location) -> str:
    """Names of the items a location passes through: "rule 'to_lake', target 'lake'"."""
    names: list[str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and isinstance(loc[i - 1], str):
            label = _ITEM_LABELS.get(str(loc[i - 1]))
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if label and isinstance(item, dict) and isinstance(item.get(label[1]), str | int):
                names.append(f"{label[0]} {item[label[1]]!r}")
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return ", ".join(names)


def _line(lines: Mapping[Location, int] | None, loc: Location) -> int | None:
    if not lines:
        return None
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(error: Mapping[str, Any], parent: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    message = str(error["msg"])
    if kind == "missing":
        return "this required field is missing."
    if kind == "extra_forbidden":
        name = str(error["loc"][-1]) if error["loc"] else "?"
        allowed = list(getattr(parent, "model_fields", {}))
        hint = difflib.get_close_matches(name, allowed, n=1)
        text = f"unknown field {name!r}"
        text += f"; did you mean {hint[0]!r}?" if hint else "."
        if allowed:
            text += f" Allowed here: {', '.join(allowed)}."
        return text
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}."
    if kind == "union_tag_not_found":
        return f"the {ctx.get('discriminator', 'type')} key is missing; it chooses the kind."
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    value = error.get("input")
    field = str(error["loc"][-1]) if error["loc"] else ""
    if isinstance(value, str | int | float | bool) and field not in _SECRET_FIELDS:
        message += f", got {value!r}"
    return message if message.endswith(".") else message + "."


def problems_from_validation_error(
    exc: ValidationError,
    root: type[BaseModel],
    data: Any = None,
    lines: Mapping[Location, int] | None = None,
) -> list[tuple[str, str]]:
    """Every error of ``exc`` as ``(field path, message)``, expanding multi-problem errors.

    Args:
        exc: the error raised by ``root.model_validate(data)``.
        root: the model that was validated (its types resolve unknown-field hints).
        data: the validated input, used to name the rules and targets concerned.
        lines: field location -> line in the file, to say where the problem is.
    """
    from clientevents.config.base import ConfigProblems

    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc: Location = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigProblems):
            expanded = [((*loc, *rel), message) for rel, message in cause.problems]
        else:
            expanded = [(loc, "")]
        for full, message in expanded:
            clean, _ = _resolve(root, full)
            if not message:
                _, parent = _resolve(root, loc[:-1])
                message = _message(error, parent)
            where = [part for part in (_context(data, clean),) if part]
            line = _line(lines, clean)
            if line is not None:
                where.append(f"line {line}")
            if where:
                message += f" ({'; '.join(where)})"
            problems.append((format_location(clean), message))
    return problems
