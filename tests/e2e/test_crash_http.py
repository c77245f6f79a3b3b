"""Power cut under HTTP load: every event answered 200 reaches the lake after a restart.

``clientevents serve`` (gateway and workers) runs as a subprocess while clients send the sample
request at full speed; the whole process group is killed with SIGKILL mid-load, then the
command is started again on the same data folder. Every EventId a client received in a 200
answer must then be found in the default pipeline's lake file (at least once: duplicates are
allowed by at-least-once delivery and counted).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from gateway_process import Newcomer, ServeProcess, lake_events, sample_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENDERS = 16


class Load:
    """Senders posting the sample request in a loop; collects acknowledged EventIds."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.acknowledged: list[str] = []
        self.failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        body = sample_request()
        body["entries"] = (body["entries"] * 2)[:10]
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:

            async def sender() -> None:
                while not self.stop.is_set():
                    try:
                        response = await client.post(
                            "/prod/event", json=body, headers={"Authorization": self.token})
                    except httpx.HTTPError:
                        self.failures += 1
                        await asyncio.sleep(0.01)
                        continue
                    if response.status_code == 200:
                        answer = response.json()
                        assert answer["FailedEntryCount"] == 0, answer
                        self.acknowledged.extend(e["EventId"] for e in answer["Entries"])
                    else:
                        self.failures += 1

            await asyncio.gather(*(sender() for _ in range(SENDERS)))


def test_sigkill_under_http_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir)
    first.start()
    token = Newcomer(first.url, data_dir).access_token("crash-tester")

    load = Load(first.url, token)
    load.thread.start()
    deadline = time.monotonic() + 30
    while len(load.acknowledged) < 3000 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill_all()            # gateway and workers at once, requests in flight
    time.sleep(0.3)
    load.stop.set()
    load.thread.join(timeout=30)
    acknowledged = set(load.acknowledged)
    assert len(acknowledged) == len(load.acknowledged) >= 1000

    second = ServeProcess(data_dir)
    second.start()
    restarted = time.monotonic()
    try:
        # Deliveries the killed worker had claimed (under a 120 s lease) are released as soon
        # as the new worker sees that the old one's process is gone: no wait for the lease.
        deadline = restarted + 60
        while True:
            delivered = Counter(e["id"] for e in lake_events(data_dir))
            missing = acknowledged - set(delivered)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        assert second.stop() == 0
    duplicates = sum(n - 1 for i, n in delivered.items() if i in acknowledged and n > 1)
    print(f"acknowledged {len(acknowledged)} events; missing after restart {len(missing)}; "
          f"delivered more than once {duplicates}; failed requests around the kill "
          f"{load.failures}; all delivered {time.monotonic() - restarted:.1f} s after the restart")
    assert not missing, f"{len(missing)} acknowledged events never reached the lake"
