"""Record format conversion to Parquet: Glue-like column types, JSON records to rows.

Each record is parsed as a JSON object; every column takes the value of its key (``json_key``
or its name; missing or ``null`` is a null). A value of the wrong kind (text in an ``int``
column, a fraction in a ``bigint``, a number out of range, an unparseable timestamp) makes
the whole record a ``format-conversion-failed`` error; keys without a column are ignored, as
Firehose's JSON deserializer does. Rows are converted when records arrive, so the object
written at flush time always converts.

Records are converted a batch at a time (:meth:`ParquetWriter.convert`) into Arrow columns.
Each record is first parsed by orjson (unless a processor already did), which decides what is
JSON. When every column's type is one that pyarrow's JSON reader reads exactly as the rules
above (strings, booleans, integers, floats, and arrays and structs of them; column keys
unique), the batch's objects then go through that reader, in C, as one block. The exact path
(each value coerced in Python) takes the rest: records that are not objects, and the records
of a part of a batch the reader refuses (a value of another kind, but also a fraction such as
``1.0`` in an integer column or a number given for a string, which the rules accept; a refused
batch is halved until its parts are small). Either way a row is a reference into an Arrow
table of its batch, and an object is the rows its partition took from those tables.

pyarrow is imported only when a stream uses Parquet: install ``clientevents[parquet]``.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ColumnType", "ParquetWriter", "RowError", "parse_type"]


class RowError(ValueError):
    """A record that does not fit the schema."""


@dataclass(frozen=True, slots=True)
class ColumnType:
    """A parsed Glue type: ``kind`` and, for containers, their element types."""

    kind: str
    args: tuple[Any, ...] = ()


_SIMPLE = {
    "string", "varchar", "char", "boolean", "tinyint", "smallint", "int", "integer", "bigint",
    "float", "double", "date", "timestamp", "binary",
}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|<|>|,|:|\(|\)|\d+)")


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"unexpected {text[pos:]!r} in type {text!r}")
            self.tokens.append(match.group(1))
            pos = match.end()
        self.i = 0

    def next(self) -> str:
        if self.i >= len(self.tokens):
            raise ValueError(f"type {self.text!r} ends too early")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise ValueError(f"expected {token!r} in type {self.text!r}, found {got!r}")

    def parse(self) -> ColumnType:
        name = self.next().lower()
        if name in ("varchar", "char") and self._peek() == "(":
            self.next()
            self.next()
            self.expect(")")
            return ColumnType("string")
        if name in _SIMPLE:
            kind = {"varchar": "string", "char": "string", "integer": "int"}.get(name, name)
            return ColumnType(kind)
        if name == "decimal":
            precision, scale = 10, 0
            if self._peek() == "(":
                self.next()
                precision = int(self.next())
                if self._peek() == ",":
                    self.next()
                    scale = int(self.next())
                self.expect(")")
            if not 1 <= precision <= 38 or not 0 <= scale <= precision:
                raise ValueError(f"decimal({precision},{scale}) is out of range in {self.text!r}")
            return ColumnType("decimal", (precision, scale))
        if name == "array":
            self.expect("<")
            element = self.parse()
            self.expect(">")
            return ColumnType("array", (element,))
        if name == "map":
            self.expect("<")
            key = self.parse()
            self.expect(",")
            value = self.parse()
            self.expect(">")
            return ColumnType("map", (key, value))
        if name == "struct":
            self.expect("<")
            fields: list[tuple[str, ColumnType]] = []
            while True:
                field_name = self.next()
                self.expect(":")
                fields.append((field_name, self.parse()))
                token = self.next()
                if token == ">":
                    break
                if token != ",":
                    raise ValueError(f"expected ',' or '>' in type {self.text!r}")
            return ColumnType("struct", tuple(fields))
        raise ValueError(
            f"unknown type {name!r} in {self.text!r}; use string, boolean, tinyint, smallint, "
            "int, bigint, float, double, decimal(p,s), date, timestamp, binary, array<T>, "
            "map<K,V> or struct<name:T,...>"
        )

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None


def parse_type(text: str) -> ColumnType:
    """Parse a Glue/Hive column type.

    Raises:
        ValueError: the text is not a supported type; the message says what is wrong.
    """
    parser = _TypeParser(text)
    result = parser.parse()
    if parser.i != len(parser.tokens):
        raise ValueError(f"unexpected {' '.join(parser.tokens[parser.i:])!r} in type {text!r}")
    return result


_INT_RANGES = {
    "tinyint": (-(1 << 7), (1 << 7) - 1),
    "smallint": (-(1 << 15), (1 << 15) - 1),
    "int": (-(1 << 31), (1 << 31) - 1),
    "bigint": (-(1 << 63), (1 << 63) - 1),
}

Coerce = Callable[[Any, str], Any]


def _coercer(column: ColumnType) -> Coerce:
    kind = column.kind

    def wrong(value: Any, where: str) -> RowError:
        return RowError(f"{where}: {value!r} is not a {kind} value.")

    if kind == "string":
        def to_string(value: Any, where: str) -> Any:
            if value is None or isinstance(value, str):
                return value
            if isinstance(value, bool | int | float):
                return str(value).lower() if isinstance(value, bool) else str(value)
            raise wrong(value, where)
        return to_string
    if kind == "boolean":
        def to_bool(value: Any, where: str) -> Any:
            if value is None or isinstance(value, bool):
                return value
            raise wrong(value, where)
        return to_bool
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]

        def to_int(value: Any, where: str) -> Any:
            if value is None:
                return None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                return value
            raise wrong(value, where)
        return to_int
    if kind in ("float", "double"):
        def to_float(value: Any, where: str) -> Any:
            if value is None:
                return None
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise wrong(value, where)
        return to_float
    if kind == "decimal":
        precision, scale = column.args
        quantum = decimal.Decimal(1).scaleb(-scale)

        def to_decimal(value: Any, where: str) -> Any:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise wrong(value, where)
            try:
                number = decimal.Decimal(str(value)).quantize(quantum)
            except decimal.InvalidOperation:
                raise wrong(value, where) from None
            if len(number.as_tuple().digits) > precision:
                raise RowError(f"{where}: {value!r} does not fit decimal({precision},{scale}).")
            return number
        return to_decimal
    if kind == "date":
        def to_date(value: Any, where: str) -> Any:
            if value is None:
                return None
            try:
                return datetime.date.fromisoformat(value)
            except (TypeError, ValueError):
                raise wrong(value, where) from None
        return to_date
    if kind == "timestamp":
        def to_timestamp(value: Any, where: str) -> Any:
            if value is None:
                return None
            if isinstance(value, int | float) and not isinstance(value, bool):
                seconds = value / 1000 if abs(value) >= 1e11 else value  # epoch ms or s
                return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
            if isinstance(value, str):
                try:
                    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise wrong(value, where) from None
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=datetime.UTC)
                return parsed.astimezone(datetime.UTC)
            raise wrong(value, where)
        return to_timestamp
    if kind == "binary":
        def to_binary(value: Any, where: str) -> Any:
            if value is None:
                return None
            if isinstance(value, str):
                try:
                    return base64.b64decode(value, validate=True)
                except ValueError:
                    raise wrong(value, where) from None
            raise wrong(value, where)
        return to_binary
    if kind == "array":
        element = _coercer(column.args[0])

        def to_list(value: Any, where: str) -> Any:
            if value is None:
                return None
            if not isinstance(value, list):
                raise wrong(value, where)
            return [element(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return to_list
    if kind == "map":
        key_of, value_of = _coercer(column.args[0]), _coercer(column.args[1])

        def to_map(value: Any, where: str) -> Any:
            if value is None:
                return None
            if not isinstance(value, dict):
                raise wrong(value, where)
            return [(key_of(k, f"{where} key"), value_of(v, f"{where}.{k}"))
                    for k, v in value.items()]
        return to_map
    fields = [(name, _coercer(t)) for name, t in column.args]

    def to_struct(value: Any, where: str) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise wrong(value, where)
        return {name: coerce(value.get(name), f"{where}.{name}") for name, coerce in fields}
    return to_struct


def _arrow_type(pa: Any, column: ColumnType) -> Any:
    kind = column.kind
    simple = {
        "string": pa.string(), "boolean": pa.bool_(), "tinyint": pa.int8(),
        "smallint": pa.int16(), "int": pa.int32(), "bigint": pa.int64(),
        "float": pa.float32(), "double": pa.float64(), "date": pa.date32(),
        "timestamp": pa.timestamp("ms", tz="UTC"), "binary": pa.binary(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "decimal":
        return pa.decimal128(*column.args)
    if kind == "array":
        return pa.list_(_arrow_type(pa, column.args[0]))
    if kind == "map":
        return pa.map_(_arrow_type(pa, column.args[0]), _arrow_type(pa, column.args[1]))
    return pa.struct([(name, _arrow_type(pa, t)) for name, t in column.args])


_READER_KINDS = frozenset({
    "string", "boolean", "tinyint", "smallint", "int", "bigint", "float", "double",
})
"""Types pyarrow's JSON reader reads exactly as :func:`_coercer` does (when it reads them)."""

