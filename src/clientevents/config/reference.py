"""The configuration reference, generated from the model: every field, type, default,
description and example, one table per section.

``python -m clientevents.config.reference docs/configuration-reference.md`` (or
``bash scripts/config-reference.sh``) rewrites the page; ``--check`` exits 1 when the page is
stale (a test does the same). Examples come from the field's ``examples`` when it has them,
otherwise from the example configurations (``examples/*.yaml``) at the same path.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from clientevents.config.annotated import flow_yaml
from clientevents.config.model import Settings

__all__ = ["load_examples", "main", "render_reference"]

HEADER = """\
# Configuration reference

<!-- Generated from the configuration model by `bash scripts/config-reference.sh`
     (python -m clientevents.config.reference); do not edit by hand. -->

Every key of a clientevents configuration file, section by section: its type (with the allowed
range), its default (*required* when it has none), what it does and an example value. How the
file is read (`${env:NAME}` references, errors, the embedded default) is in
[configuration.md](configuration.md); `clientevents init` writes a commented starting file and
`clientevents config schema` prints the same model as a JSON Schema.
"""

Path_ = tuple[str, ...]
"""A section's path: keys, with ``[]`` after list fields (``rules[]``, ``targets[]``)."""


@dataclass(frozen=True)
class _Section:
    path: Path_
    model: type[BaseModel]
    kind: str | None = None
    """The ``type`` value that selects this model in a union, if any."""

    @property
    def title(self) -> str:
        name = ".".join(self.path) or "Top level"
        return f"{name} (type: {self.kind})" if self.kind else name


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", title.lower())
    return text.replace(" ", "-")


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(annotation)]
    return [annotation]


def _kind_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return str(get_args(field.annotation)[0])


def _nested(annotation: Any) -> tuple[bool, list[type[BaseModel]]]:
    """(is a list, the models) of a field's annotation."""
    is_list = False
    found: list[type[BaseModel]] = []
    for member in _members(annotation):
        if get_origin(member) is list:
            is_list = True
            for inner in _members(get_args(member)[0]):
                if _is_model(inner):
                    found.append(inner)
        elif _is_model(member):
            found.append(member)
    return is_list, found


def _sections(model: type[BaseModel], path: Path_, kind: str | None = None
              ) -> Iterator[_Section]:
    yield _Section(path, model, kind)
    for name, field in model.model_fields.items():
        is_list, models = _nested(field.annotation)
        child = (*path, f"{name}[]" if is_list else name)
        union = len(models) > 1
        for inner in models:
            yield from _sections(inner, child, _kind_of(inner) if union else None)


def _type_text(annotation: Any, link: dict[type[BaseModel], str]) -> str:
    parts: list[str] = []
    for member in _members(annotation):
        if member is type(None):
            parts.append("null")
        elif get_origin(member) is Literal:
            parts.append(" | ".join(f"`{v}`" for v in get_args(member)))
        elif get_origin(member) is list:
            parts.append(f"list of {_type_text(get_args(member)[0], link)}")
        elif get_origin(member) is dict:
            key, value = get_args(member)
            parts.append(f"mapping of {_type_text(key, link)} to {_type_text(value, link)}")
        elif _is_model(member):
            anchor = link.get(member)
            parts.append(f"[{member.__name__}](#{anchor})" if anchor else member.__name__)
        elif member is Any:
            parts.append("any")
        else:
            parts.append({str: "string", int: "integer", float: "number", bool: "boolean",
                          Path: "path"}.get(member, getattr(member, "__name__", str(member))))
    return " or ".join(parts)


def _constraints(field: FieldInfo) -> str:
    found: list[str] = []
    for item in field.metadata:
        for attr, text in (("ge", "≥ {}"), ("gt", "> {}"), ("le", "≤ {}"), ("lt", "< {}"),
                           ("min_length", "length ≥ {}"), ("max_length", "length ≤ {}")):
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                found.append(text.format(value))
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


def _cell(text: str) -> str:
    """Table cell text: pipes escaped (they end a cell even in a code span)."""
    return text.replace("|", "\\|").replace("\n", " ")


