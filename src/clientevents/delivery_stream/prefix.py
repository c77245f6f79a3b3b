"""Object key prefixes with Firehose's expressions: ``!{namespace:value}``.

Namespaces:

- ``partitionKeyFromQuery:<key>``: a key the ``metadata_extraction`` processor produced;
- ``partitionKeyFromLambda:<key>``: a key the ``function`` processor returned in
  ``metadata.partitionKeys``;
- ``timestamp:<pattern>``: a Java ``DateTimeFormatter`` pattern, evaluated in UTC at the
  arrival time of the oldest record in the object (every instance the same instant);
- ``firehose:random-string``: 11 random characters, new at each instance;
- ``firehose:error-output-type``: the error kind (``processing-failed``, ...); only in
  ``error_output_prefix``.

A record's *partition* is the values of the partition keys its prefix uses; timestamps and
random strings are evaluated when the partition's object is written. Rules (Firehose's): a
prefix without any ``timestamp`` or partition-key expression gets ``yyyy/MM/dd/HH/`` appended;
``!{`` appears only in expressions. A prefix that uses partition keys gets nothing appended
(dynamic partitioning: the prefix is the layout the user asked for).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass

from clientevents.delivery_stream.timefmt import compile_pattern
from clientevents.objectstore.base import unsafe_key_reason

__all__ = [
    "DEFAULT_TIME_PREFIX",
    "MAX_PREFIX_CHARS",
    "PrefixTemplate",
    "partition_value_problem",
]

DEFAULT_TIME_PREFIX = "yyyy/MM/dd/HH/"
"""Appended to a prefix that has no timestamp and no partition-key expression."""

MAX_PREFIX_CHARS = 512
"""Longest evaluated prefix (Firehose's limit)."""

_EXPRESSION = re.compile(r"!\{([^}:]*):([^}]*)\}")
_NAMESPACES = ("partitionKeyFromQuery", "partitionKeyFromLambda", "timestamp", "firehose")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits


def partition_value_problem(value: str) -> str | None:
    """Why a partition key value cannot go into a key (``..``, ``/``-leading, control chars,
    empty), or ``None``."""
    if value == "":
        return "it is empty"
    reason = unsafe_key_reason(value)
    if reason is not None:
        return reason
    if value.endswith("/"):
        return "it ends with '/'"
    return None


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str


@dataclass(frozen=True, slots=True)
class _Key:
    source: str  # "query" | "lambda"
    name: str


@dataclass(frozen=True, slots=True)
class _Time:
    pattern: str


@dataclass(frozen=True, slots=True)
class _Random:
    pass


@dataclass(frozen=True, slots=True)
class _ErrorType:
    pass


_Part = _Literal | _Key | _Time | _Random | _ErrorType


class PrefixTemplate:
    """A parsed ``prefix`` or ``error_output_prefix``.

    Args:
        text: the prefix as configured.
        error_output: whether this is an ``error_output_prefix`` (``error-output-type``
            allowed, partition keys not).
        append_default_time: append ``yyyy/MM/dd/HH/`` when the prefix has neither a
            ``timestamp`` nor a partition-key expression (the data prefix's rule).

    Raises:
        ValueError: the text breaks a rule; the message says which.
    """

    def __init__(self, text: str, *, error_output: bool = False,
                 append_default_time: bool = True) -> None:
        self.text = text
        parts: list[_Part] = []
        pos = 0
        for match in _EXPRESSION.finditer(text):
            parts.extend(self._literal(text[pos:match.start()]))
            parts.append(self._expression(match.group(1), match.group(2), error_output))
            pos = match.end()
        parts.extend(self._literal(text[pos:]))
        shape = _EXPRESSION.sub("x", text)
        if shape.startswith("/") or "//" in shape or any(
            seg in (".", "..") for seg in shape.split("/")
        ):
            raise ValueError(
                f"the prefix {text!r} would lead out of the destination or make an empty "
                "folder name ('/' at the start, '//', or a '.' or '..' folder)"
            )
        has_time = any(isinstance(p, _Time) for p in parts)
        self.query_keys = tuple(dict.fromkeys(
            p.name for p in parts if isinstance(p, _Key) and p.source == "query"))
        self.lambda_keys = tuple(dict.fromkeys(
            p.name for p in parts if isinstance(p, _Key) and p.source == "lambda"))
        dynamic = bool(self.query_keys or self.lambda_keys)
        if append_default_time and not has_time and not dynamic:
            parts.append(_Time(DEFAULT_TIME_PREFIX))
        if error_output and not any(isinstance(p, _ErrorType) for p in parts):
            raise ValueError(
                "an error output prefix must contain !{firehose:error-output-type}, so that "
                "each kind of failure lands in its own folder"
            )
        self._parts = tuple(parts)
        self._formatters = {
            p.pattern: compile_pattern(p.pattern) for p in parts if isinstance(p, _Time)
        }
        self.uses_random = any(isinstance(p, _Random) for p in parts)
        self.is_static = all(isinstance(p, _Literal | _Time) for p in parts)

    @staticmethod
    def _literal(text: str) -> list[_Part]:
        if "!{" in text:
            raise ValueError(
                f"'!{{' may only start an expression of the form !{{namespace:value}}; "
                f"found it in {text!r}"
            )
        return [_Literal(text)] if text else []

    @staticmethod
    def _expression(namespace: str, value: str, error_output: bool) -> _Part:
        if namespace in ("partitionKeyFromQuery", "partitionKeyFromLambda"):
            if error_output:
                raise ValueError(
                    f"!{{{namespace}:{value}}} cannot be used in an error output prefix: "
                    "failed records may have no partition keys"
                )
            if not value:
                raise ValueError(f"!{{{namespace}:}} needs a key name")
            return _Key("query" if namespace == "partitionKeyFromQuery" else "lambda", value)
        if namespace == "timestamp":
            try:
                compile_pattern(value)
            except ValueError as exc:
                raise ValueError(f"!{{timestamp:{value}}}: {exc}") from None
            return _Time(value)
        if namespace == "firehose":
            if value == "random-string":
                return _Random()
            if value == "error-output-type":
                if not error_output:
                    raise ValueError(
                        "!{firehose:error-output-type} may only be used in error_output_prefix"
                    )
                return _ErrorType()
            raise ValueError(
                f"unknown firehose expression !{{firehose:{value}}}; use random-string or "
                "error-output-type"
            )
        raise ValueError(
            f"unknown namespace {namespace!r} in !{{{namespace}:{value}}}; use one of "
            f"{', '.join(_NAMESPACES)}"
        )

    def render(
        self,
        *,
        query_keys: Mapping[str, str] | None = None,
        lambda_keys: Mapping[str, str] | None = None,
        oldest_arrival: float,
        error_type: str = "",
    ) -> str:
        """The evaluated prefix (keys must be present: see :meth:`missing`)."""
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, _Literal):
                out.append(part.text)
            elif isinstance(part, _Key):
                keys = query_keys if part.source == "query" else lambda_keys
                out.append((keys or {})[part.name])
            elif isinstance(part, _Time):
                out.append(self._formatters[part.pattern](oldest_arrival))
            elif isinstance(part, _Random):
                out.append("".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(11)))
            else:
                out.append(error_type)
        return "".join(out)
