"""Delivery streams: records/s and MB/s from the bus into partitioned objects, against a ceiling.

Run ``.venv/bin/python -m bench.delivery_stream`` (``--quick`` for a short smoke run). Setup
puts N client events of 1 KiB (20 event types, text that compresses like real events) on a
bus. Then, in interleaved rounds:

1. **gzip JSON lines**: a :class:`~clientevents.delivery_stream.DeliveryStream` is fed from the
   bus log in batches of 2,000, the next batch read while one is processed (as a
   direct-from-log reader will), extracts
   ``{eventType: .detail.eventType}`` (jq query, its fast path), appends a newline, partitions
   by ``!{partitionKeyFromQuery:eventType}/`` (20 partitions), and writes gzip objects to a
   local folder (written, fsync-ed, renamed, folder fsync-ed), flushed at the end.
   **Ceiling**, measured in the same round: the very bytes those objects hold (decompressed
   back), compressed with the same gzip level and written the same durable way, in a plain
   loop. Ratio = pipeline throughput / ceiling throughput (aim: at least 0.7).
2. **Parquet**: the same pipeline with ``format: parquet`` (8 columns, snappy); ceiling: the
   same records per object parsed with orjson, ``pyarrow.Table.from_pylist`` with the same
   schema, ``pyarrow.parquet.write_table``, the same durable write.
3. **through the queue** (information, no ceiling): the same events as deliveries in a rule
   target's queue, delivered by the real dispatcher (claims, leases, settling) into the gzip
   stream.

MB/s counts the records' uncompressed bytes. The machine is shared: compare the ratios, and
the load average printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import orjson

from clientevents.config import validate_settings
from clientevents.config.delivery_streams import DeliveryStreamConfig
from clientevents.delivery_stream import DeliveryStream, Record
from clientevents.delivery_stream.encode import GZIP_LEVEL, decompress
from clientevents.events import Publisher
from clientevents.log import EventLog
from clientevents.objectstore import LocalObjectStore
from clientevents.store.engine import Database
from clientevents.targets import Delivery, Dispatchers, DispatchOptions, TargetContext, enqueue
from clientevents.targets.queue import queue_depths, target_key

BUS = "default"
RECORD_BYTES = 1024
EVENT_TYPES = ["searching", "pageview", "purchase", "loyaltypurchase", "addtocart", "signup",
               "login", "review", "share", "wishlist", "couponapplied", "checkoutstarted",
               "checkoutfailed", "videoplay", "videostop", "notificationopen", "error",
               "feedback", "logout", "paging"]
WORDS = ["games", "shoes", "red", "blue", "search", "page", "item", "sku", "cart", "price",
         "sale", "user", "client", "mobile", "web", "android", "ios", "view", "click", "open",
         "close", "list", "grid", "next", "back", "filter", "sort", "size", "color", "brand"]
COLUMNS = [
    {"name": "version", "type": "string"}, {"name": "id", "type": "string"},
    {"name": "source", "type": "string"}, {"name": "account", "type": "string"},
    {"name": "time", "type": "string"}, {"name": "region", "type": "string"},
    {"name": "resources", "type": "array<string>"},
    {"name": "detail", "type": "struct<eventType:string,schemaVersion:int,"
                              "data:struct<n:bigint,text:string>>"},
]


def stream_config(fmt: str) -> DeliveryStreamConfig:
    data: dict[str, Any] = {
        "name": "bench",
        "destination": {"type": "local", "local": {"path": "lake"}},
        "processors": [{"type": "metadata_extraction", "query": "{eventType: .detail.eventType}"},
                       {"type": "append_delimiter"}],
        "prefix": "!{partitionKeyFromQuery:eventType}/",
        "error_output_prefix": "errors/!{firehose:error-output-type}/",
        "buffering": {"size_mib": 5, "interval_secs": 900, "max_buffered_mib": 256},
    }
    if fmt == "parquet":
        data["format"] = {"type": "parquet", "columns": COLUMNS, "compression": "snappy"}
    else:
        data["compression"] = "gzip"
    return DeliveryStreamConfig.model_validate(data)


def load_events(db: Database, count: int) -> int:
    """Put ``count`` 1 KiB events on the bus; return the bytes of the bodies."""
    rng = random.Random(7)
    publisher = Publisher(db, validate_settings({"buses": [{"name": BUS}]}, environ={}))
    for start in range(0, count, 10):
        entries = []
        for n in range(start, min(start + 10, count)):
            text = " ".join(rng.choice(WORDS) for _ in range(150))
            detail = {"eventType": EVENT_TYPES[n % 20], "schemaVersion": 1,
                      "data": {"n": n, "text": text}}
            entries.append({"Source": "clientevents", "DetailType": "prod", "EventBusName": BUS,
                            "Detail": orjson.dumps(detail).decode(),
                            "Resources": [str(uuid.UUID(int=n))]})
        publisher.put_events(entries)
    log = EventLog(db)
    sizes, after = 0, 0
    while batch := log.read_after(BUS, after, 5000):
        sizes += sum(len(r.body) for r in batch)
        after = batch[-1].seq
    return sizes


def _durable_write(root: Path, name: str, body: bytes) -> None:
    folder = root / name.rpartition("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, body)
    os.fsync(fd)
    os.close(fd)
    os.rename(tmp, root / name)
    dfd = os.open(folder, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


def run_pipeline(db: Database, root: Path, fmt: str) -> tuple[float, int]:
    """Bus log -> delivery stream -> objects; returns (seconds, records)."""
    log = EventLog(db)
    stream = DeliveryStream(stream_config(fmt), LocalObjectStore(root))

    def read(after: int) -> tuple[int, list[Record]]:
        batch = log.read_after(BUS, after, 2000)
        records = [Record(r.body.encode(), r.ingested_at, r.seq) for r in batch]
        return (batch[-1].seq if batch else after), records

    async def main() -> int:
        settled = 0
        after, records = await asyncio.to_thread(read, 0)
        while records:
            # The next batch is read while this one is processed (a log reader's prefetch).
            following = asyncio.create_task(asyncio.to_thread(read, after))
            settled += len(await stream.put(records))
            after, records = await following
        settled += len(await stream.close())
        return settled

    start = time.perf_counter()
    count = asyncio.run(main())
    return time.perf_counter() - start, count


def objects_of(root: Path) -> list[tuple[str, bytes]]:
    return [(p.relative_to(root).as_posix(), p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() and ".staging" not in p.parts]


def run_gzip_ceiling(bodies: list[tuple[str, bytes]], root: Path) -> float:
    start = time.perf_counter()
    for name, body in bodies:
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        _durable_write(root, name, packer.compress(body) + packer.flush())
    return time.perf_counter() - start


def run_parquet_ceiling(bodies: list[tuple[str, bytes]], root: Path) -> float:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clientevents.delivery_stream.parquet import ParquetWriter

    schema = ParquetWriter([(c["name"], c["type"], None) for c in COLUMNS], "snappy").schema
    start = time.perf_counter()
    for name, body in bodies:
        rows = [orjson.loads(line) for line in body.splitlines()]
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink, compression="SNAPPY")
        _durable_write(root, name, sink.getvalue())
    return time.perf_counter() - start


def parquet_lines(root: Path) -> list[tuple[str, bytes]]:
    """The records each Parquet object holds, as JSON lines (the ceiling's input)."""
    import pyarrow.parquet as pq

    out = []
    for name, _ in objects_of(root):
        rows = pq.read_table(root / name).to_pylist()
        out.append((name, b"".join(orjson.dumps(r) + b"\n" for r in rows)))
    return out


def run_queue(db: Database, data_dir: Path, count: int) -> float:
    """The same events as deliveries through a rule target's dispatcher: seconds."""
    settings = validate_settings({
        "buses": [{"name": BUS}],
        "rules": [{"name": "r", "bus": BUS, "event_pattern": {"source": ["clientevents"]},
                   "targets": [{"id": "t", "type": "delivery_stream",
                                "delivery_stream": "bench"}]}],
        "delivery_streams": [stream_config("gzip").model_dump()],
    }, environ={})
    key = target_key(BUS, "r", "t")
    log = EventLog(db)
    after = 0
    while batch := log.read_after(BUS, after, 5000):
        deliveries = [Delivery(key, BUS, "r", "t", r.event_id, r.body, r.time, r.ingested_at)
                      for r in batch]
        db.write(lambda conn, d=deliveries: enqueue(conn, d))  # type: ignore[misc]
        after = batch[-1].seq
    dispatchers = Dispatchers(db, settings, TargetContext(db, settings, data_dir),
                              options=DispatchOptions(batch_size=2000, poll_interval_secs=0.01))

    def unclaimed(conn: Any) -> bool:
        return conn.execute("SELECT 1 FROM deliveries WHERE attempts = 0 LIMIT 1").fetchone()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatchers.run(stop))
        while await asyncio.to_thread(db.read, unclaimed):  # every delivery taken,
            await asyncio.sleep(0.02)
        stop.set()  # then stopping writes the buffers and settles them
        await task
        assert not db.read(queue_depths)

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def _line(label: str, secs: float, count: int, mb: float) -> str:
    return f"  {label:<28} {count / secs:>10,.0f} records/s {mb / secs:>8.1f} MB/s"


