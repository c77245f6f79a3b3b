"""``${env:NAME}`` interpolation of the string values of a parsed configuration.

Syntax, anywhere inside a string value (keys are never interpolated):

- ``${env:NAME}``: the value of environment variable ``NAME``; unset is an error.
- ``${env:NAME:-default}``: ``default`` when ``NAME`` is unset or empty (as in the shell).
- ``$${``: a literal ``${``.

Other ``${...}`` text is left as it is. The result is still a string: the model converts
``"8080"`` to a port number and ``"true"`` to a boolean where a field expects one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["interpolate"]

Location = tuple[str | int, ...]

_REFERENCE = re.compile(r"\$\$\{|\$\{env:([^}]*)\}")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


def _substitute(
    text: str, environ: Mapping[str, str], loc: Location, problems: list[tuple[Location, str]]
) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group(1)
        parsed = _VARIABLE.match(body)
        if parsed is None:
            problems.append(
                (
                    loc,
                    f"malformed reference '${{env:{body}}}': write ${{env:NAME}} or "
                    "${env:NAME:-default} with NAME made of letters, digits and '_'.",
                )
            )
            return match.group(0)
        name, default = parsed.group(1), parsed.group(2)
        value = environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            problems.append(
                (
                    loc,
                    f"environment variable {name!r} is not set; set it or give a default "
                    f"with ${{env:{name}:-default}}.",
                )
            )
            return match.group(0)
        return value

    return _REFERENCE.sub(replace, text)


def interpolate(data: Any, environ: Mapping[str, str]) -> tuple[Any, list[tuple[Location, str]]]:
    """Return ``data`` with every reference replaced, and the problems found (with locations).

    Args:
        data: parsed YAML (mappings, lists, scalars); it is not modified.
        environ: the variables, usually ``os.environ``.
    """
    problems: list[tuple[Location, str]] = []

    def walk(node: Any, loc: Location) -> Any:
        if isinstance(node, str):
            return _substitute(node, environ, loc, problems) if "${" in node else node
        if isinstance(node, dict):
            return {key: walk(value, (*loc, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, (*loc, i)) for i, item in enumerate(node)]
        return node

    return walk(data, ()), problems
