"""The event bus: durable PutEvents throughput, router throughput, publish-to-target latency.

Run ``.venv/bin/python -m bench.bus`` (``--quick`` for a short smoke run, ``--only NAME`` for
one part). Three measurements, each repeated with the median printed:

1. **publish**: ``Publisher.put_events`` with 10 entries a call from 32 and 64 threads (and
   ``put_events_async`` from 64 tasks on one event loop, the gateway's way), every call
   durable on return (SQLite WAL, ``synchronous=FULL``, group commit), events of 1 KiB.
   Each run is followed by a run of the *ceiling*: a bare loop inserting 1 KiB records into
   a one-column SQLite table with the same commit pattern (the same number of records per
   commit that the publisher's commits held, WAL, ``synchronous=FULL``). Prints events/s,
   records/s and the median of the runs' ratios (target: at least 0.5).
2. **router**: 1,000 rules (exact, prefix, numeric range; whole-event, InputPath and
   InputTransformer targets) over pre-published client events, the whole process pinned to
   one CPU core. Prints events/s by the wall clock (target: at least 20,000) and per
   CPU-second the process used (what a core of its own gives when other processes share
   the machine), and deliveries per event.
3. **latency**: a worker process (``clientevents worker``) routes and delivers to a ``log``
   target while this process publishes at a steady 10,000 events/s with
   ``put_events_async`` (1,000 calls of 10 a second from one event loop, as the gateway
   calls it; open loop: each call is scheduled, and latency counts from its scheduled time).
   Prints p50 and p99 from ``put_events`` to the line in the file (target: p99 under 50 ms).

The machine's other load weighs on every figure; ratios from interleaved runs weigh least.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from clientevents.config.model import Settings
from clientevents.events import EntryPreparer, LogRow, Publisher
from clientevents.log import EventLog
from clientevents.routing import ROUTER_GROUP, Router
from clientevents.store.engine import Database, connect

RECORD_BYTES = 1024
EVENT_TYPES = ["searching", "pageview", "purchase", "loyaltypurchase", "addtocart",
               "signup", "login", "review", "share", "wishlist", "couponapplied",
               "checkoutstarted", "checkoutfailed", "videoplay", "videostop",
               "notificationopen", "error", "feedback", "logout", "paging"]


# -- 1. durable publish throughput against the bare SQLite ceiling ----------------------------


def publish_entries() -> list[dict[str, Any]]:
    """10 PutEvents entries whose stored envelope is 1 KiB each."""
    preparer = EntryPreparer(account="000000000000", region="local", buses=["default"],
                             max_entry_bytes=262_144, max_json_depth=64)
    entries = []
    for i in range(10):
        detail = {"eventType": "searching", "schemaVersion": 1, "data": {"n": i}, "pad": ""}
        entry = {"Source": "clientevents", "DetailType": "prod", "Detail": detail,
                 "Resources": [str(uuid.UUID(int=i))]}
        row = preparer.prepare(entry, time.time())
        assert isinstance(row, LogRow)
        detail["pad"] = "x" * (RECORD_BYTES - len(row.body))
        entries.append({**entry, "Detail": orjson.dumps(detail).decode()})
    return entries


def run_publish(threads: int, secs: float) -> tuple[float, float, int]:
    """Publish from ``threads`` threads for ``secs``: (events/s, rows per commit, body bytes)."""
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        db = Database(Path(tmp) / "clientevents.db")
        publisher = Publisher(db, Settings.model_validate({"buses": [{"name": "default"}]}))
        entries = publish_entries()
        publisher.put_events(entries)
        body_bytes = len(EventLog(db).read_after("default", 0, 1)[0].body)
        stop = threading.Event()
        counts = [0] * threads
        barrier = threading.Barrier(threads + 1)

        def worker(k: int) -> None:
            barrier.wait()
            while not stop.is_set():
                publisher.put_events(entries)
                counts[k] += 10

        pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        barrier.wait()
        drains0, rows0 = publisher.appender.drains, publisher.appender.rows_appended
        start = time.perf_counter()
        time.sleep(secs)
        done = sum(counts)
        elapsed = time.perf_counter() - start
        drains = publisher.appender.drains - drains0
        rows = publisher.appender.rows_appended - rows0
        stop.set()
        for t in pool:
            t.join()
        db.close()
    return done / elapsed, rows / max(drains, 1), body_bytes


def run_publish_async(tasks: int, secs: float) -> tuple[float, float, int]:
    """Publish with ``put_events_async`` from ``tasks`` tasks on one event loop (the gateway's
    way) for ``secs``: (events/s, rows per commit, body bytes)."""
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        db = Database(Path(tmp) / "clientevents.db")
        publisher = Publisher(db, Settings.model_validate({"buses": [{"name": "default"}]}))
        entries = publish_entries()
        publisher.put_events(entries)
        body_bytes = len(EventLog(db).read_after("default", 0, 1)[0].body)

        async def main() -> tuple[float, float]:
            done = 0
            running = True

            async def worker() -> None:
                nonlocal done
                while running:
                    await publisher.put_events_async(entries)
                    done += 10

            pool = [asyncio.create_task(worker()) for _ in range(tasks)]
            await asyncio.sleep(0.1)
            drains0, rows0 = publisher.appender.drains, publisher.appender.rows_appended
            done0, start = done, time.perf_counter()
            await asyncio.sleep(secs)
            rate = (done - done0) / (time.perf_counter() - start)
            drains = publisher.appender.drains - drains0
            rows = publisher.appender.rows_appended - rows0
            running = False
            await asyncio.gather(*pool)
            return rate, rows / max(drains, 1)

        rate, batch = asyncio.run(main())
        db.close()
    return rate, batch, body_bytes


def run_ceiling(batch: int, secs: float) -> float:
    """Records/s of a bare loop: ``batch`` 1 KiB rows per commit, WAL, synchronous=FULL."""
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        conn = connect(Path(tmp) / "ceiling.db", synchronous="FULL")
        conn.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        rows = [("x" * RECORD_BYTES,)] * batch
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < secs:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO records (body) VALUES (?)", rows)
            conn.execute("COMMIT")
            done += batch
        elapsed = time.perf_counter() - start
        conn.close()
    return done / elapsed


def bench_publish(thread_counts: list[int], secs: float, repeats: int) -> None:
    print(f"1. durable put_events, 10 entries a call, ~{RECORD_BYTES} B events, "
          f"{secs:g} s runs x {repeats} repeats, each beside a ceiling run (median)")
    print(f"{'callers':>16} {'events/s':>10} {'rows/commit':>11} {'ceiling rec/s':>13} "
          f"{'ratio':>6}")
    cases: list[tuple[str, Any]] = [
        (f"{threads} threads", lambda threads=threads: run_publish(threads, secs))
        for threads in thread_counts
    ]
    cases.append(("64 asyncio tasks", lambda: run_publish_async(64, secs)))
    for label, run in cases:
        rates, batches, ceilings, ratios = [], [], [], []
        body = 0
        for _ in range(repeats):
            rate, batch, body = run()
            ceiling = run_ceiling(max(1, round(batch)), secs)
            rates.append(rate)
            batches.append(batch)
            ceilings.append(ceiling)
            ratios.append(rate / ceiling)
        print(f"{label:>16} {statistics.median(rates):>10,.0f} "
              f"{statistics.median(batches):>11.0f} {statistics.median(ceilings):>13,.0f} "
              f"{statistics.median(ratios):>6.2f}")
    print(f"   (stored event body {body} B; ceiling record {RECORD_BYTES} B; target ratio >= 0.5)")


# -- 2. router throughput with 1,000 rules on one core ----------------------------------------


def router_settings() -> Settings:
    """1,000 rules on one bus, about 2 matches an event (see the module docstring)."""
    rules: list[dict[str, Any]] = []

    def rule(pattern: dict[str, Any], **shape: Any) -> None:
        n = len(rules)
        target = {"id": "t", "type": "log", "path": f"router/{n}.jsonl", **shape}
        rules.append({"name": f"r{n}", "bus": "clients", "event_pattern": pattern,
                      "targets": [target]})

    for event_type in EVENT_TYPES:  # 20: one per event type, the whole event
        rule({"source": ["clientevents"], "detail": {"eventType": [event_type]}})
    for k in range(500):  # exact sku per event type
        rule({"source": ["clientevents"],
              "detail": {"eventType": [EVENT_TYPES[k % 20]], "data": {"itemSku": [100 + k]}}},
             input_path="$.detail")
    for k in range(250):  # client id prefix, with an input transformer
        rule({"resources": [{"prefix": f"{k:02x}"}]},
             input_transformer={
                 "input_paths_map": {"type": "$.detail.eventType", "client": "$.resources[0]"},
                 "input_template": '{"type": <type>, "client": <client>, '
                                   '"rule": <aws.events.rule-name>}'})
    for k in range(230):  # numeric amount ranges
        rule({"detail": {"data": {"amount": [{"numeric": [">=", k * 10, "<", k * 10 + 10]}]}}})
    return Settings.model_validate({"buses": [{"name": "clients"}], "rules": rules})


def client_entries(count: int, seed: int = 7) -> Iterator[list[dict[str, Any]]]:
    """Client events like the reference clients send, 10 per list."""
    rnd = random.Random(seed)
    batch: list[dict[str, Any]] = []
    for _ in range(count):
        data: dict[str, Any] = {"itemSku": rnd.randrange(100, 1000),
                                "amount": rnd.randrange(1, 3000),
                                "searchTerm": rnd.choice(["games", "shoes", "gift card"])}
        detail = {"eventType": rnd.choice(EVENT_TYPES), "schemaVersion": rnd.choice([1, 2]),
                  "data": data}
        batch.append({"Source": "clientevents", "DetailType": "prod",
                      "Detail": orjson.dumps(detail).decode(), "EventBusName": "clients",
                      "Resources": [str(uuid.UUID(int=rnd.getrandbits(128), version=4))]})
        if len(batch) == 10:
            yield batch
            batch = []
    if batch:
        yield batch


def _cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def pinned_to_one_core() -> Iterator[int]:
    """Pin every thread of this process (and threads started later) to one CPU core."""
    cpus = sorted(os.sched_getaffinity(0))
    core = cpus[-1]
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    for tid in tids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, {core})
    try:
        yield core
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, set(cpus))


def bench_router(events: int, repeats: int) -> None:
    settings = router_settings()
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp:
        db = Database(Path(tmp) / "clientevents.db")
        publisher = Publisher(db, settings)
        for entries in client_entries(events):
            publisher.put_events(entries)
        log = EventLog(db)
        rates: list[float] = []
        cpu_rates: list[float] = []
        deliveries = 0
        with pinned_to_one_core() as core:
            for _ in range(repeats):
                db.write(lambda c: c.execute("DELETE FROM deliveries"))
                db.write(lambda c: log.commit_offset(c, ROUTER_GROUP, "clients", 0))
                router = Router(db, settings)
                start, cpu_start = time.perf_counter(), _cpu_secs()
                routed = 0
                while (n := router.drain()) > 0:  # what the worker's loop runs
                    routed += n
                rates.append(routed / (time.perf_counter() - start))
                cpu_rates.append(routed / (_cpu_secs() - cpu_start))
                deliveries = db.read(
                    lambda c: c.execute("SELECT count(*) FROM deliveries").fetchone()[0])
        db.close()
    print(f"2. router, {len(settings.rules)} rules, {events:,} events x {repeats} repeats, "
          f"batches of 500, pinned to CPU {core}")
    print(f"   median {statistics.median(rates):,.0f} events/s wall clock (runs: "
          f"{', '.join(f'{r:,.0f}' for r in rates)}); target >= 20,000")
    print(f"   median {statistics.median(cpu_rates):,.0f} events per CPU-second of the process "
          f"(runs: {', '.join(f'{r:,.0f}' for r in cpu_rates)}): the rate on a core of its own")
    print(f"   {deliveries / events:.2f} deliveries an event")


# -- 3. latency from put_events to the log target's line --------------------------------------

LATENCY_CONFIG = """
buses: [{name: default}]
rules:
  - name: all
    bus: default
    event_pattern: {source: [clientevents]}
    targets: [{id: file, type: log, path: latency/events.jsonl}]
