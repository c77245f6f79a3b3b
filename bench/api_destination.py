"""API destinations: delivery throughput against a bare HTTP client, and end-to-end latency.

Run ``.venv/bin/python -m bench.api_destination`` (``--quick`` for a short smoke run,
``--only NAME`` for one part). The receiver is ``bench.api_sink`` under uvicorn in its own
process (answers 201, records arrivals).

1. **throughput**: deliveries already in the durable queue, sent by real dispatchers through an
   ``api_destination`` target (no rate limit, Basic auth, one call per delivery, each claim and
   settle a durable write), at concurrency 1, 8 and 64; interleaved with the same number of
   POSTs of the same bodies by a bare ``httpx.AsyncClient`` at the same concurrency. Prints
   deliveries/s, calls/s and the median of the runs' ratios (aim: at least 0.5).
2. **latency**: a worker process (``clientevents worker``) routes and delivers every event to
   the API destination while this process publishes at a steady 1,000 events/s with
   ``put_events_async`` (the gateway's call; it returns when the events are durable, the
   moment the gateway answers 200). Prints p50 and p99 from that return to the call's arrival
   at the receiver (aim: p99 under 50 ms).

The machine's other load weighs on every figure; ratios from interleaved runs weigh least.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import yaml

from clientevents.config import validate_settings
from clientevents.config.model import Settings
from clientevents.events import Publisher
from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.queue import Delivery, enqueue, queue_depths, target_key

BODY = orjson.dumps({"ticket": {"subject": "Loyalty customer purchase",
                                "comment": {"body": "This customer has made a loyalty "
                                                    "purchase"}}}).decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def sink() -> Iterator[str]:
    """The receiver in its own process; yields its URL."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.api_sink:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log",
         "--loop", "uvloop", "--http", "httptools"],
        cwd=Path(__file__).resolve().parents[1],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/arrivals", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the receiver did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def config(url: str, concurrency: int) -> str:
    return f"""
buses: [{{name: b}}]
connections:
  - name: c
    authorization_type: basic
    basic: {{username: bench, password: bench-password}}
api_destinations:
  - name: d
    connection: c
    invocation_endpoint: "{url}/api/v2/tickets.json"
    concurrency: {concurrency}
    allow_private_networks: [127.0.0.0/8]
rules:
  - name: r
    bus: b
    event_pattern: {{source: [bench]}}
    targets:
      - {{id: t, type: api_destination, api_destination: d, input_path: $.detail.ticket}}
"""


def run_dispatchers(url: str, concurrency: int, count: int, tmp: Path) -> float:
    """Deliveries/s of ``count`` queued deliveries through the api_destination target."""
    data = tmp / f"data-{uuid.uuid4().hex[:8]}"
    settings = validate_settings(yaml.safe_load(config(url, concurrency)), environ={})
    settings = settings.with_data_dir(data)
    db = Database(data / "clientevents.db")
    key = target_key("b", "r", "t")
    now = time.time()
    db.write(lambda conn: enqueue(conn, [
        Delivery(key, "b", "r", "t", str(uuid.uuid4()), BODY, now, now) for _ in range(count)
    ]))
    options = DispatchOptions(batch_size=500, poll_interval_secs=0.002)
    dispatchers = Dispatchers(db, settings, TargetContext(db, settings, data), options=options)

    async def deliver() -> float:
        stop = asyncio.Event()
        start = time.perf_counter()
        task = asyncio.create_task(dispatchers.run(stop))
        while await asyncio.to_thread(db.read, queue_depths):
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - start
        stop.set()
        await task
        return count / elapsed

    try:
        return asyncio.run(deliver())
    finally:
        db.close()


def run_bare(url: str, concurrency: int, count: int) -> float:
    """Calls/s of a bare httpx.AsyncClient posting the same bodies at the same concurrency."""
    async def post_all() -> float:
        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=5.0) as client:
            remaining = iter(range(count))
            headers = {"Content-Type": "application/json", "Authorization": "Basic YmVuY2g="}

            async def worker() -> None:
                for _ in remaining:
                    for attempt in range(3):  # a connection the receiver reset: post again
                        try:
                            response = await client.post(
                                f"{url}/api/v2/tickets.json", content=BODY,
                                headers={**headers,
                                         "X-Clientevents-Event-Id": str(uuid.uuid4())})
                            break
                        except httpx.TransportError:
                            if attempt == 2:
                                raise
                    response.raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return count / (time.perf_counter() - start)

    return asyncio.run(post_all())


