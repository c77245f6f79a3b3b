"""CPU cost of one ingest request, measured in process: no HTTP server, no load generator.

Run ``.venv/bin/python -m bench.ingest_cpu``. It builds the gateway exactly as ``clientevents
serve`` does (the blueprint, durable appends to a real SQLite file, the access log written to a
file) and calls the ASGI app directly with the scope, ``receive`` and ``send`` an ASGI server
would pass, from ``--concurrency`` tasks at once so that requests share commits as they do
under load. Every request carries the benchmark's 10 entries and a real access token.

It prints the process CPU time per request (every thread: the event loop and the database's
writer), which a shared, noisy machine disturbs far less than wall-clock rates, for the
gateway and for the benchmark's bare endpoint (reads and parses the body, answers 200) in
interleaved rounds, and the ratio of their medians:

- ``--profile``: a cProfile table of the event-loop thread (functions by own time);
- ``--callgrind``: runs itself twice under ``valgrind --tool=callgrind`` (with ``--requests``
  and twice as many) and prints the instructions one request costs, the difference of the two
  runs divided by the extra requests, so set-up and start-up cancel out;
- ``--users N``: N distinct signed-in users, each request with one of their tokens at random;
- ``--bare``: the bare endpoint alone (with ``--callgrind``: its instructions per request);
- ``--auth N``: ``authenticate`` alone over N users' tokens, first and cached verifications.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingest import bench_settings, ingest_body
from bench.users import make_tokens


def _scope(token: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/prod/event",
        "raw_path": b"/prod/event",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }


async def _drive(app: Any, tokens: list[str], body: bytes, requests: int,
                 concurrency: int) -> int:
    failures = 0
    remaining = requests
    pick = random.Random(7).choice

    async def one_client() -> None:
        nonlocal remaining, failures
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        status = 0

        async def send(event: dict[str, Any]) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]

        while remaining > 0:
            remaining -= 1
            await app(_scope(pick(tokens), body), receive, send)
            if status != 200:
                failures += 1

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return failures


async def bare_endpoint(scope: Any, receive: Any, send: Any) -> None:
    """The ceiling: read and parse the body, answer 200 (as ``bench.ingest`` serves it)."""
    import orjson

    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    orjson.loads(b"".join(chunks))
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"11")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


def measure(requests: int, concurrency: int, users: int, profile: bool,
            bare: bool = False, rounds: int = 5, only: str = "both") -> None:
    """Build the gateway, warm it up, then time ``requests`` requests ``rounds`` times, each
    round of the gateway preceded by one of the bare endpoint; print the medians and ratio."""
    from clientevents.server.accesslog import configure_access_log
    from clientevents.server.app import close_app, create_app

    workdir = Path(tempfile.mkdtemp(prefix="clientevents-cpu-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    try:
        settings = bench_settings(data_dir)
        handler = configure_access_log(open(data_dir / "access.log", "a", encoding="utf-8"))  # noqa: SIM115
        gateway = create_app(settings, data_dir=data_dir)
        tokens = make_tokens(settings, data_dir, users)
        body = ingest_body()
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:  # pragma: no cover - uvloop is a dependency
            runner = asyncio.run
        # Warm-up: every token verified once (cold verifications are measured apart below).
        cold_started = time.process_time()
        runner(_drive(gateway, tokens, body, len(tokens), 1) if users > 1 else
               _drive(gateway, tokens, body, 200, concurrency))
        cold = time.process_time() - cold_started
        if users > 1:
            print(f"warm-up: {users} first requests (cold tokens) cost "
                  f"{cold / users * 1e6:.1f} us of CPU each")
        apps = [("bare", bare_endpoint)] if bare else [("bare", bare_endpoint),
                                                       ("gateway", gateway)]
        if profile or bare or only != "both":
            apps = [pair for pair in apps if pair[0] == ("bare" if bare else only)] or apps[-1:]
        if profile:
            rounds = 1
        cpu: dict[str, list[float]] = {name: [] for name, _ in apps}
        system: dict[str, list[float]] = {name: [] for name, _ in apps}
        failures = 0
        profiler = cProfile.Profile() if profile else None
        for _ in range(rounds):
            for name, app in apps:
                started = time.process_time()
                started_sys = os.times().system
                if profiler is not None:
                    profiler.enable()
                failures += runner(_drive(app, tokens, body, requests, concurrency))
                if profiler is not None:
                    profiler.disable()
                cpu[name].append((time.process_time() - started) / requests)
                system[name].append((os.times().system - started_sys) / requests)
        print(f"requests {requests} x {rounds} rounds  concurrency {concurrency}  users {users}"
              f"  failures {failures}")
        medians = {name: statistics.median(values) for name, values in cpu.items()}
        for name, value in medians.items():
            print(f"{name:8} cpu per request {value * 1e6:8.1f} us, of it in the kernel "
                  f"{statistics.median(system[name]) * 1e6:6.1f} us  (rounds: "
                  + ", ".join(f"{v * 1e6:.1f}" for v in cpu[name]) + ")")
        if "gateway" in medians and "bare" in medians:
            print(f"bare/gateway cpu ratio {medians['bare'] / medians['gateway']:.3f}")
        if profiler is not None:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(
                int(os.environ.get("BENCH_PROFILE_ROWS", "35")))
            print(out.getvalue())
        close_app(gateway)
        handler.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure_auth(users: int, rounds: int = 3) -> None:
    """Thread CPU time of ``authenticate`` for ``users`` distinct tokens: first verifications
    (caches emptied) and cached ones; medians of ``rounds``."""
    from clientevents.identity import build_identity
    from clientevents.runtime import Runtime

    workdir = Path(tempfile.mkdtemp(prefix="clientevents-auth-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    try:
        settings = bench_settings(data_dir)
        headers = [f"Bearer {token}" for token in make_tokens(settings, data_dir, users)]
        runtime = Runtime(settings, data_dir)
        authenticator = build_identity(settings, runtime.db, data_dir).authenticator

        async def each() -> None:
            for header in headers:
                await authenticator.authenticate(header)

        cold: list[float] = []
        cached: list[float] = []
        for _ in range(rounds):
            authenticator.forget()
            started = time.thread_time()
            asyncio.run(each())
            cold.append((time.thread_time() - started) / users)
            started = time.thread_time()
            asyncio.run(each())
            cached.append((time.thread_time() - started) / users)
        first, again = statistics.median(cold), statistics.median(cached)
        print(f"authenticate, {users} users: first verification {first * 1e6:.1f} us, "
              f"cached {again * 1e6:.1f} us (thread CPU, medians)")
        runtime.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def callgrind(requests: int, concurrency: int, users: int, bare: bool = False) -> None:
    """Instructions per request: two runs under callgrind, the difference per extra request."""
    counts = []
    for n in (requests, 2 * requests):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                 sys.executable, "-m", "bench.ingest_cpu", "--requests", str(n),
                 "--concurrency", str(concurrency), "--users", str(users), "--rounds", "1",
                 "--only", "bare" if bare else "gateway"],
                capture_output=True, text=True, check=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                    [str(Path.cwd()), *filter(None, [os.environ.get("PYTHONPATH")])])},
            )
            match = re.search(r"Collected : (\d+)", done.stderr)
            if match is None:
                raise RuntimeError("callgrind printed no instruction count:\n" + done.stderr)
            counts.append(int(match.group(1)))
            print(f"{n} requests: {counts[-1]:,} instructions", flush=True)
    print(f"instructions per request: {(counts[1] - counts[0]) / requests:,.0f}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=("both", "gateway", "bare"), default="both",
                        help="Measure only one of the two apps.")
    parser.add_argument("--auth", type=int, default=0, metavar="USERS",
                        help="Measure authenticate alone over USERS distinct tokens.")
    args = parser.parse_args(argv)
    if args.auth:
        measure_auth(args.auth)
    elif args.callgrind:
        callgrind(args.requests, args.concurrency, args.users, args.bare)
    else:
        measure(args.requests, args.concurrency, args.users, args.profile, args.bare,
                args.rounds, args.only)


if __name__ == "__main__":
    main()
