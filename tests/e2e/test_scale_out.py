"""Scale-out: 2 gateways and 2 workers, one worker SIGKILLed halfway and another started.

20,000 events (2,000 requests of 10 entries, the most a request may hold; one of them a loyalty
purchase) from four signed-in users, sent round robin to two ``clientevents gateway`` processes,
while two ``clientevents worker`` processes route and deliver them. When half are acknowledged,
one worker is killed with SIGKILL (mid-batch: it holds claimed deliveries and buffered lake
records) and a new worker is started. Every acknowledged event must reach every target it
matches: the lake (every event), the archive (every event) and the ticket inbox (each loyalty
purchase). Deliveries are at least once: the duplicates the killed worker causes are counted and
reported (``record_property`` and the test's output), not forbidden.

Parametrized over backends: the embedded default, and PostgreSQL + JetStream through the
configuration's ``storage:`` block (a schema and streams of its own, dropped after the test).
Both run in the embedded pass; under the backend switch only the PostgreSQL + JetStream one does
(its ``storage:`` block wins over the switch's ``CLIENTEVENTS_STORAGE``), as the embedded one is
about the SQLite store and would only run again what the embedded pass runs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.cluster import Cluster, cluster_config, missing, report
from store_helpers import TEST_BACKEND, drop_backend_storage, require_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 2_000
ENTRIES = 10  # 20,000 events, 2,000 of them loyalty purchases (tickets)
USERS = 4


def _storage(backend: str) -> dict[str, Any] | None:
    if backend == "embedded":
        return None
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("NATS", "127.0.0.1", 4222)
    unique = uuid.uuid4().hex[:10]
    return {
        "store": "postgres",
        "log": "jetstream",
        "postgres": {"dsn": "postgresql://postgres@127.0.0.1:5432/test",
                     "schema": f"scale_{unique}"},
        "jetstream": {"servers": ["nats://127.0.0.1:4222"], "stream_prefix": f"scale_{unique}",
                      "replicas": 1},
    }


@pytest.fixture
def storage(backend: str) -> Iterator[dict[str, Any] | None]:
    """The cluster's ``storage:`` block, its schema and streams dropped after the test."""
    if backend == "embedded" and TEST_BACKEND != "embedded":
        pytest.skip("the embedded store's variant runs in the embedded pass, not under the "
                    "backend switch")
    section = _storage(backend)
    try:
        yield section
    finally:
        if section is not None:
            drop_backend_storage(section)


@pytest.mark.parametrize("backend", [
    "embedded", pytest.param("postgres+jetstream", marks=pytest.mark.own_backend)])
def test_two_gateways_two_workers_one_killed_lose_nothing(
    tmp_path: Path, backend: str, storage: dict[str, Any] | None,
    record_property: Callable[[str, Any], None],
) -> None:
    with Cluster(tmp_path, cluster_config(storage=storage)) as cluster:
        cluster.start_gateways(2)
        cluster.start_workers(2)
        tokens = cluster.tokens(USERS)
        victim = cluster.workers[0]
        killed: list[int] = []
        held: list[int] = []

        def halfway(acknowledged: int) -> None:
            if not killed and acknowledged >= REQUESTS * ENTRIES // 2:
                killed.append(victim.pid)
                Cluster.kill(victim, signal.SIGKILL)
                if storage is None:  # what it held claimed when it died
                    held.append(cluster.claimed_by(victim.pid))

        acked = asyncio.run(cluster.send(tokens, requests=REQUESTS, entries=ENTRIES,
                                         on_progress=halfway))
        assert killed, "the worker was not killed"
        assert not victim.alive()
        cluster.start_workers(1)  # started after the kill, as an orchestrator would

        found, _ = cluster.wait_delivered(acked, timeout=60)
        summary = report(acked, found, held_by_killed_worker=held[0] if held else None)
        print(f"scale-out {backend}: {summary}")
        record_property("scale_out", summary)

        assert len(acked) == REQUESTS * ENTRIES  # every entry was acknowledged
        assert missing(acked, found) == {"lake": 0, "archive": 0, "tickets": 0}, summary
        # and nothing was delivered that was not acknowledged
        assert set(found.lake) <= set(acked) and set(found.tickets) <= set(acked)
        # every process still running stops cleanly
        statuses = cluster.stop()
        assert {name: code for name, code in statuses.items()
                if name != victim.name and code != 0} == {}, json.dumps(statuses)
