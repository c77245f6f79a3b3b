"""The processors a delivery stream runs on each batch of records, in the configured order.

Each takes the batch's items and returns the items that go on and the error items that go to
the error output. Dropped records simply do not come out.

- ``record_deaggregation`` (:class:`Deaggregation`): a record holding several concatenated
  JSON objects, or several records separated by a delimiter, becomes one item per part;
- ``function`` (:class:`~clientevents.delivery_stream.function.FunctionProcessor`): a
  ``module:function`` called as Firehose calls a Lambda;
- ``metadata_extraction`` (:class:`MetadataExtraction`): a jq query computes the keys for
  ``!{partitionKeyFromQuery:...}``, compiled once;
- ``append_delimiter`` (:class:`AppendDelimiter`): a delimiter (newline) after each record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson

from clientevents.delivery_stream.function import partition_key_text
from clientevents.delivery_stream.jqpaths import JqPathError, compile_simple
from clientevents.delivery_stream.records import ErrorItem, Item

__all__ = [
    "AppendDelimiter",
    "Deaggregation",
    "MetadataExtraction",
    "Processor",
    "compile_jq",
]


class Processor(Protocol):
    """One processing step."""

    def process(self, items: Sequence[Item]) -> tuple[list[Item], list[ErrorItem]]: ...


def _failed(item: Item, code: str, message: str) -> ErrorItem:
    return ErrorItem(item.ticket, item.raw, item.arrival, "processing-failed", code, message)


class Deaggregation:
    """Splits aggregated records: ``json`` (concatenated JSON objects, whitespace between them
    allowed) or ``delimited`` (records separated by ``delimiter``; empty parts are skipped).

    A record that is not a sequence of JSON objects fails as a whole
    (``RecordDeAggregation.Failed``)."""

    def __init__(self, sub_record_type: str, delimiter: bytes = b"") -> None:
        if sub_record_type == "delimited" and not delimiter:
            raise ValueError("delimited de-aggregation needs a non-empty delimiter")
        self.sub_record_type = sub_record_type
        self.delimiter = delimiter
        self._decoder = json.JSONDecoder()

    def process(self, items: Sequence[Item]) -> tuple[list[Item], list[ErrorItem]]:
        out: list[Item] = []
        errors: list[ErrorItem] = []
        for item in items:
            if self.sub_record_type == "delimited":
                parts = [p for p in item.data.split(self.delimiter) if p]
            else:
                try:
                    parts = self._json_parts(item.data)
                except ValueError as exc:
                    errors.append(_failed(item, "RecordDeAggregation.Failed", str(exc)))
                    continue
            for part in parts:
                out.append(Item(item.ticket, part, item.arrival, part,
                                item.query_keys, item.lambda_keys))
        return out, errors

    def _json_parts(self, data: bytes) -> list[bytes]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"The record is not UTF-8 text: {exc}") from None
        parts: list[bytes] = []
        pos, end = 0, len(text)
        while True:
            while pos < end and text[pos] in " \t\r\n":
                pos += 1
            if pos >= end:
                break
            try:
                value, stop = self._decoder.raw_decode(text, pos)
            except ValueError as exc:
                raise ValueError(f"The record is not concatenated JSON objects: {exc}") from None
            if not isinstance(value, dict):
                raise ValueError(
                    f"The record holds a JSON {type(value).__name__} at character {pos}; "
                    "JSON de-aggregation expects objects."
                )
            parts.append(text[pos:stop].encode("utf-8"))
            pos = stop
        if not parts:
            raise ValueError("The record holds no JSON object.")
        return parts


def compile_jq(query: str) -> Callable[[bytes, Any], Any]:
    """Compile a jq query once; the result evaluates it on ``(record bytes, parsed value)``
    and returns its single output.

    Simple object-of-paths queries run on the parsed value (:mod:`.jqpaths`); every other
    query runs in the jq binding on the record's text.

    Raises:
        ValueError: the query does not compile (the message is jq's).
    """
    import jq  # the maintained binding of jq's C library

    try:
        program = jq.compile(query)
    except ValueError as exc:
        raise ValueError(f"the jq query {query!r} does not compile: {exc}") from None
    simple = compile_simple(query)
    if simple is not None:
        return lambda data, parsed: simple(parsed)

    def run(data: bytes, parsed: Any) -> Any:
        results = program.input_text(data.decode("utf-8")).all()
        if len(results) != 1:
            raise ValueError(f"the query produced {len(results)} results; it must produce one")
        return results[0]

    return run


class MetadataExtraction:
    """Computes partition keys with a jq query on each JSON record.

    The query must produce one object; its string, number and boolean values become the
    record's ``partitionKeyFromQuery`` keys (``null`` leaves the key out). A record that is not
    JSON, a query error, or another kind of result is a processing failure
    (``DynamicPartitioning.MetadataExtractionFailed``)."""

    def __init__(self, query: str) -> None:
        self.query = query
        self._run = compile_jq(query)

    def process(self, items: Sequence[Item]) -> tuple[list[Item], list[ErrorItem]]:
        out: list[Item] = []
        errors: list[ErrorItem] = []
        run = self._run
        for item in items:
            try:
                parsed = item.parsed
                if parsed is None:
                    parsed = item.parsed = orjson.loads(item.data)
                result = run(item.data, parsed)
                if not isinstance(result, dict):
                    raise ValueError(
                        f"the query produced a {type(result).__name__}; it must produce an "
                        "object such as {eventType: .detail.eventType}"
                    )
                keys: dict[str, str] = {}
                for name, value in result.items():
                    text = partition_key_text(value)
                    if text is not None:
                        keys[name] = text
            except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                errors.append(_failed(item, "DynamicPartitioning.MetadataExtractionFailed",
                                      f"The record is not JSON: {exc}"))
                continue
            except (JqPathError, ValueError, TypeError) as exc:
                errors.append(_failed(item, "DynamicPartitioning.MetadataExtractionFailed",
                                      f"Query {self.query!r} failed: {exc}"))
                continue
            item.query_keys = keys
            out.append(item)
        return out, errors


class AppendDelimiter:
    """Adds ``delimiter`` (a newline by default) after each record."""

    def __init__(self, delimiter: bytes = b"\n") -> None:
        self.delimiter = delimiter
        # Whitespace after a JSON value leaves its meaning alone: a parsed value stays valid.
        self._keeps_json = not delimiter.strip()

    def process(self, items: Sequence[Item]) -> tuple[list[Item], list[ErrorItem]]:
        delimiter = self.delimiter
        keeps_json = self._keeps_json
        for item in items:
            item.data += delimiter
            if not keeps_json:
                item.parsed = None
        return list(items), []
