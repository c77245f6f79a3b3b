"""The invocation rate limit: 10 calls a second, 200 events queued, no one-second window at the
receiver sees more than 10 calls, and all 200 arrive. Real dispatchers (their run loop, with
several calls in flight), a real database, a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "targets"))

import yaml
from api_helpers import BASIC, Harness, pipeline, recording_server
from store_helpers import open_service_store, with_test_storage

from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.log.factory import configured_log
from clientevents.routing.router import Router
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.retry import Backoff

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class StoreHarness(Harness):
    """The pipeline harness on the store and event log its settings choose (the SQLite file,
    or PostgreSQL and JetStream under the backend switch)."""

    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.settings = settings.with_data_dir(data_dir)
        self.db = open_service_store(self.settings, data_dir)
        self.log = configured_log(self.settings, self.db)
        self.publisher = Publisher(self.db, self.settings, log=self.log)
        self.router = Router(self.db, self.settings, log=self.log)
        self.context = TargetContext(self.db, self.settings, data_dir, self.publisher)
        self.options = DispatchOptions(
            lease_secs=60, send_timeout_secs=20, poll_interval_secs=0.01,
            backoff=Backoff(base_secs=0.0, cap_secs=0.0),
        )
        self.dispatchers = Dispatchers(self.db, self.settings, self.context,
                                       options=self.options)
        self.loop = asyncio.new_event_loop()

    def route_until_queued(self, count: int, limit_secs: float = 30.0) -> int:
        """Route until ``count`` deliveries are queued (a JetStream consumer's first pulls
        may come back empty while it starts); how many are."""
        deadline = time.monotonic() + limit_secs
        while self.queued() < count and time.monotonic() < deadline:
            self.run(self.router.route_once())
        return self.queued()

    def close(self) -> None:
        super().close()
        self.log.close()


def test_ten_per_second_two_hundred_queued_no_window_over_ten_all_arrive(tmp_path: Path) -> None:
    with recording_server(lambda call: (201, {}, b"{}")) as server:
        text = pipeline(f"{server.url}/tickets", connection=BASIC,
                        destination="    invocation_rate_limit_per_sec: 10\n"
                                    "    concurrency: 8")
        settings = validate_settings(with_test_storage(yaml.safe_load(text)),
                                     environ={"TOKEN": "zendesk-token"})
        harness = StoreHarness(settings, tmp_path)
        try:
            # Given 200 events routed: 200 deliveries waiting in the durable queue
            for start in range(0, 200, 10):
                harness.publish(*({"n": n} for n in range(start, start + 10)))
            assert harness.route_until_queued(200) == 200

            # When the dispatchers run until the queue is empty
            async def deliver() -> None:
                stop = asyncio.Event()
                task = asyncio.create_task(harness.dispatchers.run(stop))
                while await asyncio.to_thread(harness.queued) > 0:
                    # The backlog waits on disk: at most a second's worth is ever claimed.
                    claimed = await asyncio.to_thread(
                        harness.db.read, lambda c: c.execute(
                            "SELECT count(*) FROM deliveries WHERE attempts > 0").fetchone()[0])
                    assert claimed <= 10
                    await asyncio.sleep(0.05)
                stop.set()
                await task

            harness.run(asyncio.wait_for(deliver(), timeout=60))
        finally:
            harness.close()
    # Then all 200 arrived, each once, and no one-second window saw more than 10 calls
    times = sorted(call.at for call in server.calls)
    assert len(times) == 200
    assert len({call.headers["x-clientevents-event-id"] for call in server.calls}) == 200
    busiest = max(sum(1 for t in times[i:i + 20] if t < start + 1.0)
                  for i, start in enumerate(times))
    assert busiest <= 10
    # ... and the limit was used, not starved: 200 calls took about 20 windows.
    assert times[-1] - times[0] < 25
