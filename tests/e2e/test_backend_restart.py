"""A backend killed and restarted mid-stream: the gateway refuses (503) while it is down, the
workers wait and resume by themselves, and no acknowledged event is lost.

The backends are the test's own (``backend_servers.py``): a ``nats-server -js`` and a
PostgreSQL cluster made with ``initdb``, each on a free port with a temporary folder, killed
with SIGKILL and started again on the same data. The shared services are never touched.

The first tests hold the harness itself to what the restart tests rely on: a write the server
acknowledged before the kill is there after the restart. The restart tests need the
configuration's ``storage:`` block (PostgreSQL and JetStream backends); until it exists they
skip, saying so.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from backend_servers import NatsServer, PgCluster, nats_unavailable, pg_unavailable
from bench.cluster import Cluster, cluster_config, missing, report

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.own_backend]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    reason = nats_unavailable()
    if reason:
        pytest.skip(reason)
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[PgCluster]:
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    cluster = PgCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


# -- the harness ----------------------------------------------------------------------------


def test_own_nats_server_keeps_acknowledged_messages_across_a_kill(
    nats_server: NatsServer,
) -> None:
    import nats

    async def publish(count: int) -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await js.add_stream(name="harness", subjects=["harness.>"])
        for i in range(count):
            await js.publish("harness.events", str(i).encode())
        await nc.close()

    async def stored() -> int:
        nc = await nats.connect(nats_server.url)
        info = await nc.jetstream().stream_info("harness")
        await nc.close()
        return int(info.state.messages)

    asyncio.run(publish(100))
    nats_server.kill()
    assert not nats_server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", nats_server.port), timeout=1).close()
    nats_server.start()
    assert asyncio.run(stored()) == 100


def test_own_postgres_cluster_keeps_committed_rows_across_a_kill(pg_cluster: PgCluster) -> None:
    import psycopg

    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE harness (n integer)")
        for i in range(100):
            conn.execute("INSERT INTO harness VALUES (%s)", (i,))
    pg_cluster.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_cluster.dsn, connect_timeout=2)
    pg_cluster.start()  # crash recovery
    with psycopg.connect(pg_cluster.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM harness").fetchone() == (100,)


# -- the restart tests ----------------------------------------------------------------------


REQUESTS = 600
ENTRIES = 10


def _restart_mid_stream(tmp_path: Path, storage: dict[str, Any], server: Any,
                        backend: str) -> None:
    """Send REQUESTS requests through one gateway (one worker delivering); kill ``server``
    when a third are acknowledged, check the refusals while it is down, start it again, and
    check every acknowledged event delivered."""
    with Cluster(tmp_path / "cluster", cluster_config(storage=storage)) as cluster:
        cluster.start_gateways(1)
        [worker] = cluster.start_workers(1)
        tokens = cluster.tokens(2)
        statuses: Counter[int] = Counter()
        down = threading.Event()

        def third(acknowledged: int) -> None:
            if not down.is_set() and acknowledged >= REQUESTS * ENTRIES // 3:
                server.kill()
                down.set()

        result: dict[str, Any] = {}
        sender = threading.Thread(target=lambda: result.update(acked=asyncio.run(
            cluster.send(tokens, requests=REQUESTS, entries=ENTRIES, concurrency=4,
                         on_progress=third, statuses=statuses))))
        sender.start()
        assert down.wait(120), "the load did not reach a third"
        gateway = cluster.gateways[0].url
        # While it is down: every request refused with Retry-After, /ready naming why.
        answer = httpx.post(f"{gateway}/prod/event", headers={"Authorization": tokens[0]},
                            json={"entries": [{"entry": '{"eventType": "x"}'}]}, timeout=30)
        ready = httpx.get(f"{gateway}/ready", timeout=30)
        time.sleep(2.0)  # the workers meet the outage too
        server.start()
        sender.join(timeout=180)
        assert not sender.is_alive(), "the load did not finish after the restart"
        assert answer.status_code == 503 and "Retry-After" in answer.headers, answer.text
        assert ready.status_code == 503 and ready.json()["backend"] == backend, ready.text
        assert statuses[503] >= 1, statuses
        acked: dict[str, str] = result["acked"]
        assert len(acked) == REQUESTS * ENTRIES
        # A call answered while the store was down cannot be settled: its delivery comes back
        # when its claim's lease (120 s) runs out, so the wait covers one lease.
        found, _ = cluster.wait_delivered(acked, timeout=180)
        summary = report(acked, found, statuses=dict(statuses))
        print(f"restart {backend}: {summary}")
        lost = missing(acked, found)
        if lost["tickets"]:
            absent = [e for e, kind in acked.items()
                      if kind == "loyaltypurchase" and e not in found.tickets]
            marks = ",".join("?" * len(absent))
            summary += " queued: " + repr(cluster.query(
                f"SELECT event_id, attempts, due_at, claimed_by FROM deliveries "
                f"WHERE event_id IN ({marks})", tuple(absent)))
            summary += " dead: " + repr(cluster.query(
                f"SELECT event_id, error_code, error_message, exhausted FROM dead_letters "
                f"WHERE event_id IN ({marks})", tuple(absent)))
        assert lost == {"lake": 0, "archive": 0, "tickets": 0}, summary
        # The worker paused and resumed by itself: the same process, started once.
        assert worker.alive()
        assert worker.log.read_text().count("Workers started.") == 1


def test_jetstream_killed_mid_stream_loses_nothing(tmp_path: Path,
                                                   nats_server: NatsServer) -> None:
    storage = {"store": "sqlite", "log": "jetstream",
               "jetstream": {"servers": [nats_server.url],
                             "stream_prefix": f"restart_{uuid.uuid4().hex[:8]}",
                             "replicas": 1}}
    _restart_mid_stream(tmp_path, storage, nats_server, "log")


def test_postgres_killed_mid_stream_loses_nothing(tmp_path: Path, pg_cluster: PgCluster) -> None:
    storage = {"store": "postgres", "log": "postgres",
               "postgres": {"dsn": pg_cluster.dsn, "schema": "restart"}}
    _restart_mid_stream(tmp_path, storage, pg_cluster, "store")
