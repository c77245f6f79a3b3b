"""Reading an AWS CloudFormation / SAM template: YAML (with the short-form tags) or JSON.

The short forms become the long forms CloudFormation documents: ``!Ref X`` is ``{"Ref": "X"}``,
``!GetAtt A.B`` is ``{"Fn::GetAtt": ["A", "B"]}``, ``!Sub ...`` is ``{"Fn::Sub": ...}`` and so on
for every ``Fn::`` function. Dates stay text (``AWSTemplateFormatVersion: 2010-09-09``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clientevents.errors import ClientEventsError

__all__ = ["Resource", "Template", "TemplateError", "load_template", "parse_template"]


class TemplateError(ClientEventsError):
    """The template cannot be read or is not a CloudFormation template."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as CloudFormation reads it, with its tags, and timestamps left as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FUNCTIONS = {
    "Base64", "Cidr", "FindInMap", "GetAZs", "GetAtt", "If", "ImportValue", "Join", "Length",
    "Select", "Split", "Sub", "ToJsonString", "Transform", "Equals", "And", "Or", "Not",
}


def _construct_tag(loader: _Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    if suffix not in _FUNCTIONS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{suffix}", node.start_mark
        )
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class Resource:
    """One entry of ``Resources``."""

    logical_id: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)
    condition: str | None = None


@dataclass(frozen=True)
class Template:
    """The parts of a template the importer reads."""

    file: str
    parameters: dict[str, dict[str, Any]]
    conditions: dict[str, Any]
    mappings: dict[str, Any]
    resources: dict[str, Resource]
    description: str = ""
    globals: dict[str, Any] = field(default_factory=dict)
    """SAM's ``Globals`` (``Function.Timeout``...), as written."""

    def by_type(self, *types: str) -> list[Resource]:
        """Resources of these types, in template order."""
        return [r for r in self.resources.values() if r.type in types]


def parse_template(text: str, *, file: str = "<template>") -> Template:
    """Parse template text (JSON or YAML).

    Raises:
        TemplateError: not JSON or YAML, or no ``Resources`` mapping.
    """
    data: Any
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            raise TemplateError(f"{file}: {where}invalid YAML: {problem}.") from None
        except yaml.YAMLError as exc:
            raise TemplateError(f"{file}: invalid YAML: {exc}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(
            f"{file} is not a CloudFormation template: it has no Resources mapping."
        )
    resources: dict[str, Resource] = {}
    for logical_id, body in data["Resources"].items():
        if not isinstance(body, dict) or not isinstance(body.get("Type"), str):
            raise TemplateError(f"{file}: resource {logical_id!r} has no Type.")
        properties = body.get("Properties") or {}
        if not isinstance(properties, dict):
            raise TemplateError(f"{file}: the Properties of {logical_id!r} are not a mapping.")
        condition = body.get("Condition")
        resources[str(logical_id)] = Resource(
            str(logical_id), body["Type"], properties,
            condition if isinstance(condition, str) else None,
        )

    def mapping(key: str) -> dict[str, Any]:
        value = data.get(key) or {}
        if not isinstance(value, dict):
            raise TemplateError(f"{file}: {key} is not a mapping.")
        return value

    description = data.get("Description")
    return Template(
        file=file,
        parameters=mapping("Parameters"),
        conditions=mapping("Conditions"),
        mappings=mapping("Mappings"),
        resources=resources,
        description=description.strip() if isinstance(description, str) else "",
        globals=mapping("Globals"),
    )


def load_template(path: str | Path) -> Template:
    """Read and parse a template file.

    Raises:
        TemplateError: the file cannot be read or parsed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"Cannot read the template {path}: {exc}.") from None
    return parse_template(text, file=str(path))
