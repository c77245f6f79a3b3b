"""A gateway and a worker (``clientevents gateway`` and ``worker``, or ``serve``) started while
NATS is down: the gateway serves at once, refuses events with 503 and ``Retry-After`` and says
on ``/ready`` that the event log cannot be reached and why; the workers wait. Once the server
starts, both work without a restart and every acknowledged event is delivered.

Runs a nats-server of its own on a free port (never the shared one), started only after the
processes are up.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.cluster import Cluster, Proc, cluster_config, missing, report

sys.path.insert(0, str(Path(__file__).parents[1]))
from support.nats_server import NatsServer, binary

pytestmark = pytest.mark.integration

DEADLINE_SECS = 60.0  # fails a stalled test; never a timing assertion


def _storage(nats_url: str, backend: dict[str, Any] | None) -> dict[str, Any]:
    """The log on the test's own NATS server; the state store the suite's backend chose."""
    storage: dict[str, Any] = {
        "store": "sqlite",
        "log": "jetstream",
        "jetstream": {"servers": [nats_url], "stream_prefix": f"start_{uuid.uuid4().hex[:8]}"},
    }
    if backend is not None:
        storage["store"] = "postgres"
        storage["postgres"] = backend["postgres"]
    return storage


def _ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/ready", timeout=10)


def _wait_for_line(proc: Proc, text: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECS
    while text not in proc.log.read_text():
        assert time.monotonic() < deadline, f"no {text!r}: {proc.log.read_text()[-3000:]}"
        assert proc.alive(), proc.log.read_text()[-3000:]
        time.sleep(0.1)


def _start_serve(cluster: Cluster) -> Proc:
    """``clientevents serve`` (the gateway, and its worker in a second process) on the
    cluster's configuration; returned once it answers ``/ready`` at all."""
    from bench.ingest import free_port

    port = free_port()
    log = cluster.root / "serve.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "clientevents", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--data-dir", str(cluster.data_dir), "--config", str(cluster.config)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=cluster.env)
    proc = Proc("serve", popen, log, f"http://127.0.0.1:{port}")
    cluster.gateways.append(proc)  # stopped with the cluster
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        try:
            _ready(proc.url)
            return proc
        except httpx.HTTPError:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            assert proc.alive(), log.read_text()[-3000:]
            time.sleep(0.1)


@pytest.mark.parametrize("command", ["gateway", "serve"])
def test_the_gateway_and_the_workers_start_while_nats_is_down_and_work_once_it_is_up(
    tmp_path: Path, _test_backend: dict[str, Any] | None, command: str
) -> None:
    if binary() is None:
        pytest.skip("no nats-server binary on this machine")
    (tmp_path / "nats").mkdir()
    server = NatsServer(tmp_path / "nats")  # not started yet
    config = cluster_config(storage=_storage(server.url, _test_backend))
    try:
        with Cluster(tmp_path / "cluster", config) as cluster:
            if command == "gateway":
                [gateway] = cluster.start_gateways(1, wait_ready=False)
            else:
                gateway = _start_serve(cluster)
            ready = _ready(gateway.url)
            assert ready.status_code == 503, ready.text
            assert ready.headers.get("Retry-After"), ready.headers
            body = ready.json()
            assert body["backend"] == "log", body
            assert "NATS is not reachable" in body["error"], body
            assert server.url.removeprefix("nats://") in body["error"], body

            # Signing in needs only the state store: it works while the log is down.
            tokens = cluster.tokens(1)
            refused = httpx.post(f"{gateway.url}/prod/event",
                                 headers={"Authorization": tokens[0]},
                                 json={"entries": [{"entry": '{"eventType": "x"}'}]},
                                 timeout=30)
            assert refused.status_code == 503, refused.text
            assert refused.headers.get("Retry-After"), refused.headers
            # The gateway's own metrics still answer, and count the refusal.
            metrics = httpx.get(f"{gateway.url}/metrics", timeout=30)
            assert metrics.status_code == 200, metrics.text
            assert re.search(r'^clientevents_ingest_requests_rejected_total\{[^}]*'
                             r'reason="store_unavailable"[^}]*\} 1\.0$', metrics.text,
                             re.MULTILINE), metrics.text

            # The workers wait (serve's run in its second process, logging to the same file).
            worker = cluster.start_workers(1)[0] if command == "gateway" else gateway
            _wait_for_line(worker, "The workers cannot start")

            server.start()
            deadline = time.monotonic() + DEADLINE_SECS
            while (answer := _ready(gateway.url)).status_code != 200:
                assert time.monotonic() < deadline, f"never ready: {answer.text}"
                assert gateway.alive(), gateway.log.read_text()[-3000:]
                time.sleep(0.2)

            statuses: Counter[int] = Counter()
            acked = asyncio.run(cluster.send(tokens, requests=20, entries=5, concurrency=2,
                                             statuses=statuses))
            assert len(acked) == 100, statuses
            found, _ = cluster.wait_delivered(acked, timeout=DEADLINE_SECS)
            summary = report(acked, found, statuses=dict(statuses))
            assert missing(acked, found) == {"lake": 0, "archive": 0, "tickets": 0}, summary
            # Both waited and resumed by themselves: the same processes, started once.
            assert gateway.alive() and worker.alive()
            assert worker.log.read_text().count("Workers started.") == 1
    finally:
        server.kill()
