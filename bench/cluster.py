"""N ``clientevents gateway`` and M ``clientevents worker`` processes on one machine, a load of
signed-in users, and what reached the targets: the harness of ``bench/distributed.py`` and of
``tests/e2e/test_scale_out.py``.

::

    with Cluster(tmp, config_text) as cluster:
        cluster.start_gateways(2)
        cluster.start_workers(2)
        tokens = cluster.tokens(4)
        acked = asyncio.run(cluster.send(tokens, requests=1000, entries=20))
        cluster.kill(cluster.workers[0])                # SIGKILL, as a crash
        cluster.start_workers(1)
        reached = cluster.wait_delivered(acked, timeout=45)

Every process runs in its own session and writes its standard output and error to a file under
the cluster's folder (``gateway-<port>.log``, ``worker-<n>.log``); the configuration is a file
there too. Each process is stopped with SIGTERM (SIGKILL after a grace period) at the end.
What reached the targets is read from the embedded store's tables and the lake's files; a
distributed backend reads them through the same queries on its store (``delivered_ids``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson

from bench.ingest import free_port, user_pool_token

#: The event types of the blueprint's sample; one loyalty purchase per request makes a ticket.
OTHER_TYPES = [
    {"eventType": "shopping", "schemaVersion": 1, "data": {"itemSku": 123}},
    {"eventType": "searching", "schemaVersion": 1, "data": {"searchTerm": "games"}},
    {"eventType": "paging", "schemaVersion": 2, "data": {"searchTerm": "games", "page": 3}},
    {"eventType": "purchase", "schemaVersion": 2, "data": {"itemSku": 123}},
]
LOYALTY = {"eventType": "loyaltypurchase", "schemaVersion": 2, "data": {"itemSku": 123},
           "ticket": {"ticket": {"subject": "Loyalty customer purchase",
                                 "comment": {"body": "This customer has made a loyalty purchase"}}}}


def request_body(entries: int, number: int) -> bytes:
    """A request of ``entries`` entries: one loyalty purchase, the others cycling through the
    four other types; ``number`` is written into each entry's data (no two requests alike)."""
    items: list[dict[str, Any]] = [{"entry": orjson.dumps(
        {**LOYALTY, "data": {"itemSku": 123, "request": number}}).decode()}]
    for index, kind in zip(range(entries - 1), itertools.cycle(OTHER_TYPES), strict=False):
        items.append({"entry": orjson.dumps(
            {**kind, "data": {**kind["data"], "request": number, "index": index}}).decode()})
    return orjson.dumps({"entries": items})


def cluster_config(*, ticket_rate: int = 1000, lake_interval_secs: int = 1,
                   storage: dict[str, Any] | None = None, access_log: bool = False) -> str:
    """The blueprint (``config/defaults.py``) as YAML text, for many events quickly: the lake's
    buffer flushed every ``lake_interval_secs``, tickets allowed ``ticket_rate`` calls a second,
    and, when given, a ``storage:`` block choosing the backends."""
    import copy

    import yaml

    from clientevents.config.defaults import BLUEPRINT

    data = copy.deepcopy(BLUEPRINT)
    data["api_destinations"][0]["invocation_rate_limit_per_sec"] = ticket_rate
    data["api_destinations"][0]["concurrency"] = 32
    data["delivery_streams"][0]["buffering"]["interval_secs"] = lake_interval_secs
    data["stages"][0]["rate_limit"] = {"requests_per_sec": 100_000, "burst": 100_000}
    data["server"] = {"access_log": access_log}
    if storage is not None:
        data["storage"] = storage
    text: str = yaml.safe_dump(data, sort_keys=False)
    return text


