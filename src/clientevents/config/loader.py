"""From a YAML file to :class:`~clientevents.config.model.Settings`.

``load_config`` reads the file, parses it (rejecting duplicate keys), interpolates
``${env:NAME}`` references, validates the result and turns every failure into a
:class:`~clientevents.errors.ConfigError` that names the file, the field path and the problem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from clientevents.config.env import interpolate
from clientevents.config.errors import (
    ConfigFileError,
    ConfigValidationError,
    format_location,
    problems_from_validation_error,
)
from clientevents.config.model import Settings
from clientevents.errors import ConfigError

__all__ = ["STORAGE_ENVIRONMENT", "load_config", "parse_yaml", "resolve_path", "validate_settings"]

STORAGE_ENVIRONMENT = "CLIENTEVENTS_STORAGE"
"""A ``storage:`` section (JSON, or YAML flow style) used when the configuration has none: the
same file runs on the embedded default on a laptop and on PostgreSQL + JetStream in a
deployment that sets this variable (``docs/configuration.md``)."""

Location = tuple[str | int, ...]


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a repeated key in a mapping is an error, and that only
    ``true``/``false`` are booleans and dates stay text (YAML 1.2's core schema): in an event
    pattern, ``[on]`` means the string "on" and ``[2024-01-31]`` the string "2024-01-31"."""


_BOOL = "tag:yaml.org,2002:bool"
_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag != "tag:yaml.org,2002:timestamp" and tag != _BOOL
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        if key in first_line:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r} (first given on line {first_line[key]})",
                key_node.start_mark,
            )
        first_line[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _record_lines(node: yaml.Node, loc: Location, lines: dict[Location, int], depth: int) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if depth > 64:  # aliases can make a graph deeper than any real configuration
        return
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (*loc, key_node.value)
                lines.setdefault(key, key_node.start_mark.line + 1)
                _record_lines(value_node, key, lines, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, (*loc, i), lines, depth + 1)


def parse_yaml(text: str, *, file: str = "") -> tuple[Any, dict[Location, int]]:
    """Parse YAML text; returns the data and the line of each field location.

    Raises:
        ConfigError: the text is not valid YAML or repeats a key; the message names the line.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}invalid YAML: {problem}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ConfigError(
            f"invalid YAML: nested deeper than the parser can follow (keep under {MAX_DEPTH} "
            "levels).",
            file=file,
        ) from None
    finally:
        loader.dispose()
    _check_shape(data, (), set(), file)
    lines: dict[Location, int] = {}
    if node is not None:
        _record_lines(node, (), lines, 0)
    return data, lines


MAX_DEPTH = 100
"""Deepest nesting a configuration may have (real ones stay under 15)."""


def _check_shape(node: Any, loc: Location, ancestors: set[int], file: str) -> None:
    """Reject what would make later steps recurse forever: aliases to an enclosing node."""
    if not isinstance(node, dict | list):
        return
    where = format_location(loc) or "the top level"
    if id(node) in ancestors:
        raise ConfigError(
            f"invalid YAML: {where} is an alias of a node that contains it.", file=file
        )
    if len(loc) >= MAX_DEPTH:
        raise ConfigError(
            f"{where} is nested deeper than {MAX_DEPTH} levels; no configuration needs that.",
            file=file,
        )
    ancestors.add(id(node))
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        _check_shape(value, (*loc, key), ancestors, file)
    ancestors.discard(id(node))


def validate_settings(
    data: Any,
    *,
    file: str = "",
    base_dir: str | Path | None = None,
    lines: Mapping[Location, int] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Interpolate and validate already parsed configuration data.

    Args:
        data: a mapping of the keys of :class:`Settings` (None = all defaults).
        file: the file it came from, for messages.
        base_dir: folder that relative ``schema_file`` paths resolve against (default: cwd).
        lines: field location -> line, for messages (from :func:`parse_yaml`).
        environ: variables for ``${env:NAME}`` (default: ``os.environ``).

    Raises:
        ConfigValidationError: one or more problems, each with its field path.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigValidationError(
            [
                (
                    "",
                    f"the configuration must be a mapping of keys such as buses and rules, "
                    f"not {type(data).__name__}.",
                )
            ],
            file=file,
        )
    source = os.environ if environ is None else environ
    if "storage" not in data and source.get(STORAGE_ENVIRONMENT):
        data = {**data, "storage": _storage_from_environment(source[STORAGE_ENVIRONMENT], file)}
    data, missing = interpolate(data, source)
    if missing:
        raise ConfigValidationError(
            [(format_location(loc), _at_line(message, lines, loc)) for loc, message in missing],
            file=file,
        )
    context = {"base_dir": str(base_dir) if base_dir is not None else "."}
    try:
        return Settings.model_validate(data, context=context)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, Settings, data, lines)
        raise ConfigValidationError(problems, file=file) from None


def _storage_from_environment(text: str, file: str) -> Any:
    """The ``storage:`` section written in :data:`STORAGE_ENVIRONMENT`."""
    try:
        section = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigValidationError(
            [("storage", f"{STORAGE_ENVIRONMENT} is not valid JSON or YAML: {exc}.")], file=file
        ) from None
    if not isinstance(section, dict):
        raise ConfigValidationError(
            [("storage", f"{STORAGE_ENVIRONMENT} must hold a mapping such as "
                         f'{{"store": "postgres"}}, not {type(section).__name__}.')],
            file=file,
        )
    return section


def _at_line(message: str, lines: Mapping[Location, int] | None, loc: Location) -> str:
    line = (lines or {}).get(loc)
    return f"{message} (line {line})" if line is not None else message


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load, interpolate and validate a YAML configuration file.

    Args:
        path: the YAML file.
        environ: variables for ``${env:NAME}`` references (default: ``os.environ``).

    Raises:
        ConfigFileError: the file cannot be read.
        ConfigError: the YAML is invalid or a value is (a ``ConfigValidationError`` listing
            every problem with its field path).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError("the file does not exist.", file=file) from None
    except IsADirectoryError:
        raise ConfigFileError("this is a directory, not a configuration file.", file=file) from None
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"the file is not UTF-8 text: {exc}.", file=file) from None
    except OSError as exc:
        raise ConfigFileError(f"cannot read the file: {exc.strerror or exc}.", file=file) from None
    data, lines = parse_yaml(text, file=file)
    return validate_settings(
        data, file=file, base_dir=Path(path).parent, lines=lines, environ=environ
    )


def resolve_path(settings: Settings, relative: str | Path) -> Path:
    """The absolute path of a target file: relative paths resolve against ``data_dir``.

    ``data_dir`` itself, when relative, resolves against the current working directory.
    A log target's ``"-"`` (stdout) is not a path: callers handle it before calling this.
    """
    if str(relative) == "-":
        raise ValueError("'-' stands for standard output, not a file; handle it before.")
    path = Path(relative).expanduser()
    if not path.is_absolute():
        path = settings.data_dir.expanduser() / path
    return path.absolute()
