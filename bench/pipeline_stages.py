"""The workers' CPU per event, stage by stage, in process: where the pipeline's time goes.

Run ``.venv/bin/python -m bench.pipeline_stages`` (``--requests 3000``: 30,000 events). It
fills a fresh log with the blueprint's ingest records (10 entries a request, as the gateway
stores them), then runs each worker stage alone over the whole log, one after the other, on
this process's threads, and prints process CPU (and wall) time per event:

- ``router``: read, expand, match both rules, queue the tickets rule's deliveries (none here:
  the load has no loyalty purchase), count matches, commit offsets;
- ``archive``: read, expand, copy every event into ``archive_events``;
- ``lake feed``: read, expand, match, shape (``<aws.events.event.json>``), the delivery
  stream's processors (the blueprint's function, the jq metadata query), partitioning and
  the objects' writes, offsets.

``--profile`` prints a cProfile table of the lake feed's reading and processing, run
synchronously on the main thread (cProfile sees one thread).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import cProfile
import json
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.pipeline import bench_config, load_body

CLIENT_ID = "0f6c3c0e-1b7a-4a8e-9d61-2f5c7a8b9e10"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="Ingest requests to fill.")
    parser.add_argument("--profile", action="store_true", help="cProfile the lake feed.")
    args = parser.parse_args(argv)

    from clientevents.config import validate_settings
    from clientevents.runtime import Runtime

    data = Path(tempfile.mkdtemp(prefix="clientevents-stages-"))
    atexit.register(shutil.rmtree, data, ignore_errors=True)
    settings = validate_settings(bench_config(data), file="<bench>", environ={})
    runtime = Runtime(settings, data, direct_streams=True)
    texts = [e["entry"] for e in json.loads(load_body())["entries"]]
    details = [json.loads(t) for t in texts]

    async def fill() -> None:
        for _ in range(max(1, args.requests // 50)):
            await asyncio.gather(*(
                runtime.publisher.append_details(
                    details, source="clientevents", detail_type="prod", resources=[CLIENT_ID],
                    bus="client_event_bus", texts=texts)
                for _ in range(50)))

    asyncio.run(fill())
    events = max(1, args.requests // 50) * 50 * len(texts)
    archiver = runtime.archiver  # registers at the router's position: before routing
    router = runtime.router
    [feed] = runtime.stream_feeds

    def timed(name: str, work: Callable[[], object]) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"{name:10} {cpu / events * 1e6:6.1f} us CPU/event  {wall / events * 1e6:6.1f} "
              f"us wall/event", flush=True)

    def route_all() -> None:
        while router.drain():
            pass

    def archive_all() -> None:
        while archiver.archive_pass():
            pass

    async def feed_all() -> None:
        while await feed.step():
            pass
        await feed.finish()

    print(f"{events:,} events in the log ({args.requests} requests of {len(texts)})")
    timed("router", route_all)
    timed("archive", archive_all)
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        while (read := feed._read()) is not None:
            feed._cursor = read[0].last_seq
            feed.stream._ingest(read[1])
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(20)
    else:
        timed("lake feed", lambda: asyncio.run(feed_all()))
    runtime.close()


if __name__ == "__main__":
    main()