@dataclass
class Proc:
    """One process of the cluster."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Delivered:
    """What reached each target, by event id (with how many times)."""

    lake: Counter[str] = field(default_factory=Counter)
    archive: Counter[str] = field(default_factory=Counter)
    tickets: Counter[str] = field(default_factory=Counter)

    def duplicates(self) -> dict[str, int]:
        """Deliveries beyond the first, per target."""
        return {name: sum(n - 1 for n in getattr(self, name).values() if n > 1)
                for name in ("lake", "archive", "tickets")}


class Cluster:
    """Gateways and workers over one data directory (and one configuration)."""

    def __init__(self, root: Path, config_text: str, *, env: dict[str, str] | None = None) -> None:
        import yaml

        storage = (yaml.safe_load(config_text) or {}).get("storage") or {}
        #: Where the state store is, when it is PostgreSQL: (dsn, schema); else the data dir's
        #: SQLite file.
        self.postgres: tuple[str, str] | None = None
        if storage.get("store") == "postgres":
            pg = storage.get("postgres") or {}
            self.postgres = (str(pg.get("dsn")), str(pg.get("schema") or "public"))
        #: With ``log: jetstream`` archives are streams of their own: (servers, stream prefix).
        self.jetstream: tuple[list[str], str] | None = None
        if storage.get("log") == "jetstream":
            js = storage.get("jetstream") or {}
            self.jetstream = (list(js.get("servers") or ["nats://127.0.0.1:4222"]),
                              str(js.get("stream_prefix") or "clientevents"))
        self.root = root
        self.data_dir = root / "data"
        self.config = root / "clientevents.yaml"
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text)
        self.env = {**os.environ, **(env or {})}
        self.gateways: list[Proc] = []
        self.workers: list[Proc] = []
        self._count = itertools.count(1)

    # -- processes -------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        log = self.root / f"{name}.log"
        out = open(log, "ab")  # noqa: SIM115 - the child holds it; closed at once here
        try:
            popen = subprocess.Popen(
                [sys.executable, "-m", "clientevents", *args, "--data-dir", str(self.data_dir),
                 "--config", str(self.config)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**self.env, **(env or {})},
            )
        finally:
            out.close()
        return Proc(name, popen, log)

    def start_gateways(self, count: int, *, http_workers: int = 1,
                       wait_ready: bool = True) -> list[Proc]:
        """Start ``count`` gateways, one after the other (the first creates the tables and the
        admin key), each on its own port; return them once each is ready (``wait_ready``),
        or once each answers ``/ready`` at all (a backend may be down on purpose)."""
        started = []
        for _ in range(count):
            port = free_port()
            proc = self._spawn(f"gateway-{port}", [
                "gateway", "--host", "127.0.0.1", "--port", str(port),
                "--http-workers", str(http_workers)])
            proc.url = f"http://127.0.0.1:{port}"
            self._wait_ready(proc, statuses=(200,) if wait_ready else (200, 503))
            self.gateways.append(proc)
            started.append(proc)
        return started

    def start_workers(self, count: int) -> list[Proc]:
        """Start ``count`` workers (API destinations on a gateway path call the first gateway);
        return them once each has started."""
        from clientevents.targets.api_destination.target import GATEWAY_URL_ENV

        assert self.gateways, "start a gateway first (the ticket inbox is on it)"
        started = []
        for _ in range(count):
            proc = self._spawn(f"worker-{next(self._count)}", ["worker"],
                               {GATEWAY_URL_ENV: self.gateways[0].url})
            deadline = time.monotonic() + 30
            while b"Workers started." not in proc.log.read_bytes():
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start; see {proc.log}")
                time.sleep(0.05)
            self.workers.append(proc)
            started.append(proc)
        return started

    def _wait_ready(self, proc: Proc, timeout: float = 30.0,
                    statuses: tuple[int, ...] = (200,)) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(proc.url + "/ready", timeout=2).status_code in statuses:
                    return
            except httpx.HTTPError:
                pass
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not become ready; see {proc.log}")
            time.sleep(0.05)

    @staticmethod
    def kill(proc: Proc, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process and everything it started (its session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.popen.wait(timeout=30)

    def stop(self, grace_secs: float = 20.0) -> dict[str, int | None]:
        """Stop every process (SIGTERM, then SIGKILL); their exit statuses by name."""
        procs = [*self.workers, *self.gateways]
        for proc in procs:
            if proc.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        statuses: dict[str, int | None] = {}
        for proc in procs:
            try:
                statuses[proc.name] = proc.popen.wait(timeout=grace_secs)
            except subprocess.TimeoutExpired:
                self.kill(proc)
                statuses[proc.name] = None
        return statuses

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- load ------------------------------------------------------------------------------

    def tokens(self, users: int, prefix: str = "scale-user") -> list[str]:
        """Sign ``users`` users up and in through the first gateway's Cognito API."""
        url = self.gateways[0].url
        return [user_pool_token(url, self.data_dir, f"{prefix}-{i}") for i in range(users)]

    async def send(
        self,
        tokens: list[str],
        *,
        requests: int,
        entries: int,
        concurrency: int = 16,
        on_progress: Any = None,
        latencies: list[float] | None = None,
        statuses: Counter[int] | None = None,
    ) -> dict[str, str]:
        """Send ``requests`` requests of ``entries`` entries, round robin over the gateways and
        the users, ``concurrency`` at a time; retry a 503 after its ``Retry-After`` (nothing of
        it was accepted). Return every acknowledged event id with its event type.

        ``on_progress(acknowledged)`` is called after each answer; ``latencies`` gets each
        request's seconds, ``statuses`` the count of each HTTP status answered (0: no answer)."""
        acked: dict[str, str] = {}
        numbers = iter(range(requests))
        urls = [f"{g.url}/prod/event" for g in self.gateways]
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

        async def one(client: httpx.AsyncClient, lane: int) -> None:
            for number in numbers:
                body = request_body(entries, number)
                while True:
                    url = urls[(number + lane) % len(urls)]
                    token = tokens[number % len(tokens)]
                    started = time.perf_counter()
                    try:
                        answer = await client.post(url, content=body, headers={
                            "Authorization": token, "Content-Type": "application/json"})
                    except httpx.TransportError:
                        if statuses is not None:
                            statuses[0] += 1
                        await asyncio.sleep(0.2)  # a gateway restarting: try again
                        continue
                    if statuses is not None:
                        statuses[answer.status_code] += 1
                    if answer.status_code == 503:
                        await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                        continue
                    break
                if latencies is not None:
                    latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text}")
                sent = orjson.loads(body)["entries"]
                for item, result in zip(sent, answer.json()["Entries"], strict=True):
                    if "EventId" in result:
                        acked[result["EventId"]] = orjson.loads(item["entry"])["eventType"]
                if on_progress is not None:
                    on_progress(len(acked))

        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(one(client, lane) for lane in range(concurrency)))
        return acked

    # -- what reached the targets ---------------------------------------------------------

    def delivered(self) -> Delivered:
        """Every event id in the lake's objects, the archive and the ticket inbox."""
        found = Delivered()
        lake = self.data_dir / "lake"
        if lake.exists():
            for path in lake.rglob("*"):
                parts = path.relative_to(lake).parts
                if not path.is_file() or parts[0].startswith(("_", ".")):
                    continue
                for line in path.read_bytes().splitlines():
                    if line:
                        found.lake[orjson.loads(line)["id"]] += 1
        if self.jetstream is not None:
            for event_id in asyncio.run(_archived_on_jetstream(*self.jetstream)):
                found.archive[event_id] += 1
        else:
            for (event_id,) in self.query("SELECT event_id FROM archive_events"):
                found.archive[event_id] += 1
        for (event_id,) in self.query(
                "SELECT event_id FROM inbox_tickets WHERE event_id IS NOT NULL"):
            found.tickets[event_id] += 1
        return found

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read of the state store (SQLite's ``?`` placeholders; ``%s`` on
        PostgreSQL is substituted)."""
        if self.postgres is not None:
            import psycopg

            dsn, schema = self.postgres
            with psycopg.connect(dsn, options=f"-c search_path={schema}") as pg:
                return list(pg.execute(sql.replace("?", "%s"), params).fetchall())
        conn = sqlite3.connect(f"file:{self.data_dir / 'clientevents.db'}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def claimed_by(self, pid: int) -> int:
        """Deliveries the worker process ``pid`` holds claimed now (embedded store)."""
        [(count,)] = self.query("SELECT count(*) FROM deliveries WHERE claimed_by LIKE ?",
                                (f"%:{pid}:%",))
        return int(count)

    def wait_delivered(self, acked: dict[str, str], timeout: float) -> tuple[Delivered, float]:
        """Wait until every acknowledged event is in the lake and the archive and every
        loyalty purchase is a ticket (or ``timeout`` passes); what was found and when."""
        started = time.monotonic()
        loyalty = {e for e, kind in acked.items() if kind == "loyaltypurchase"}
        everything = set(acked)
        while True:
            found = self.delivered()
            if (everything <= found.lake.keys() and everything <= found.archive.keys()
                    and loyalty <= found.tickets.keys()):
                return found, time.monotonic() - started
            if time.monotonic() - started > timeout:
                return found, time.monotonic() - started
            time.sleep(0.25)


async def _archived_on_jetstream(servers: list[str], prefix: str) -> list[str]:
    """The event ids held by every archive stream of ``prefix`` (``log: jetstream``), read
    with an ephemeral pull consumer per stream."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    client = await nats.connect(servers, connect_timeout=2)
    ids: list[str] = []
    try:
        js = client.jetstream()
        for info in await js.streams_info():
            name = info.config.name or ""
            if not name.startswith(f"{prefix}_archive_") or not info.state.messages:
                continue
            subject = (info.config.subjects or [">"])[0]
            # No acknowledgements: an ephemeral consumer with explicit acks stops delivering
            # at its max_ack_pending (1,000) unacknowledged messages.
            sub = await js.pull_subscribe(subject, stream=name, config=ConsumerConfig(
                ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
            try:
                left = info.state.messages
                while left > 0:
                    try:
                        batch = await sub.fetch(min(left, 1000), timeout=2)
                    except TimeoutError:
                        break
                    for msg in batch:
                        ids.append((msg.headers or {}).get("Nats-Msg-Id", ""))
                    left -= len(batch)
            finally:
                await sub.unsubscribe()
    finally:
        await client.close()
    return ids


def missing(acked: dict[str, str], found: Delivered) -> dict[str, int]:
    """Acknowledged events that did not reach a target they match, per target."""
    loyalty = {e for e, kind in acked.items() if kind == "loyaltypurchase"}
    return {
        "lake": len(set(acked) - found.lake.keys()),
        "archive": len(set(acked) - found.archive.keys()),
        "tickets": len(loyalty - found.tickets.keys()),
    }


def report(acked: dict[str, str], found: Delivered, **extra: Any) -> str:
    """One JSON line: acknowledged events, missing and duplicated deliveries per target."""
    loyalty = sum(1 for kind in acked.values() if kind == "loyaltypurchase")
    return json.dumps({"acknowledged": len(acked), "tickets_expected": loyalty,
                       "missing": missing(acked, found), "duplicates": found.duplicates(),
                       **extra})