def _prose(text: str) -> str:
    """Plain text for a cell: also ``<`` and ``>``, which Markdown would take for HTML."""
    return _cell(text.replace("``", "`")).replace("<", "&lt;").replace(">", "&gt;")


def _code(value: Any) -> str:
    text = flow_yaml(value)
    if len(text) > 70:
        text = text[:67] + "..."
    return f"`{_cell(text)}`"


def _default(name: str, field: FieldInfo, required: set[str], nested: str | None) -> str:
    if name in required:
        return "*required*"
    if field.is_required():
        return "see description"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        if nested:
            return f"the defaults of [{nested}](#{_anchor(nested)})"
        return _code(value.model_dump(mode="json"))
    if isinstance(value, Path):
        value = str(value)
    return _code(value)


def _lookup(data: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value at ``path`` in example data (``name[]`` walks every item of a list)."""
    if not path:
        yield data
        return
    head, rest = path[0], path[1:]
    key = head.removesuffix("[]")
    if not isinstance(data, Mapping) or key not in data:
        return
    value = data[key]
    if head.endswith("[]"):
        for item in value if isinstance(value, list) else []:
            yield from _lookup(item, rest)
    else:
        yield from _lookup(value, rest)


def _example(section: _Section, name: str, field: FieldInfo,
             examples: Sequence[Mapping[str, Any]]) -> str:
    if field.examples:
        return _code(field.examples[0])
    for data in examples:
        for holder in _lookup(data, section.path):
            if not isinstance(holder, Mapping) or name not in holder:
                continue
            if section.kind is not None and holder.get("type") != section.kind:
                continue
            value = holder[name]
            if isinstance(value, Mapping | list) and value and _nested(field.annotation)[1]:
                continue  # a nested section: its own table has the examples
            return _code(value)
    return "—"


def render_reference(examples: Sequence[Mapping[str, Any]] = ()) -> str:
    """The reference page (Markdown) for :class:`Settings`; ``examples`` are parsed example
    configurations to take example values from."""
    sections: list[_Section] = []
    for section in _sections(Settings, ()):
        if all(section.title != seen.title for seen in sections):
            sections.append(section)
    link: dict[type[BaseModel], str] = {}
    for section in sections:
        link.setdefault(section.model, _anchor(section.title))
    lines = [HEADER, "## Sections", ""]
    for section in sections:
        depth = max(0, len(section.path) - 1)
        lines.append(f"{'  ' * depth}- [{section.title}](#{_anchor(section.title)})")
    for section in sections:
        model = section.model
        lines += ["", f"## {section.title}", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            lines += [" ".join(doc.split()).replace("``", "`"), ""]
        required = set(model.model_json_schema().get("required", []))
        lines += ["| Key | Type | Default | Description | Example |", "|---|---|---|---|---|"]
        for attribute, field in model.model_fields.items():
            name = field.alias or attribute
            kind = _type_text(field.annotation, link)
            limits = _constraints(field)
            if limits:
                kind += f"; {limits}"
            is_list, models = _nested(field.annotation)
            nested = ".".join((*section.path, f"{name}[]" if is_list else name)) \
                if len(models) == 1 else None
            example = (f"see [{nested}](#{_anchor(nested)})" if nested
                       else "see its sections" if models
                       else _example(section, name, field, examples))
            lines.append(
                f"| `{name}` | {_cell(kind)} | {_default(name, field, required, nested)} | "
                f"{_prose(field.description or '')} | {example} |"
            )
    return "\n".join(lines) + "\n"


def load_examples(folder: Path) -> list[dict[str, Any]]:
    """The example configurations in ``folder`` (``*.yaml``), parsed, not interpolated."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            found.append(data)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the reference page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default="docs/configuration-reference.md",
                        type=Path, help="the page to write")
    parser.add_argument("--examples", default=Path("examples"), type=Path,
                        help="folder of example configurations")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    text = render_reference(load_examples(args.examples))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale; run `bash scripts/config-reference.sh`.",
                  file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"Wrote {args.out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