"""


class Tail:
    """Reads lines appended to a file and stamps each event id with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.arrived: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.path.exists() and not self._stop.is_set():
            time.sleep(0.0005)
        if self._stop.is_set():
            return
        with open(self.path, "rb") as file:
            rest = b""
            while not self._stop.is_set():
                chunk = file.read()
                if not chunk:
                    time.sleep(0.0005)
                    continue
                now = time.perf_counter()
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if line:
                        self.arrived[orjson.loads(line)["id"]] = now

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_latency(rate: float, secs: float, tmp: Path, config: Path) -> tuple[list[float], float]:
    """One run: a worker process, this process publishing at ``rate``; sorted latencies (s)."""
    data = tmp / f"data-{time.monotonic_ns()}"
    worker_log = tmp / f"worker-{data.name}.log"
    with open(worker_log, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "clientevents", "worker", "--config", str(config),
             "--data-dir", str(data)],
            stdout=subprocess.DEVNULL, stderr=log_file,
        )
    try:
        settings = Settings.model_validate({"buses": [{"name": "default"}]})
        while not (data / "clientevents.db").exists():
            time.sleep(0.01)
        db = Database(data / "clientevents.db")
        publisher = Publisher(db, settings)
        tail = Tail(data / "latency" / "events.jsonl")
        entries = [{"Source": "clientevents", "DetailType": "prod",
                    "Detail": orjson.dumps({"eventType": "pageview", "n": i}).decode()}
                   for i in range(10)]
        publisher.put_events(entries)  # warm up the whole path
        time.sleep(0.5)
        calls = int(rate * secs / 10)
        interval = 10.0 / rate
        scheduled: dict[str, float] = {}

        async def call(at: float) -> None:
            answer = await publisher.put_events_async(entries)
            for result in answer["Entries"]:
                scheduled[result["EventId"]] = at

        async def load() -> float:
            # Open loop: call k starts at start + k * interval whatever earlier calls do.
            start = time.perf_counter() + 0.05
            tasks = []
            for k in range(calls):
                at = start + k * interval
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(call(at)))
            await asyncio.gather(*tasks)
            return calls * 10 / (time.perf_counter() - start)

        offered = asyncio.run(load())
        deadline = time.perf_counter() + 30
        while len(scheduled.keys() & tail.arrived.keys()) < len(scheduled):
            if time.perf_counter() > deadline:
                break
            time.sleep(0.05)
        tail.stop()
        db.close()
        latencies = sorted(tail.arrived[i] - at for i, at in scheduled.items()
                           if i in tail.arrived)
        missing = len(scheduled) - len(latencies)
        if missing:
            print(f"   warning: {missing} events did not arrive within 30 s; worker log:")
            print(worker_log.read_text()[-2000:])
        return latencies, offered
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


