"""Checks of event patterns, input paths and input transformers by the rule-language libraries.

The configuration reuses the very parsers the router runs (``clientevents.patterns`` and
``clientevents.transform``), so a file that validates is a file the router can load. The imports
are lazy: importing the configuration stays cheap, and a build without the rule language still
loads configurations (the checks are then skipped, and the router reports problems at start).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "check_constant_input",
    "check_event_pattern",
    "check_input_path",
    "check_input_transformer",
]


def check_event_pattern(pattern: dict[str, Any]) -> str | None:
    """Return why ``pattern`` is not a valid EventBridge event pattern, or None when it is."""
    try:
        from clientevents.patterns import EventPattern, InvalidEventPattern
    except ImportError:
        return None
    try:
        EventPattern(pattern)
    except InvalidEventPattern as exc:
        where = f" at {exc.path}" if exc.path else ""
        return f"invalid event pattern{where}: {exc.problem}"
    return None


def check_input_path(path: str) -> str | None:
    """Return why ``path`` is not a valid InputPath (a JSONPath like ``$.detail``), or None."""
    try:
        from clientevents.transform import InputPath, TransformError
    except ImportError:
        return None
    try:
        InputPath(path)
    except TransformError as exc:
        return str(exc)
    return None


def check_constant_input(text: str) -> str | None:
    """Return why ``text`` is not a valid constant Input (JSON text), or None."""
    try:
        from clientevents.transform import TransformError, constant_input
    except ImportError:
        return None
    try:
        constant_input(text)
    except TransformError as exc:
        return str(exc)
    return None


def check_input_transformer(input_paths_map: dict[str, str], input_template: str) -> str | None:
    """Return why the transformer cannot be built, or None when it can."""
    try:
        from clientevents.transform import InputTransformer, TransformError
    except ImportError:
        return None
    try:
        InputTransformer(input_paths_map, input_template)
    except TransformError as exc:
        return str(exc)
    return None
