"""Parquet conversion: the batch reader and the exact path give the same rows and errors."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from clientevents.delivery_stream.parquet import ParquetWriter, RowError

pq = pytest.importorskip("pyarrow.parquet")

COLUMNS = [
    ("id", "string", None),
    ("n", "bigint", None),
    ("small", "tinyint", None),
    ("ratio", "double", None),
    ("ok", "boolean", None),
    ("tags", "array<string>", None),
    ("detail", "struct<kind:string,v:int>", None),
    ("detail_type", "string", "detail-type"),
]

GOOD = {"id": "a", "n": 7, "small": -3, "ratio": 0.5, "ok": True, "tags": ["x", "y"],
        "detail": {"kind": "k", "v": 2, "extra": [1]}, "detail-type": "prod", "other": {"z": 1}}

# Values the rules accept although pyarrow's JSON reader refuses them (the exact path converts
# them), values both refuse, and texts that are not objects.
CASES: list[Any] = [
    GOOD,
    {"id": "b"},
    {"id": "c", "n": 1.0},                       # a whole fraction: accepted as 1
    {"id": 5, "ratio": 2},                        # a number for a string: accepted as "5"
    {"id": "d", "n": 1.5},                        # refused
    {"id": "e", "small": 200},                    # out of range: refused
    {"id": "f", "ok": 1},                         # refused
    {"id": "g", "tags": "xy"},                    # text for an array: refused
    {"id": "h", "detail": []},                    # a list for a struct: refused
    {"id": "i", "n": True},                       # refused
    [1, 2],                                       # not an object
    "text",
    {"id": "j", "detail": {"kind": 3, "v": None}},  # nested number for a string: accepted
    {"id": "k", "id2": "\u00e9\u4e2d"},
]


def expected(writer: ParquetWriter, value: Any) -> dict[str, Any] | str:
    """What the exact rules make of ``value``: the row as Python values, or the error."""
    try:
        row = writer.row(value)
    except RowError as exc:
        return f"error: {exc}"
    table = writer._pa.Table.from_pylist([row], schema=writer.schema)
    return table.to_pylist()[0]  # type: ignore[no-any-return]


def converted(writer: ParquetWriter, rows: list[Any]) -> list[dict[str, Any] | str]:
    out: list[dict[str, Any] | str] = []
    for result in rows:
        if isinstance(result, RowError):
            out.append(f"error: {result}")
        else:
            table, index = result
            out.append(table.slice(index, 1).to_pylist()[0])
    return out


def test_the_batch_reader_is_used_for_a_schema_it_reads() -> None:
    assert ParquetWriter(COLUMNS, "snappy").reads_in_batches
    assert not ParquetWriter([*COLUMNS, ("at", "timestamp", None)], "snappy").reads_in_batches
    assert not ParquetWriter([("a", "string", "k"), ("b", "string", "k")],
                             "snappy").reads_in_batches


@pytest.mark.parametrize("parsed", [False, True])
def test_every_record_converts_as_the_exact_rules_say(parsed: bool) -> None:
    writer = ParquetWriter(COLUMNS, "snappy")
    # Many good records around each odd one: refused parts are halved down to small ones.
    values = [v for case in CASES for v in [*([dict(GOOD, id=f"g{i}") for i in range(40)]), case]]
    texts = [orjson.dumps(v) + b"\n" for v in values]
    records = [(t, orjson.loads(t) if parsed else None) for t in texts]
    got = converted(writer, writer.convert(records))
    assert got == [expected(writer, v) for v in values]
    assert sum(isinstance(g, str) for g in got) == 8


def test_text_that_is_not_json_is_a_row_error() -> None:
    writer = ParquetWriter(COLUMNS, "snappy")
    texts = [b'{"id": "a"}', b'{"id": NaN}', b'{"id": "\xff"}', b'{"n": 99999999999999999999999}',
             b'{"id": "b"} {"id": "c"}', b"", b'{"id": "d"}']
    got = writer.convert([(t, None) for t in texts])
    assert [isinstance(r, RowError) for r in got] == [False, True, True, True, True, True, False]
    assert converted(writer, [got[0], got[6]]) == [expected(writer, {"id": "a"}),
                                                   expected(writer, {"id": "d"})]


def test_a_record_spanning_lines_is_one_row() -> None:
    writer = ParquetWriter(COLUMNS, "snappy")
    texts = [b'{\n  "id": "a",\r\n  "n": 1\n}\n\n', b'  {"id": "b"}  ', b'{"id":\n"c"}']
    got = converted(writer, writer.convert([(t, None) for t in texts]))
    assert [g["id"] for g in got if isinstance(g, dict)] == ["a", "b", "c"]


def test_an_object_holds_its_rows_in_order_across_batches() -> None:
    writer = ParquetWriter(COLUMNS, "none")
    first = writer.convert([(orjson.dumps({"id": f"a{i}", "n": i}), None) for i in range(5)])
    second = writer.convert([(orjson.dumps({"id": f"b{i}", "n": 1.0}), None) for i in range(3)])
    rows = [first[4], first[1], second[0], second[2], first[3]]
    table = pq.read_table(io.BytesIO(writer.encode(rows)))
    assert table.column_names == [name for name, _, _ in COLUMNS]
    assert table.column("id").to_pylist() == ["a4", "a1", "b0", "b2", "a3"]
    assert table.column("n").to_pylist() == [4, 1, 1, 1, 3]
    assert pq.read_table(io.BytesIO(writer.encode([]))).num_rows == 0