def bench_throughput(concurrencies: list[int], counts: dict[int, int], repeats: int) -> None:
    print("1. throughput: queued deliveries through the api_destination target vs a bare "
          "httpx.AsyncClient, same receiver, same bodies, interleaved")
    with sink() as url, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        run_bare(url, 8, 200)  # warm up the receiver
        for concurrency in concurrencies:
            count = counts[concurrency]
            ours, bare, ratios = [], [], []
            for _ in range(repeats):
                a = run_dispatchers(url, concurrency, count, tmp)
                b = run_bare(url, concurrency, count)
                ours.append(a)
                bare.append(b)
                ratios.append(a / b)
                httpx.delete(f"{url}/arrivals")
            print(f"   concurrency {concurrency:>2}: {statistics.median(ours):8,.0f} deliveries/s"
                  f"  bare {statistics.median(bare):8,.0f} calls/s  ratio "
                  f"{statistics.median(ratios):.2f} (runs: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)}; {count} calls a run)")


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


def run_latency(url: str, rate: float, secs: float, tmp: Path,
                concurrency: int = 64) -> list[float]:
    """A worker process delivers while this process publishes at ``rate``; latencies (s)."""
    data = tmp / f"data-{uuid.uuid4().hex[:8]}"
    cfg = tmp / f"latency-{data.name}.yaml"
    cfg.write_text(config(url, concurrency))
    log = tmp / f"worker-{data.name}.log"
    with open(log, "wb") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "clientevents", "worker", "--config", str(cfg),
             "--data-dir", str(data)], stdout=subprocess.DEVNULL, stderr=log_file)
    try:
        while not (data / "clientevents.db").exists():
            time.sleep(0.01)
        settings: Settings = validate_settings(yaml.safe_load(cfg.read_text()), environ={})
        db = Database(data / "clientevents.db")
        publisher = Publisher(db, settings)
        entries = [{"Source": "bench", "DetailType": "prod", "EventBusName": "b",
                    "Detail": orjson.dumps({"ticket": {"ticket": {"subject": f"n{i}"}}}).decode()}
                   for i in range(10)]
        publisher.put_events(entries)  # warm up the whole path
        time.sleep(1.0)
        answered: dict[str, float] = {}
        calls = int(rate * secs / 10)
        interval = 10.0 / rate

        async def call() -> None:
            answer = await publisher.put_events_async(entries)
            done = time.time()
            for result in answer["Entries"]:
                answered[result["EventId"]] = done

        async def load() -> None:
            start = time.perf_counter() + 0.05
            tasks = []
            for k in range(calls):
                delay = start + k * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(call()))
            await asyncio.gather(*tasks)

        asyncio.run(load())
        deadline = time.monotonic() + 30
        arrivals: dict[str, float] = {}
        while time.monotonic() < deadline:
            arrivals = httpx.get(f"{url}/arrivals", timeout=10).json()
            if answered.keys() <= arrivals.keys():
                break
            time.sleep(0.2)
        db.close()
        missing = len(answered.keys() - arrivals.keys())
        if missing:
            print(f"   warning: {missing} events did not arrive within 30 s; worker log:")
            print(log.read_text()[-2000:])
        httpx.delete(f"{url}/arrivals")
        return sorted(arrivals[i] - t for i, t in answered.items() if i in arrivals)
    finally:
        worker.terminate()
        worker.wait(timeout=60)


def bench_latency(rate: float, secs: float, repeats: int, concurrency: int = 64) -> None:
    p50s, p99s = [], []
    with sink() as url, tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        for _ in range(repeats):
            latencies = run_latency(url, rate, secs, Path(tmp_name), concurrency)
            if latencies:
                p50s.append(percentile(latencies, 0.50) * 1000)
                p99s.append(percentile(latencies, 0.99) * 1000)
    if not p50s:
        print("2. latency: no event arrived (see the warnings above)")
        return
    print(f"2. latency put_events_async return (the gateway's 200) -> call arrives, "
          f"{rate:,.0f} events/s for {secs:g} s x {repeats} repeats, concurrency {concurrency} "
          "(worker in its own process)")
    print(f"   median p50 {statistics.median(p50s):.1f} ms, median p99 "
          f"{statistics.median(p99s):.1f} ms (runs p99: "
          f"{', '.join(f'{p:.1f}' for p in p99s)}); aim p99 < 50 ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--only", choices=["throughput", "latency"], default=None)
    parser.add_argument("--latency-concurrency", type=int, default=64,
                        help="the destination's concurrency in the latency part")
    args = parser.parse_args(argv)
    if args.quick:
        counts = {1: 50, 8: 100, 64: 200}
        throughput = ([1, 8, 64], counts, 1)
        latency = (1_000.0, 0.5, 1)
    else:
        counts = {1: 1_000, 8: 3_000, 64: 5_000}
        throughput = ([1, 8, 64], counts, 5)
        latency = (1_000.0, 10.0, 3)
    print(f"bench.api_destination on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.only in (None, "throughput"):
        bench_throughput(*throughput)
    if args.only in (None, "latency"):
        bench_latency(*latency, concurrency=args.latency_concurrency)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
