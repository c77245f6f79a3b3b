"""The delivery stream engine on a local folder: buffering, partitions, error output, objects."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from ds_helpers import Clock, config, folders, lines, objects, records

from clientevents.delivery_stream import Delivered, DeliveryStream, Failed, Record
from clientevents.delivery_stream.encode import decompress
from clientevents.objectstore import LocalObjectStore, ObjectStore, ObjectStoreError

QUERY = {"type": "metadata_extraction", "query": "{kind: .kind, v: .v}"}
BY_KIND = {
    "processors": [QUERY],
    "prefix": "!{partitionKeyFromQuery:kind}/",
    "error_output_prefix": "errors/!{firehose:error-output-type}/",
}
NAME = re.compile(r"^s-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{36}(\.\w+)?$")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def stream(tmp_path: Path, clock: Clock | None = None, **overrides: Any) -> DeliveryStream:
    return DeliveryStream(config(**overrides), LocalObjectStore(tmp_path / "lake"),
                          clock=clock or Clock())


def test_records_are_partitioned_and_written_when_the_interval_passes(tmp_path: Path) -> None:
    clock = Clock()
    s = stream(tmp_path, clock, **BY_KIND)
    docs = [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "a", "n": 3}]

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        first = await s.put(records(docs))
        clock.now += 59.9
        early = await s.flush()
        clock.now += 0.1
        due = await s.flush()
        return first, early, due

    first, early, due = run(scenario())
    # Given records of two partitions, nothing is written before the interval,
    assert first == [] and early == []
    # and when it has passed, each partition is one object and every record is delivered.
    assert sorted(token for token, _ in due) == [0, 1, 2]
    assert all(isinstance(outcome, Delivered) for _, outcome in due)
    tree = folders(tmp_path / "lake")
    assert sorted(tree) == ["a", "b"]
    assert all(len(names) == 1 and NAME.match(names[0]) for names in tree.values())
    body = objects(tmp_path / "lake")
    a = next(v for k, v in body.items() if k.startswith("a/"))
    assert [r["n"] for r in lines(a)] == [1, 3]
    assert s.next_flush_at() is None and s.buffered_bytes == 0


def test_a_partition_reaching_the_size_hint_is_written_at_once(tmp_path: Path) -> None:
    s = DeliveryStream(config(**BY_KIND), LocalObjectStore(tmp_path / "lake"), clock=Clock(),
                       size_bytes=200)
    docs = [{"kind": "a", "pad": "x" * 60} for _ in range(3)] + [{"kind": "b"}]
    settled = run(s.put(records(docs)))
    # The three "a" records pass 200 bytes: their object is written; "b" waits.
    assert sorted(token for token, _ in settled) == [0, 1, 2]
    assert sorted(folders(tmp_path / "lake")) == ["a"]
    assert s.active_partitions == 1


def test_the_size_hint_in_the_configuration_is_in_mib(tmp_path: Path) -> None:
    s = stream(tmp_path, **BY_KIND, buffering={"size_mib": 1, "interval_secs": 900})
    assert s.size_bytes == 1 << 20
    big = [{"kind": "a", "pad": "y" * 1000} for _ in range(1100)]  # ~1.1 MiB
    settled = run(s.put(records(big)))
    assert len(settled) == 1100
    assert len(objects(tmp_path / "lake")) == 1


def test_close_writes_everything_buffered(tmp_path: Path) -> None:
    s = stream(tmp_path, **BY_KIND, buffering={"interval_secs": 900})

    async def scenario() -> list[Any]:
        await s.put(records([{"kind": "a"}, {"kind": "b"}]))
        return await s.close()

    settled = run(scenario())
    assert sorted(t for t, _ in settled) == [0, 1]
    assert sorted(folders(tmp_path / "lake")) == ["a", "b"]


def test_interval_zero_writes_every_batch(tmp_path: Path) -> None:
    s = stream(tmp_path, **BY_KIND, buffering={"interval_secs": 0})
    settled = run(s.put(records([{"kind": "a"}])))
    assert [t for t, _ in settled] == [0]


def test_the_memory_bound_writes_the_largest_partition_early(tmp_path: Path) -> None:
    s = DeliveryStream(config(**BY_KIND), LocalObjectStore(tmp_path / "lake"), clock=Clock(),
                       max_buffered_bytes=500)
    docs = [{"kind": "big", "pad": "z" * 100} for _ in range(4)] + [{"kind": "small"}]
    settled = run(s.put(records(docs)))
    # Over 500 bytes buffered: the largest partition ("big") went out; "small" stays.
    assert sorted(t for t, _ in settled) == [0, 1, 2, 3]
    assert s.buffered_bytes < 500 and s.has_room()
    assert sorted(folders(tmp_path / "lake")) == ["big"]


def test_has_room_counts_objects_being_written(tmp_path: Path) -> None:
    gate = asyncio.Event()

    class SlowStore(LocalObjectStore):
        async def put(self, key: str, body: bytes) -> None:
            await gate.wait()
            await super().put(key, body)

    s = DeliveryStream(config(**BY_KIND), SlowStore(tmp_path / "lake"), clock=Clock(),
                       size_bytes=100, max_buffered_bytes=150)

    async def scenario() -> None:
        task = asyncio.create_task(s.put(records([{"kind": "a", "pad": "p" * 200}])))
        await asyncio.sleep(0.05)
        assert not s.has_room()  # the object in flight still holds its bytes
        gate.set()
        await task
        assert s.has_room()

    run(scenario())


def test_the_active_partition_bound_sends_further_partitions_to_the_error_output(
    tmp_path: Path,
) -> None:
    s = stream(tmp_path, **BY_KIND, max_active_partitions=2)

    async def scenario() -> list[Any]:
        await s.put(records([{"kind": "a"}, {"kind": "b"}, {"kind": "c"}, {"kind": "a"}]))
        return await s.close()

    settled = run(scenario())
    assert sorted(t for t, _ in settled) == [0, 1, 2, 3]
    tree = folders(tmp_path / "lake")
    assert sorted(tree) == ["a", "b", "errors/activePartitionExceeded"]
    [error] = [v for k, v in objects(tmp_path / "lake").items() if k.startswith("errors/")]
    [line] = lines(error)
    assert line["errorCode"] == "DynamicPartitioning.ActivePartitionsLimitExceeded"
    assert json.loads(base64.b64decode(line["rawData"])) == {"kind": "c"}
    assert set(line) == {"attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage",
                         "attemptEndingTimestamp", "rawData"}
    assert line["arrivalTimestamp"] == 1_796_360_400_000


@pytest.mark.parametrize(
    ("doc", "error_type", "code"),
    [
        ({"v": 1}, "partition-key-missing", "DynamicPartitioning.PartitionKeyMissing"),
        ({"kind": ".."}, "partition-key-invalid", "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": "/etc"}, "partition-key-invalid", "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": "a/../../x"}, "partition-key-invalid",
         "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": "tab\there"}, "partition-key-invalid",
         "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": ""}, "partition-key-invalid", "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": "x" * 600}, "partition-key-invalid",
         "DynamicPartitioning.InvalidPartitionKey"),
        ({"kind": [1]}, "processing-failed", "DynamicPartitioning.MetadataExtractionFailed"),
        (b"not json\n", "processing-failed", "DynamicPartitioning.MetadataExtractionFailed"),
    ],
)
def test_records_without_a_usable_partition_go_to_the_error_output(
    tmp_path: Path, doc: Any, error_type: str, code: str
) -> None:
    s = stream(tmp_path, **BY_KIND)

    async def scenario() -> list[Any]:
        await s.put(records([doc, {"kind": "ok"}]))
        return await s.close()

    settled = run(scenario())
    assert sorted(t for t, _ in settled) == [0, 1]
    assert all(isinstance(o, Delivered) for _, o in settled)
    root = tmp_path / "lake"
    assert sorted(folders(root)) == [f"errors/{error_type}", "ok"]
    [error] = [v for k, v in objects(root).items() if k.startswith("errors/")]
    [line] = lines(error)
    assert line["errorCode"] == code
    assert base64.b64decode(line["rawData"]) == records([doc])[0].data
    # Nothing escaped the destination folder.
    assert {p.name for p in tmp_path.iterdir()} == {"lake"}


def test_a_failed_write_fails_every_record_in_the_object(tmp_path: Path) -> None:
    class Refusing(ObjectStore):
        def __init__(self) -> None:
            self.refuse = True
            self.inner = LocalObjectStore(tmp_path / "lake")

        async def put(self, key: str, body: bytes) -> None:
            if self.refuse:
                raise ObjectStoreError("The disk is full.", code="IOError")
            await self.inner.put(key, body)

        def describe(self, key: str) -> str:
            return key

    store = Refusing()
    s = DeliveryStream(config(**BY_KIND), store, clock=Clock())

    async def scenario() -> tuple[list[Any], list[Any]]:
        await s.put(records([{"kind": "a"}, {"kind": "a"}]))
        failed = await s.close()
        store.refuse = False
        s2 = DeliveryStream(config(**BY_KIND), store, clock=Clock())
        await s2.put(records([{"kind": "a"}, {"kind": "a"}]))
        return failed, await s2.close()

    failed, retried = run(scenario())
    assert sorted(t for t, _ in failed) == [0, 1]
    assert all(o == Failed("IOError", "The disk is full.") for _, o in failed)
    assert all(isinstance(o, Delivered) for _, o in retried)
    assert len(objects(tmp_path / "lake")) == 1


def test_a_record_split_across_objects_is_delivered_when_all_its_objects_are(
    tmp_path: Path,
) -> None:
    s = stream(tmp_path, processors=[{"type": "record_deaggregation"}, QUERY],
               prefix="!{partitionKeyFromQuery:kind}/",
               error_output_prefix="e/!{firehose:error-output-type}/")
    aggregate = b'{"kind": "a"}{"kind": "b"} {"kind": "a"}\n'

    async def scenario() -> list[Any]:
        assert await s.put([Record(aggregate, 1_796_360_400.0, "agg")]) == []
        return await s.close()

    assert run(scenario()) == [("agg", Delivered())]
    body = objects(tmp_path / "lake")
    assert sorted(k.split("/")[0] for k in body) == ["a", "b"]


def test_dropped_records_are_delivered_at_once(tmp_path: Path) -> None:
    s = stream(tmp_path, processors=[{"type": "function", "function": "ds_functions:by_result"}])
    settled = run(s.put(records([{"answer": "Dropped"}])))
    assert settled == [(0, Delivered())]
    assert objects(tmp_path / "lake") == {}


def test_without_a_prefix_objects_go_under_the_default_time_prefix(tmp_path: Path) -> None:
    clock = Clock(1_796_360_400.0 + 3 * 3600 + 17)  # 08:00:17 UTC
    s = stream(tmp_path, clock, prefix="raw/")

    async def scenario() -> None:
        await s.put(records([{"a": 1}], arrival=clock.now))
        await s.close()

    run(scenario())
    [key] = objects(tmp_path / "lake")
    folder, _, name = key.rpartition("/")
    assert folder == "raw/2026/12/04/08"
    assert name.startswith("s-1-2026-12-04-08-00-17-")


def test_timestamps_use_the_oldest_record_of_the_object(tmp_path: Path) -> None:
    s = stream(tmp_path, prefix="t/!{timestamp:yyyy-MM-dd'T'HH}/!{timestamp:mm}/",
               error_output_prefix="e/!{firehose:error-output-type}/")
    old, new = 1_796_360_400.0 - 3600 - 60, 1_796_360_400.0

    async def scenario() -> None:
        await s.put([Record(b"1\n", new, 1), Record(b"2\n", old, 2)])
        await s.close()

    run(scenario())
    [key] = objects(tmp_path / "lake")
    assert key.startswith("t/2026-12-04T03/59/s-1-2026-12-04-03-59-00-")


def test_random_strings_differ_per_object(tmp_path: Path) -> None:
    s = stream(tmp_path, **{**BY_KIND, "prefix": "!{firehose:random-string}/"
                            "!{partitionKeyFromQuery:kind}/"})

    async def scenario() -> None:
        await s.put(records([{"kind": "a"}, {"kind": "b"}]))
        await s.close()

    run(scenario())
    keys = list(objects(tmp_path / "lake"))
    randoms = {k.split("/")[0] for k in keys}
    assert len(randoms) == 2 and all(re.fullmatch(r"[a-z0-9]{11}", r) for r in randoms)


def test_the_default_error_prefix_follows_the_data_prefix(tmp_path: Path) -> None:
    s = stream(tmp_path, prefix="raw/",
               processors=[{"type": "function", "function": "ds_functions:by_result"}])

    async def scenario() -> None:
        await s.put(records([{"answer": "ProcessingFailed"}]))
        await s.close()

    run(scenario())
    [key] = objects(tmp_path / "lake")
    assert key.startswith("raw/processing-failed/2026/12/04/05/")


@pytest.mark.parametrize(
    ("compression", "extension"),
    [("none", ""), ("gzip", ".gz"), ("zstd", ".zst"), ("snappy", ".snappy")],
)
def test_compression(tmp_path: Path, compression: str, extension: str) -> None:
    s = stream(tmp_path, compression=compression)
    docs = [{"n": i, "text": "compress me " * 10} for i in range(50)]

    async def scenario() -> None:
        await s.put(records(docs))
        await s.close()

    run(scenario())
    [(key, body)] = objects(tmp_path / "lake").items()
    assert key.endswith(f"-{key[-36 - len(extension):-len(extension) or None]}{extension}")
    assert NAME.match(key.rpartition("/")[2])
    assert [r["n"] for r in lines(body, compression)] == list(range(50))
    if compression != "none":
        assert len(body) < len(decompress(compression, body)) / 3


def test_gzip_objects_are_standard_gzip(tmp_path: Path) -> None:
    import gzip

    s = stream(tmp_path, compression="gzip", file_extension=".json.gz")

    async def scenario() -> None:
        await s.put(records([{"n": 1}]))
        await s.close()

    run(scenario())
    [(key, body)] = objects(tmp_path / "lake").items()
    assert key.endswith(".json.gz")
    assert json.loads(gzip.decompress(body)) == {"n": 1}


def test_parquet_objects_hold_the_declared_columns(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    columns = [
        {"name": "id", "type": "string"},
        {"name": "detail_type", "type": "string", "json_key": "detail-type"},
        {"name": "n", "type": "bigint"},
        {"name": "price", "type": "decimal(10,2)"},
        {"name": "at", "type": "timestamp"},
        {"name": "tags", "type": "array<string>"},
        {"name": "detail", "type": "struct<eventType:string,schemaVersion:int>"},
    ]
    s = stream(tmp_path, **BY_KIND, format={"type": "parquet", "columns": columns})
    good = {"kind": "a", "id": "e1", "detail-type": "prod", "n": 7, "price": 12.5,
            "at": "2026-11-27T05:00:00Z", "tags": ["x"],
            "detail": {"eventType": "shopping", "schemaVersion": 1}, "ignored": True}
    bad = {"kind": "a", "id": "e2", "n": "seven"}
    fraction = {"kind": "a", "id": "e3", "n": 1.5}

    async def scenario() -> list[Any]:
        await s.put(records([good, bad, fraction, {"kind": "a", "id": "e4"}]))
        return await s.close()

    settled = run(scenario())
    assert sorted(t for t, _ in settled) == [0, 1, 2, 3]
    root = tmp_path / "lake"
    [(key, _)] = [(k, v) for k, v in objects(root).items() if k.startswith("a/")]
    assert key.endswith(".parquet")
    table = pq.read_table(root / key)
    assert table.column_names == [c["name"] for c in columns]
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["e1", "e4"]
    assert rows[0]["detail_type"] == "prod" and rows[0]["n"] == 7
    assert str(rows[0]["price"]) == "12.50"
    assert rows[0]["detail"] == {"eventType": "shopping", "schemaVersion": 1}
    assert rows[1]["n"] is None
    [error] = [v for k, v in objects(root).items()
               if k.startswith("errors/format-conversion-failed/")]
    failed = lines(error)
    assert [json.loads(base64.b64decode(f["rawData"]))["id"] for f in failed] == ["e2", "e3"]
    assert {f["errorCode"] for f in failed} == {"DataFormatConversion.MalformedData"}
    assert "n" in failed[0]["errorMessage"]


def test_a_store_error_in_encoding_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    s = stream(tmp_path)

    def broken(data: bytes) -> bytes:
        raise RuntimeError("codec bug")

    s._compress = broken

    async def scenario() -> list[Any]:
        await s.put(records([{"n": 1}]))
        return await s.close()

    [(_token, outcome)] = run(scenario())
    assert isinstance(outcome, Failed) and outcome.code == "WriteError"
    assert "codec bug" in outcome.message