def bench(count: int, rounds: int, *, with_parquet: bool, with_queue: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ds-"))
    try:
        db = Database(work / "clientevents.db")
        body_bytes = load_events(db, count)
        mb = body_bytes / 1e6
        print(f"{count:,} events of {body_bytes / count:,.0f} bytes on the bus "
              f"({mb:.1f} MB), 20 event types; load average {os.getloadavg()[0]:.2f}")
        formats = ["gzip", "parquet"] if with_parquet else ["gzip"]
        results: dict[str, list[tuple[float, float]]] = {f: [] for f in formats}
        for _ in range(rounds):
            for fmt in formats:
                out = work / f"out-{fmt}"
                shutil.rmtree(out, ignore_errors=True)
                secs, settled = run_pipeline(db, out, fmt)
                assert settled == count, (settled, count)
                if fmt == "gzip":
                    bodies = [(n, decompress("gzip", b)) for n, b in objects_of(out)]
                    assert sum(len(b) for _, b in bodies) == body_bytes + count
                    assert len(bodies) >= 20
                    ceiling_dir = work / "ceiling"
                    shutil.rmtree(ceiling_dir, ignore_errors=True)
                    ceiling = run_gzip_ceiling(bodies, ceiling_dir)
                else:
                    bodies = parquet_lines(out)
                    ceiling_dir = work / "ceiling"
                    shutil.rmtree(ceiling_dir, ignore_errors=True)
                    ceiling = run_parquet_ceiling(bodies, ceiling_dir)
                results[fmt].append((secs, ceiling))
        for fmt in formats:
            runs = results[fmt]
            label = "gzip JSON lines" if fmt == "gzip" else "Parquet (snappy)"
            secs = statistics.median(s for s, _ in runs)
            ceiling = statistics.median(c for _, c in runs)
            ratios = [c / s for s, c in runs]
            print(f"{label}, {rounds} interleaved rounds (medians):")
            print(_line("pipeline (bus -> objects)", secs, count, mb))
            print(_line("ceiling (same bytes)", ceiling, count, mb))
            print(f"  ratio pipeline/ceiling: median {statistics.median(ratios):.2f} "
                  f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}); aim >= 0.70")
        if with_queue:
            secs = run_queue(db, work / "queue", count)
            print("through the delivery queue (dispatcher claims and settles; information):")
            print(_line("queue -> objects", secs, count, mb))
        db.close()
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--events", type=int, default=None, help="events on the bus")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--no-parquet", action="store_true", help="skip the Parquet part")
    args = parser.parse_args(argv)
    count = args.events or (2_000 if args.quick else 100_000)
    rounds = args.rounds or (1 if args.quick else 5)
    print(f"bench.delivery_stream on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    bench(count, rounds, with_parquet=not args.no_parquet, with_queue=True)


if __name__ == "__main__":
    main()
