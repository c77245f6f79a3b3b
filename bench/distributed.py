"""The full pipeline with 1 gateway + 1 worker and with 2 + 2 processes, and the backends'
own ceilings.

Run ``.venv/bin/python -m bench.distributed`` (``--quick`` for a short run). Each row starts a
:class:`bench.cluster.Cluster` (``clientevents gateway`` and ``clientevents worker``
processes over the same storage), signs four users in, sends ``--requests`` requests of 10
entries (one loyalty purchase each) at ``--concurrency`` requests in flight, round robin over
the gateways, and waits until every acknowledged event is in the lake and the archive and each
loyalty purchase is a ticket. It prints, per row:

- ``ingest ev/s``: acknowledged events per second while sending, and the requests' p50/p99;
- ``pipeline ev/s``: events per second from the first request until the last delivery.

``--backend`` chooses the storage of the measured rows: ``embedded`` (the default: one SQLite
file) or ``postgres+jetstream`` (the configuration's ``storage:`` block; needs those
backends). The embedded default's 1 + 1 row is always measured in the same run, beside it;
``--local-limits-row`` adds it with in-process rate limits (``CLIENTEVENTS_SHARED_RATE_LIMITS=0``),
the cost of the shared per-client limit.

Ceilings, measured against the shared services when they answer (``--no-ceilings`` skips):

- JetStream's own publish rate: nats-py publishes of a 1 KiB message to a file stream of one
  replica, each awaited for its acknowledgement, 1 and 64 in flight;
- PostgreSQL's batched insert rate: rows of one 1 KiB text column, 500 a batch, with psycopg's
  ``executemany`` and with ``COPY``, one commit a batch.

``--baseline-src DIR`` compares two revisions instead: each row is measured alternately with
the cluster's processes importing ``clientevents`` from ``DIR`` (the ``src`` folder of another
checkout, e.g. ``git worktree add /tmp/before HEAD~1``) and from this one, and the median of
the paired after/before pipeline ratios is printed (no 2 + 2 rows, no ceilings).

Every figure is a median of ``--repeats`` runs, with the machine's load (``uptime``) printed;
on two cores the 2 + 2 row cannot be faster than 1 + 1 (``docs/scaling.md`` explains).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.cluster import Cluster, cluster_config, missing
from clientevents.ratelimit.shared import ENV_SHARED

PG_DSN = os.environ.get("CLIENTEVENTS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("CLIENTEVENTS_BENCH_NATS_URL", "nats://127.0.0.1:4222")


def _storage(backend: str) -> dict[str, Any] | None:
    if backend == "embedded":
        return None
    unique = uuid.uuid4().hex[:8]
    return {"store": "postgres", "log": "jetstream",
            "postgres": {"dsn": PG_DSN, "schema": f"bench_{unique}"},
            "jetstream": {"servers": [NATS_URL], "stream_prefix": f"bench_{unique}",
                          "replicas": 1}}


def pipeline_run(backend: str, gateways: int, workers: int, requests: int,
                 concurrency: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """One measured run; its figures."""
    with (tempfile.TemporaryDirectory(prefix="clientevents-dist-") as tmp,
          Cluster(Path(tmp), cluster_config(storage=_storage(backend)), env=env) as cluster):
        cluster.start_gateways(gateways)
        cluster.start_workers(workers)
        tokens = cluster.tokens(4, prefix="bench")
        latencies: list[float] = []
        started = time.perf_counter()
        acked = asyncio.run(cluster.send(tokens, requests=requests, entries=10,
                                         concurrency=concurrency, latencies=latencies))
        sent = time.perf_counter() - started
        found, _ = cluster.wait_delivered(acked, timeout=300)
        total = time.perf_counter() - started
        lost = missing(acked, found)
        if any(lost.values()):
            raise RuntimeError(f"undelivered events: {lost}")
    latencies.sort()
    return {
        "ingest": len(acked) / sent,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "pipeline": len(acked) / total,
    }


# -- ceilings -------------------------------------------------------------------------------


async def _jetstream_rate(in_flight: int, count: int) -> float:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=2)
    js = nc.jetstream()
    name = f"bench_ceiling_{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=name, subjects=[f"{name}.>"], num_replicas=1)
    payload = b"x" * 1024
    try:
        started = time.perf_counter()
        sent = 0
        while sent < count:
            batch = min(in_flight, count - sent)
            await asyncio.gather(*(js.publish(f"{name}.e", payload) for _ in range(batch)))
            sent += batch
        return count / (time.perf_counter() - started)
    finally:
        await js.delete_stream(name)
        await nc.close()


def _pg_rate(method: str, rows: int, batch: int = 500) -> float:
    import psycopg

    payload = "x" * 1024
    table = f"bench_ceiling_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN) as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body text NOT NULL)")
        conn.commit()
        try:
            started = time.perf_counter()
            for _ in range(rows // batch):
                with conn.cursor() as cur:
                    if method == "copy":
                        with cur.copy(f"COPY {table} (body) FROM STDIN") as copy:
                            for _ in range(batch):
                                copy.write_row((payload,))
                    else:
                        cur.executemany(f"INSERT INTO {table} (body) VALUES (%s)",
                                        [(payload,)] * batch)
                conn.commit()
            return (rows // batch * batch) / (time.perf_counter() - started)
        finally:
            conn.execute(f"DROP TABLE {table}")
            conn.commit()


def ceilings(repeats: int, count: int) -> list[tuple[str, float]]:
    rows: list[tuple[str, float]] = []
    for in_flight in (1, 64):
        try:
            rates = [asyncio.run(_jetstream_rate(in_flight, count)) for _ in range(repeats)]
            rows.append((f"jetstream publish, {in_flight} in flight (msg/s)",
                         statistics.median(rates)))
        except Exception as exc:  # the shared NATS is optional for the benchmark
            print(f"  jetstream ceiling skipped: {exc}")
            break
    for method in ("executemany", "copy"):
        try:
            rates = [_pg_rate(method, count) for _ in range(repeats)]
            rows.append((f"postgres {method}, 500 a commit (rows/s)", statistics.median(rates)))
        except Exception as exc:
            print(f"  postgres ceiling skipped: {exc}")
            break
    return rows


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def compare(baseline: Path, backend: str, requests: int, concurrency: int,
            repeats: int) -> None:
    """1 + 1 rows of the embedded default and ``backend``, each run alternately on the
    ``clientevents`` under ``baseline`` and on this checkout's; medians and paired ratios."""
    here = Path(__file__).resolve().parents[1] / "src"
    if not (baseline / "clientevents").is_dir():
        raise SystemExit(f"--baseline-src {baseline}: no clientevents package in that folder")
    variants = {"before": {"PYTHONPATH": str(baseline.resolve())},
                "after": {"PYTHONPATH": str(here)}}
    backends = ["embedded"] + ([backend] if backend != "embedded" else [])
    print(f"load before: {_load()}")
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(repeats):
        for name in backends:
            for variant, env in variants.items():
                runs.setdefault((name, variant), []).append(
                    pipeline_run(name, 1, 1, requests, concurrency, env))
    print(f"{'row':<34} {'ingest ev/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'pipeline ev/s':>14}")
    for (name, variant), rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{name + ' 1+1 ' + variant:<34} {med['ingest']:>12,.0f} {med['p50_ms']:>8.1f} "
              f"{med['p99_ms']:>8.1f} {med['pipeline']:>14,.0f}")
    for name in backends:
        ratios = [a["pipeline"] / b["pipeline"]
                  for a, b in zip(runs[(name, "after")], runs[(name, "before")], strict=True)]
        print(f"{name} after/before pipeline: median {statistics.median(ratios):.2f} "
              f"(runs {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"load after: {_load()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["embedded", "postgres+jetstream"],
                        default="embedded")
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests of 10 entries per run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="600 requests, one repeat")
    parser.add_argument("--no-ceilings", action="store_true")
    parser.add_argument("--local-limits-row", action="store_true",
                        help="also embedded 1+1 with in-process rate limits (the cost of "
                             "shared ones)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="compare with the clientevents package under this folder (the "
                             "src of another checkout), 1 + 1 rows, runs interleaved")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.repeats = 600, 1
    if args.baseline_src is not None:
        compare(args.baseline_src, args.backend, args.requests, args.concurrency, args.repeats)
        return
    layouts: list[tuple[str, int, int, dict[str, str] | None]] = [("embedded", 1, 1, None)]
    if args.local_limits_row:
        layouts.append(("embedded", 1, 1, {ENV_SHARED: "0"}))
    layouts += [(args.backend, 1, 1, None)] if args.backend != "embedded" else []
    layouts += [(args.backend, 2, 2, None)]
    print(f"load before: {_load()}")
    print(f"{'row':<28} {'ingest ev/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'pipeline ev/s':>14}")
    base: float | None = None
    for backend, gateways, workers, env in layouts:
        runs = [pipeline_run(backend, gateways, workers, args.requests, args.concurrency, env)
                for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        base = base or med["pipeline"]
        name = f"{backend} {gateways}+{workers}" + (" local limits" if env else "")
        print(f"{name:<28} {med['ingest']:>12,.0f} "
              f"{med['p50_ms']:>8.1f} {med['p99_ms']:>8.1f} {med['pipeline']:>14,.0f}"
              f"  ({med['pipeline'] / base:.2f}x embedded 1+1)")
    if not args.no_ceilings:
        print("ceilings:")
        for name, rate in ceilings(args.repeats, 2000 if args.quick else 10_000):
            print(f"  {name:<44} {rate:>10,.0f}")
    print(f"load after: {_load()}")


if __name__ == "__main__":
    main()
