"""Configuration data written as YAML with comments taken from the model.

:func:`commented_yaml` writes a mapping of :class:`Settings` keys as block YAML: above each key,
the field's description from the model, as a comment; after the keys given, the model's other
keys commented out with their defaults (``# server: {host: 127.0.0.1, ...}``), so the file
shows what can be set. ``clientevents init`` writes the embedded default this way, and
``clientevents import-cloudformation`` its result: they follow the model and the data when
those change.
"""

from __future__ import annotations

import json
import textwrap
import types
from collections.abc import Mapping
from pathlib import PurePath
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from clientevents.config.model import Settings

__all__ = ["commented_yaml", "flow_yaml", "scalar_yaml"]

INDENT = "  "
WIDTH = 98
"""Comment lines are wrapped to this width."""


def scalar_yaml(value: Any) -> str:
    """One scalar as YAML that reads back as the same value (strings stay strings)."""
    if isinstance(value, str) and (
        any(c in value for c in "\n\r\t") or not value.isprintable()
    ):
        return json.dumps(value, ensure_ascii=False)
    return flow_yaml(value)


def flow_yaml(value: Any) -> str:
    """Any value as one line of flow-style YAML (``{source: [clientevents]}``)."""
    if isinstance(value, str) and (any(c in value for c in "\n\r\t") or not value.isprintable()):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict | list) and _has_special_strings(value):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True,
                          sort_keys=False)
    return text.removesuffix("\n...\n").removesuffix("\n")


def _has_special_strings(value: Any) -> bool:
    if isinstance(value, str):
        return any(c in value for c in "\n\r\t") or not value.isprintable()
    if isinstance(value, dict):
        return any(_has_special_strings(k) or _has_special_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_special_strings(v) for v in value)
    return False


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation may hold (through Optional, Annotated, list, unions)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _models_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, tuple):
        found: list[type[BaseModel]] = []
        for arg in get_args(annotation):
            found.extend(_models_in(arg))
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _model_for(field: FieldInfo | None, value: Mapping[str, Any]) -> type[BaseModel] | None:
    """The model a mapping value of ``field`` is: the only one, or the one whose ``type``
    literal equals the value's ``type``."""
    if field is None:
        return None
    models = _models_in(field.annotation)
    if len(models) == 1:
        return models[0]
    for model in models:
        literal = model.model_fields.get("type")
        if literal is not None and value.get("type") in get_args(literal.annotation):
            return model
    return None


def _comment(text: str | None, pad: str) -> list[str]:
    if not text:
        return []
    width = max(40, WIDTH - len(pad) - 2)
    lines: list[str] = []
    for paragraph in text.strip().splitlines():
        wrapped = textwrap.wrap(paragraph, width, break_long_words=False,
                                break_on_hyphens=False) or [""]
        lines.extend(f"{pad}# {line}".rstrip() for line in wrapped)
    return lines


def _default_of(field: FieldInfo) -> Any:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def _mapping(data: Mapping[str, Any], model: type[BaseModel] | None, depth: int,
             lines: list[str], *, first_prefix: str | None = None) -> None:
    """Write ``data`` at ``depth``; ``first_prefix`` replaces the first key's indentation (the
    ``- `` of a list item)."""
    pad = INDENT * depth
    fields = model.model_fields if model is not None else {}
    for index, (key, value) in enumerate(data.items()):
        field = fields.get(key)
        lines.extend(_comment(field.description if field else None, pad))
        lead = first_prefix if (index == 0 and first_prefix is not None) else pad
        _entry(key, value, field, depth, lead, lines)
    for key, field in fields.items():
        if key in data:
            continue
        lines.extend(_comment(field.description, pad))
        lines.append(f"{pad}# {_key(key)}: {flow_yaml(_default_of(field))}")


def _key(key: Any) -> str:
    return flow_yaml(key) if isinstance(key, str) else flow_yaml(str(key))


def _entry(key: str, value: Any, field: FieldInfo | None, depth: int, lead: str,
           lines: list[str]) -> None:
    model = _model_for(field, value) if isinstance(value, Mapping) else None
    if isinstance(value, Mapping) and value and model is not None:
        lines.append(f"{lead}{_key(key)}:")
        _mapping(value, model, depth + 1, lines)
    elif isinstance(value, list) and value and field is not None and all(
        isinstance(item, Mapping) and item for item in value
    ) and _models_in(field.annotation):
        lines.append(f"{lead}{_key(key)}:")
        item_pad = INDENT * (depth + 1)
        for item in value:
            item_model = _model_for(field, item)
            _mapping(item, item_model, depth + 2, lines, first_prefix=f"{item_pad}- ")
    else:
        lines.append(f"{lead}{_key(key)}: {flow_yaml(value)}")


def commented_yaml(data: Mapping[str, Any], *, model: type[BaseModel] = Settings,
                   header: str = "") -> str:
    """``data`` (keys of ``model``) as commented block YAML; ``header`` becomes comment lines
    at the top."""
    lines = _comment(header, "") if header else []
    if lines:
        lines.append("")
    _mapping(data, model, 0, lines)
    return "\n".join(lines) + "\n"
