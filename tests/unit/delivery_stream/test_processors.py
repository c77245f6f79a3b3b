"""De-aggregation, metadata extraction (jq) and the appended delimiter."""

from __future__ import annotations

import json

import pytest

from clientevents.delivery_stream.processors import (
    AppendDelimiter,
    Deaggregation,
    MetadataExtraction,
    compile_jq,
)
from clientevents.delivery_stream.records import Item, Ticket


def item(data: bytes) -> Item:
    return Item(Ticket("t"), data, 0.0, data)


def test_json_deaggregation_splits_concatenated_objects() -> None:
    out, errors = Deaggregation("json").process([item(b'{"a":1}{"b":[2]}\n {"c":"}{"}')])
    assert [i.data for i in out] == [b'{"a":1}', b'{"b":[2]}', b'{"c":"}{"}']
    assert [i.raw for i in out] == [i.data for i in out]
    assert errors == [] and all(i.ticket is out[0].ticket for i in out)


@pytest.mark.parametrize("data", [b'{"a":1} 7', b'{"a":', b"", b"[1]", b"\xff"])
def test_json_deaggregation_refuses_what_is_not_objects(data: bytes) -> None:
    out, errors = Deaggregation("json").process([item(data)])
    assert out == []
    [error] = errors
    assert (error.error_type, error.code) == ("processing-failed", "RecordDeAggregation.Failed")
    assert error.raw == data


def test_delimited_deaggregation() -> None:
    out, errors = Deaggregation("delimited", b"####").process([item(b"a####b########c####")])
    assert [i.data for i in out] == [b"a", b"b", b"c"] and errors == []


def test_metadata_extraction_with_the_blueprint_query() -> None:
    query = "{eventType: .detail.eventType, schemaVersion: .detail.schemaVersion}"
    doc = {"detail": {"eventType": "shopping", "schemaVersion": 1}}
    [out], errors = MetadataExtraction(query).process([item(json.dumps(doc).encode())])
    assert out.query_keys == {"eventType": "shopping", "schemaVersion": "1"} and errors == []


def test_metadata_extraction_with_a_jq_function() -> None:
    query = '{day: .ts | strftime("%Y-%m-%d"), n: (.items | length), ok: .flag}'
    doc = {"ts": 1_796_360_400, "items": [1, 2, 3], "flag": False}
    [out], _ = MetadataExtraction(query).process([item(json.dumps(doc).encode())])
    assert out.query_keys == {"day": "2026-12-04", "n": "3", "ok": "false"}


def test_null_values_leave_the_key_out() -> None:
    [out], _ = MetadataExtraction("{a: .a, b: .b}").process([item(b'{"a": "x"}')])
    assert out.query_keys == {"a": "x"}


@pytest.mark.parametrize(
    ("query", "data"),
    [
        ("{a: .a.b}", b'{"a": 5}'),          # indexing a number
        (".a", b'{"a": "text"}'),            # not an object
        ("{a: .a}", b"not json"),
        ("{a: .a}", b'{"a": {"nested": 1}}'),  # an object is no key
        (".[]", b'{"a": 1, "b": 2}'),        # several results
    ],
)
def test_metadata_extraction_failures(query: str, data: bytes) -> None:
    out, [error] = MetadataExtraction(query).process([item(data)])
    assert out == []
    assert error.code == "DynamicPartitioning.MetadataExtractionFailed"


def test_a_query_that_does_not_compile_is_refused() -> None:
    with pytest.raises(ValueError, match="does not compile"):
        compile_jq("{a: .a")


def test_append_delimiter() -> None:
    out, _ = AppendDelimiter().process([item(b"x"), item(b"y")])
    assert [i.data for i in out] == [b"x\n", b"y\n"]
    out, _ = AppendDelimiter(b"\r\n").process([item(b"x")])
    assert out[0].data == b"x\r\n"


def test_a_whitespace_delimiter_keeps_the_parsed_value() -> None:
    first = item(b'{"a": 1}')
    first.parsed = {"a": 1}
    [out], _ = AppendDelimiter().process([first])
    assert out.parsed == {"a": 1}
    other = item(b'{"a": 1}')
    other.parsed = {"a": 1}
    [out], _ = AppendDelimiter(b"|").process([other])
    assert out.parsed is None