_SMALLEST_READ = 64
"""A refused batch is split in halves until this size; smaller ones take the exact path."""


def _reader_reads(column: ColumnType) -> bool:
    if column.kind in _READER_KINDS:
        return True
    if column.kind == "array":
        return _reader_reads(column.args[0])
    if column.kind == "struct":
        return all(_reader_reads(t) for _, t in column.args)
    return False


def _import_pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "The parquet format needs pyarrow; install it with "
            "`pip install 'clientevents[parquet]'`."
        ) from exc
    return pyarrow


class ParquetWriter:
    """Converts records to rows and rows to a Parquet object.

    Args:
        columns: ``(name, type text, json key)`` per column.
        compression: the column compression (``none``, ``snappy``, ``gzip``, ``zstd``).
    """

    def __init__(self, columns: Sequence[tuple[str, str, str | None]], compression: str) -> None:
        self._pa = _import_pyarrow()
        pa = self._pa
        parsed = [(name, parse_type(text), key or name) for name, text, key in columns]
        self._coerce = [(name, key, _coercer(t)) for name, t, key in parsed]
        self.schema = pa.schema([(name, _arrow_type(pa, t)) for name, t, _ in parsed])
        self.compression = "NONE" if compression == "none" else compression.upper()
        keys = [key for _, _, key in parsed]
        self._names = [name for name, _, _ in parsed]
        self._reader_schema: Any = None
        if len(set(keys)) == len(keys) and all(_reader_reads(t) for _, t, _ in parsed):
            import pyarrow.json

            self._reader_schema = pa.schema(
                [(key, _arrow_type(pa, t)) for _, t, key in parsed])
            self._parse_options = pyarrow.json.ParseOptions(
                explicit_schema=self._reader_schema, unexpected_field_behavior="ignore")

    @property
    def reads_in_batches(self) -> bool:
        """Whether batches go through pyarrow's JSON reader (the schema allows it)."""
        return self._reader_schema is not None

    def convert(self, records: Sequence[tuple[bytes, Any]]) -> list[Any]:
        """The rows of a batch of records: ``(data, its orjson parse or None)`` each.

        Returns, per record, its row (``(table, index)``, for :meth:`encode`) or the
        :class:`RowError` saying why it does not fit.
        """
        out: list[Any] = [None] * len(records)
        values: list[Any] = [None] * len(records)
        exact: list[int] = []
        lines: list[bytes] = []
        read: list[int] = []
        batched = self._reader_schema is not None
        loads = orjson.loads
        for i, (data, parsed) in enumerate(records):
            if parsed is None:
                try:
                    parsed = loads(data)
                except orjson.JSONDecodeError as exc:
                    out[i] = RowError(str(exc))
                    continue
            values[i] = parsed
            # orjson accepted the text (one value, valid UTF-8, no NaN, integers within 64
            # bits): the reader reads such an object as the rules do, or refuses it.
            if batched and type(parsed) is dict:
                read.append(i)
                lines.append(data)
            else:
                exact.append(i)
        if lines:
            exact.extend(self._read_parts(lines, read, out))
            exact.sort()
        if exact:
            rows: list[dict[str, Any]] = []
            kept: list[int] = []
            for i in exact:
                try:
                    rows.append(self.row(values[i]))
                except RowError as exc:
                    out[i] = exc
                    continue
                kept.append(i)
            if kept:
                table = self._pa.Table.from_pylist(rows, schema=self.schema)
                for row, i in enumerate(kept):
                    out[i] = (table, row)
        return out

    def _read_parts(self, lines: list[bytes], where: list[int], out: list[Any]) -> list[int]:
        """Read ``lines`` into ``out`` at ``where``; halves of a refused batch are tried
        again down to :data:`_SMALLEST_READ` lines. Returns the indices left for the exact
        path."""
        if not lines:
            return []
        table = self._read(lines)
        if table is not None:
            for row, i in enumerate(where):
                out[i] = (table, row)
            return []
        if len(lines) <= _SMALLEST_READ:
            return where
        half = len(lines) // 2
        return (self._read_parts(lines[:half], where[:half], out)
                + self._read_parts(lines[half:], where[half:], out))

    def _read(self, lines: list[bytes]) -> Any:
        """The lines as one table through pyarrow's JSON reader; ``None`` if it refuses."""
        pa = self._pa
        import pyarrow.json

        text = b"\n".join(lines)
        try:
            table = pyarrow.json.read_json(
                pa.BufferReader(text),
                read_options=pyarrow.json.ReadOptions(
                    use_threads=False, block_size=max(len(text) + 1, 1 << 20)),
                parse_options=self._parse_options,
            )
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != len(lines):  # a line held several values: not one record each
            return None
        return table.rename_columns(self._names)

    def row(self, value: Any) -> dict[str, Any]:
        """The row of one parsed JSON record.

        Raises:
            RowError: the record is not an object, or a value does not fit its column.
        """
        if not isinstance(value, dict):
            raise RowError(f"The record is a JSON {type(value).__name__}, not an object.")
        return {name: coerce(value.get(key), name) for name, key, coerce in self._coerce}

    def encode(self, rows: Sequence[tuple[Any, int]]) -> bytes:
        """One Parquet file holding ``rows`` (rows from :meth:`convert`), in their order."""
        pa = self._pa
        pieces: list[Any] = []
        current: Any = None
        indices: list[int] = []
        for table, index in rows:
            if table is not current:
                if indices:
                    pieces.append(current.take(indices))
                current, indices = table, []
            indices.append(index)
        if indices:
            pieces.append(current.take(indices))
        table = pa.concat_tables(pieces) if pieces else self.schema.empty_table()
        sink = io.BytesIO()
        pa.parquet.write_table(table, sink, compression=self.compression)
        return sink.getvalue()