def bench_latency(rate: float, secs: float, repeats: int) -> None:
    p50s, p99s, offered = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as tmp_name:
        tmp = Path(tmp_name)
        config = tmp / "latency.yaml"
        config.write_text(LATENCY_CONFIG)
        for _ in range(repeats):
            latencies, rate_seen = run_latency(rate, secs, tmp, config)
            if not latencies:
                continue
            p50s.append(percentile(latencies, 0.50) * 1000)
            p99s.append(percentile(latencies, 0.99) * 1000)
            offered.append(rate_seen)
    if not p50s:
        print("3. latency: no event arrived (see the warnings above)")
        return
    print(f"3. latency put_events -> log target line, {rate:,.0f} events/s offered for "
          f"{secs:g} s x {repeats} repeats (worker in its own process)")
    print(f"   median p50 {statistics.median(p50s):.1f} ms, median p99 "
          f"{statistics.median(p99s):.1f} ms (runs p99: "
          f"{', '.join(f'{p:.1f}' for p in p99s)}); offered "
          f"{statistics.median(offered):,.0f} events/s; target p99 < 50 ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--only", choices=["publish", "router", "latency"], default=None)
    args = parser.parse_args(argv)
    if args.quick:
        publish = ([8], 0.3, 1)
        router = (2_000, 1)
        latency = (1_000.0, 0.5, 1)
    else:
        publish = ([32, 64], 1.0, 9)
        router = (50_000, 5)
        latency = (10_000.0, 10.0, 3)
    print(f"bench.bus on {os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}, "
          f"Python {sys.version.split()[0]}")
    if args.only in (None, "publish"):
        bench_publish(*publish)
    if args.only in (None, "router"):
        bench_router(*router)
    if args.only in (None, "latency"):
        bench_latency(*latency)


if __name__ == "__main__":
    main()
