"""The whole pipeline's speed: ``clientevents serve`` on the blueprint, gateway and workers.

Run ``.venv/bin/python -m bench.pipeline`` (60 s a run; ``--seconds 15`` for a short run,
``--rate N`` to verify one offered rate in events a second instead of searching). One run
measures, on the same machine and in this order:

1. **gateway alone**: ``clientevents serve --no-workers`` on a fresh data folder, a closed
   loop of ``--connections`` keep-alive connections (:mod:`bench.openloop` ``--closed``, in its
   own process) for ``--seconds``: the durable ingest rate with nobody else on the machine;
2. **the pipeline** (``clientevents serve``, gateway and workers, on another fresh folder):
   a closed loop again (the rate the gateway takes while the workers run, and what the stages
   deliver meanwhile), then constant offered loads (open loop: latency from each request's due
   time) to find the **sustained end-to-end rate**: every accepted event delivered to every
   matching target with the backlog not growing over the run (``--rate`` fixes the rate;
   otherwise the first candidate is 95 % of what the slowest stage delivered during the closed
   loop, raised by 15 % after each run that holds and lowered by 15 % after each that does not,
   until a held rate is followed by one that fails, at most ``--attempts`` runs);
3. **latency** at 50 % and 90 % of the sustained rate: probes (``--probes-per-sec`` requests,
   each with one entry of event type ``probe``, the lake's partition ``probe/1/``, and every
   fourth with one loyalty purchase, the tickets rule) timed from their 200 to the lake object
   holding them being in the lake folder (polled every 20 ms) and to the ticket's HTTP call
   arriving at a local sink (the API destination's endpoint, ``CLIENTEVENTS_TICKETS_URL``).

The configuration is the blueprint's (``clientevents.config.defaults.BLUEPRINT``) with the
stage's per-client rate limit off. The load carries ``--users`` signed-in users (real access
tokens, one picked at random per request, see :mod:`bench.users`), 10 entries a request
(shopping, searching, paging, purchase). Loyalty purchases come only from the probes: the
blueprint's API destination allows 10 calls a second, so a load with one ticket in five
events could never be sustained beyond 50 events/s; the probes keep tickets at 5 a second.

The backlog is sampled every second from the database (read-only): per consumer group the
log's head minus its offset, per delivery queue its rows (the lake's queue holds its records
until their object is written, up to the buffering interval). A run is *sustained* when the
gateway answered 99 % of the offered requests with 200 and the total backlog's peak in the
run's last third exceeds its peak in the middle third by less than one second of offered
events (and it ends under 10 s of events).

Write amplification, over the sustained run: bytes the gateway and the worker processes wrote
to disk (``/proc/<pid>/io`` ``write_bytes``: database, WAL, objects), rows written per
accepted event per stage (log records, queue rows inserted and deleted, archive copies) and
objects per event.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.ingest import SAMPLE_ENTRIES, free_port, wait_http
from bench.users import make_tokens

ENTRIES_PER_REQUEST = 10
BUS = "client_event_bus"
PROBE_RE = re.compile(rb'"probe": ?"(p\d+)"')
TICKET_RE = re.compile(rb"probe (p\d+)")


def load_body() -> bytes:
    """10 entries of the blueprint's event types except loyalty purchases (see the docstring)."""
    plain = [e for e in SAMPLE_ENTRIES if e["eventType"] != "loyaltypurchase"]
    entries = [{"entry": json.dumps(plain[i % len(plain)])} for i in range(ENTRIES_PER_REQUEST)]
    return json.dumps({"entries": entries}).encode()


def probe_body(probe_id: str, ticket: bool) -> bytes:
    """A probe request: one ``probe`` entry (and a loyalty purchase naming it) among 10."""
    plain = [e for e in SAMPLE_ENTRIES if e["eventType"] != "loyaltypurchase"]
    entries: list[dict[str, Any]] = [
        {"eventType": "probe", "schemaVersion": 1, "data": {"probe": probe_id}}
    ]
    if ticket:
        entries.append({"eventType": "loyaltypurchase", "schemaVersion": 2,
                        "data": {"itemSku": 1},
                        "ticket": {"ticket": {"subject": f"probe {probe_id}",
                                              "comment": {"body": "loyalty purchase"}}}})
    while len(entries) < ENTRIES_PER_REQUEST:
        entries.append(plain[len(entries) % len(plain)])
    return json.dumps({"entries": [{"entry": json.dumps(e)} for e in entries]}).encode()


def bench_config(data_dir: Path) -> dict[str, Any]:
    """The blueprint with the stage's rate limit off."""
    from clientevents.config.defaults import BLUEPRINT

    config: dict[str, Any] = json.loads(json.dumps(BLUEPRINT))
    for stage in config["stages"]:
        stage["rate_limit"] = None
    config["data_dir"] = str(data_dir)
    return config


# -- the ticket sink ---------------------------------------------------------------------------


class TicketSink:
    """A minimal HTTP/1.1 server on its own thread: records when each probe's ticket arrives."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.calls = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._started.set()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(server.serve_forever())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = b'{"ticket":{"id":1}}'
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                now = time.time()
                self.calls += 1
                for match in TICKET_RE.finditer(body):
                    self.arrivals.setdefault(match.group(1).decode(), now)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


# -- probes and the lake watcher ---------------------------------------------------------------


class Probes:
    """Sends probe requests at a fixed rate and watches the lake's ``probe/`` partition."""

    def __init__(self, url: str, token: str, lake: Path, rate: float) -> None:
        self.url = url
        self.token = token
        self.lake = lake
        self.rate = rate
        self.answered: dict[str, float] = {}
        self.tickets: set[str] = set()
        self.durable: dict[str, float] = {}
        self._seen: set[str] = set()
        self._counter = 0
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._halt.clear()
        self._threads = [threading.Thread(target=self._send, daemon=True)]
        self._threads[0].start()

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join()

    def _send(self) -> None:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=30.0) as client:
            start = time.perf_counter()
            sent = 0
            while not self._halt.is_set():
                due = start + sent / self.rate
                delay = due - time.perf_counter()
                if delay > 0 and self._halt.wait(delay):
                    return
                self._counter += 1
                probe_id = f"p{self._counter}"
                ticket = self._counter % 4 == 0
                try:
                    response = client.post(self.url, content=probe_body(probe_id, ticket),
                                           headers=headers)
                except httpx.HTTPError:
                    sent += 1
                    continue
                if response.status_code == 200:
                    self.answered[probe_id] = time.time()
                    if ticket:
                        self.tickets.add(probe_id)
                sent += 1

    def watch_once(self) -> None:
        """Read the lake's probe objects written since the last look."""
        now = time.time()
        root = self.lake / "probe"
        if not root.is_dir():
            return
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(folder, name)
                if path in self._seen:
                    continue
                self._seen.add(path)
                with contextlib.suppress(OSError):
                    for match in PROBE_RE.finditer(Path(path).read_bytes()):
                        self.durable.setdefault(match.group(1).decode(), now)


# -- the database's view: backlog and counts ---------------------------------------------------


@dataclass
class Sample:
    """The pipeline's state at one moment, read from the database."""

    at: float
    head: int
    offsets: dict[str, int]
    queues: dict[str, int]
    delivered: dict[str, int]
    archived: int

    def backlog(self) -> dict[str, int]:
        """Events or rows waiting, per stage."""
        stages = {f"log:{group}": max(0, self.head - seq) for group, seq in self.offsets.items()}
        stages.update({f"queue:{key.rsplit('/', 1)[-1]}": n for key, n in self.queues.items()})
        return stages

    def total(self) -> int:
        return sum(self.backlog().values())


def sample(conn: sqlite3.Connection) -> Sample:
    """Read the pipeline's counters (one read transaction)."""
    conn.execute("BEGIN")
    try:
        head = conn.execute("SELECT coalesce(max(seq), 0) FROM events WHERE bus = ?",
                            (BUS,)).fetchone()[0]
        offsets = dict(conn.execute("SELECT grp, seq FROM consumer_offsets WHERE bus = ?",
                                    (BUS,)).fetchall())
        queues = {k: 0 for (k,) in conn.execute("SELECT target_key FROM delivery_counters")}
        queues.update(conn.execute(
            "SELECT target_key, count(*) FROM deliveries GROUP BY target_key").fetchall())
        delivered = dict(conn.execute(
            "SELECT target_key, delivered FROM delivery_counters").fetchall())
        archived = conn.execute(
            "SELECT coalesce(sum(event_count), 0) FROM archives_state").fetchone()[0]
    finally:
        conn.execute("COMMIT")
    return Sample(time.perf_counter(), head, offsets, queues, delivered, archived)


class Sampler:
    """Samples the database every ``interval`` seconds on a thread; also watches probes."""

    def __init__(self, db_path: Path, probes: Probes | None, interval: float = 1.0) -> None:
        self.db_path = db_path
        self.probes = probes
        self.interval = interval
        self.samples: list[Sample] = []
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                               isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    def start(self) -> None:
        self.samples = []
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        conn = self.connect()
        next_at = time.perf_counter()
        while not self._halt.is_set():
            if time.perf_counter() >= next_at:
                with contextlib.suppress(sqlite3.OperationalError):
                    self.samples.append(sample(conn))
                next_at += self.interval
            if self.probes is not None:
                self.probes.watch_once()
            self._halt.wait(0.02)
        conn.close()


# -- processes ---------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux ``/proc``)."""
    out = [pid]
    for child in _children(pid):
        out += tree(child)
    return out


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [int(x) for x in Path(f"/proc/{pid}/task/{task}/children")
                          .read_text().split()]
    return found


def written(pids: list[int]) -> dict[str, int]:
    """Bytes written to disk so far, by role (``gateway``, ``worker``), summed over ``pids``."""
    roles: dict[str, int] = {"gateway": 0, "worker": 0}
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            io = Path(f"/proc/{pid}/io").read_text()
        except OSError:
            continue
        role = "worker" if b" worker " in cmdline + b" " else "gateway"
        for line in io.splitlines():
            if line.startswith("write_bytes:"):
                roles[role] += int(line.split()[1])
    return roles


def cpu_seconds(pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far, by role, summed over ``pids``."""
    roles: dict[str, float] = {"gateway": 0.0, "worker": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = "worker" if b" worker " in cmdline + b" " else "gateway"
        roles[role] += (int(fields[11]) + int(fields[12])) / tick
    return roles


def lake_objects(lake: Path) -> tuple[int, int]:
    """Objects in the lake folder and their bytes (its staging folder excluded)."""
    count = size = 0
    for folder, dirs, files in os.walk(lake):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(folder, name)).st_size
                count += 1
    return count, size


@contextlib.contextmanager
def serve(data_dir: Path, config: Path, port: int, *, workers: bool, http_workers: int,
          sink_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``clientevents serve`` for the duration of the block; SIGINT, then SIGKILL."""
    command = [sys.executable, "-m", "clientevents", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", str(data_dir), "--config", str(config),
               "--http-workers", str(http_workers)]
    if not workers:
        command.append("--no-workers")
    env = {**os.environ,
           "CLIENTEVENTS_TICKETS_URL": f"http://127.0.0.1:{sink_port}/api/v2/tickets.json"}
    with open(data_dir.parent / f"{data_dir.name}.stderr", "wb") as errors:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout=60)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                for pid in reversed(tree(proc.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait()


def load(url: str, workdir: Path, tokens: Path, seconds: float, connections: int,
         rate: float | None) -> dict[str, float]:
    """One :mod:`bench.openloop` run in its own process (``rate`` None: closed loop)."""
    body = workdir / "load.body"
    body.write_bytes(load_body())
    command = [sys.executable, "-m", "bench.openloop", "--url", url,
               "--rate", str(rate or 1), "--seconds", str(seconds),
               "--connections", str(connections), "--body-file", str(body),
               "--tokens-file", str(tokens), "--header", "Content-Type:application/json"]
    if rate is None:
        command.append("--closed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), *sys.path])}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"bench.openloop failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- one measured run --------------------------------------------------------------------------


@dataclass
class Run:
    """What one load run measured."""

    name: str
    offered_eps: float | None
    http: dict[str, float]
    samples: list[Sample]
    written: dict[str, int] = field(default_factory=dict)
    objects: tuple[int, int] = (0, 0)
    cpu: dict[str, float] = field(default_factory=dict)
    log_records: int = 0
    lake_latency: list[float] = field(default_factory=list)
    ticket_latency: list[float] = field(default_factory=list)

    @property
    def accepted_eps(self) -> float:
        return (self.http["answered"] - self.http["failures"]) * ENTRIES_PER_REQUEST \
            / self.http["seconds"]

    def rates(self) -> dict[str, float]:
        """Events a second each stage took over the run (log head, offsets, deliveries)."""
        if len(self.samples) < 2:
            return {}
        a, b = self.samples[0], self.samples[-1]
        secs = b.at - a.at
        out = {"appended": (b.head - a.head) / secs}
        for group, seq in b.offsets.items():
            out[f"log:{group}"] = (seq - a.offsets.get(group, 0)) / secs
        for key, n in b.delivered.items():
            out[f"delivered:{key.rsplit('/', 1)[-1]}"] = (n - a.delivered.get(key, 0)) / secs
        out["archived"] = (b.archived - a.archived) / secs
        return out

    def growth(self) -> float:
        """How much the total backlog's peak grew from the run's middle third to its last
        third (events; the lake's buffers make the backlog a saw tooth, so peaks compare)."""
        n = len(self.samples)
        if n < 6:
            return 0.0
        middle = self.samples[n // 3: 2 * n // 3]
        last = self.samples[2 * n // 3:]
        return float(max(s.total() for s in last) - max(s.total() for s in middle))

    def sustained(self) -> bool:
        if self.offered_eps is None or not self.samples:
            return False
        answered_ok = self.http["answered"] - self.http["failures"]
        return (answered_ok >= 0.99 * self.http["due"]
                and self.growth() < 1.0 * self.offered_eps
                and self.samples[-1].total() < 10 * self.offered_eps)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Pipeline:
    """The measured ``serve`` (gateway + workers), its sampler, probes and ticket sink."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, data_dir: Path, tokens: Path,
                 workdir: Path, connections: int, probes: Probes) -> None:
        self.proc = proc
        self.url = url
        self.data_dir = data_dir
        self.tokens = tokens
        self.workdir = workdir
        self.connections = connections
        self.probes = probes
        self.sampler = Sampler(data_dir / "clientevents.db", probes)

    def drain(self, timeout: float = 180.0) -> float:
        """Wait until every stage has caught up (the lake's buffers flushed); return secs."""
        conn = self.sampler.connect()
        started = time.perf_counter()
        try:
            while time.perf_counter() - started < timeout:
                if sample(conn).total() == 0:
                    break
                time.sleep(0.25)
        finally:
            conn.close()
        return time.perf_counter() - started

    def run(self, name: str, seconds: float, eps: float | None, probes: bool = False) -> Run:
        pids = tree(self.proc.pid)
        before_w, before_o = written(pids), lake_objects(self.data_dir / "lake")
        before_cpu = cpu_seconds(pids)
        self.sampler.start()
        if probes:
            self.probes.answered.clear()
            self.probes.durable.clear()
            self.probes.tickets.clear()
            self.probes.start()
        try:
            http = load(self.url, self.workdir, self.tokens, seconds, self.connections,
                        None if eps is None else eps / ENTRIES_PER_REQUEST)
        finally:
            if probes:
                self.probes.stop()
            self.sampler.stop()
        after_w, after_o = written(pids), lake_objects(self.data_dir / "lake")
        after_cpu = cpu_seconds(pids)
        run = Run(name, eps, http, self.sampler.samples,
                  {k: after_w[k] - before_w.get(k, 0) for k in after_w},
                  (after_o[0] - before_o[0], after_o[1] - before_o[1]),
                  {k: (after_cpu[k] - before_cpu.get(k, 0.0)) / http["seconds"]
                   for k in after_cpu})
        if len(run.samples) >= 2:
            conn = self.sampler.connect()
            run.log_records = conn.execute(
                "SELECT count(*) FROM events WHERE bus = ? AND seq > ? AND seq <= ?",
                (BUS, run.samples[0].head, run.samples[-1].head)).fetchone()[0]
            conn.close()
        if probes:
            # the latest probes: give the lake's interval and the tickets' limit time to land
            deadline = time.time() + 30
            while time.time() < deadline:
                self.probes.watch_once()
                if (set(self.probes.answered) <= set(self.probes.durable)
                        and self.probes.tickets <= set(SINK.arrivals)):
                    break
                time.sleep(0.05)
            run.lake_latency = [self.probes.durable[p] - t for p, t in
                                self.probes.answered.items() if p in self.probes.durable]
            run.ticket_latency = [SINK.arrivals[p] - self.probes.answered[p]
                                  for p in self.probes.tickets if p in SINK.arrivals]
        return run


SINK: TicketSink


def print_run(run: Run) -> None:
    http = run.http
    offered = "closed loop" if run.offered_eps is None else f"offered {run.offered_eps:,.0f}/s"
    print(f"{run.name:14} {offered:22} accepted {run.accepted_eps:9,.0f} events/s  "
          f"http p50 {http['p50_ms']:7.1f} ms p99 {http['p99_ms']:7.1f} ms  "
          f"failures {int(http['failures'])}", flush=True)
    rates = run.rates()
    if rates:
        print("    stage rates (events/s): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in rates.items()), flush=True)
        last = run.samples[-1]
        if run.cpu:
            print("    CPU (cores busy): " + ", ".join(
                f"{k} {v:.2f}" for k, v in run.cpu.items()), flush=True)
        print(f"    backlog at the end: {last.backlog()}; max total "
              f"{max(s.total() for s in run.samples):,}; peak growth, middle to last third "
              f"{run.growth():,.0f}; sustained: {run.sustained()}", flush=True)
    if run.lake_latency or run.ticket_latency:
        print(f"    latency from the 200: lake durable p50 {pct(run.lake_latency, .5):.3f} s "
              f"p99 {pct(run.lake_latency, .99):.3f} s (n={len(run.lake_latency)}); ticket "
              f"call p50 {pct(run.ticket_latency, .5):.3f} s p99 "
              f"{pct(run.ticket_latency, .99):.3f} s (n={len(run.ticket_latency)})",
              flush=True)


def print_amplification(run: Run) -> None:
    """Bytes, rows and objects per accepted event, per stage, over ``run``."""
    if len(run.samples) < 2:
        return
    a, b = run.samples[0], run.samples[-1]
    events = b.head - a.head
    if events <= 0:
        return
    print(f"write amplification over '{run.name}' ({events:,} events appended):", flush=True)
    objects, object_bytes = run.objects
    print(f"    ingest (gateway processes): {run.written.get('gateway', 0) / events:8.1f} "
          f"bytes/event written; log records {run.log_records / events:.3f}/event",
          flush=True)
    worker_db = run.written.get("worker", 0) - object_bytes
    print(f"    workers (one process): {worker_db / events:8.1f} bytes/event to the database "
          f"and WAL; {object_bytes / events:8.1f} bytes/event in "
          f"{objects:,} objects ({objects / events:.5f} objects/event)", flush=True)
    for key in sorted(b.delivered):
        delivered = b.delivered[key] - a.delivered.get(key, 0)
        if f"stream:{key}" in b.offsets:  # fed from the log: queue rows only for failures
            queued = b.queues.get(key, 0) - a.queues.get(key, 0)
            print(f"    {key}: fed from the log, {delivered / events:.3f} delivered per event, "
                  f"{queued / events:.3f} queue rows per event; one offset update per batch",
                  flush=True)
            continue
        inserted = delivered + b.queues.get(key, 0) - a.queues.get(key, 0)
        print(f"    queue {key}: {inserted / events:.3f} rows inserted, "
              f"{delivered / events:.3f} deleted per event", flush=True)
    print(f"    archive: {(b.archived - a.archived) / events:.3f} rows/event", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    global SINK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Seconds a load run.")
    parser.add_argument("--rate", type=float, default=None,
                        help="Events a second to verify as sustained (default: search).")
    parser.add_argument("--attempts", type=int, default=4, help="Search runs at most.")
    parser.add_argument("--users", type=int, default=1000, help="Signed-in users.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--http-workers", type=int, default=1, help="Gateway processes.")
    parser.add_argument("--probes-per-sec", type=float, default=20.0)
    parser.add_argument("--skip-alone", action="store_true", help="No gateway-alone run.")
    parser.add_argument("--keep", action="store_true",
                        help="Keep the work folder (data folders, logs) at the end.")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="clientevents-pipeline-"))
    if not args.keep:
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    SINK = TicketSink()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) at the start; {args.seconds:g} s a run; "
          f"{args.users} users; {args.connections} connections; gateway processes "
          f"{args.http_workers}; work folder {workdir}", flush=True)
    from clientevents.config import validate_settings

    def prepare(name: str) -> tuple[Path, Path, Path]:
        data_dir = workdir / name
        data_dir.mkdir()
        config = workdir / f"{name}.yaml"
        cfg = bench_config(data_dir)
        config.write_text(json.dumps(cfg))
        settings = validate_settings(cfg, file="<bench>", environ={})
        started = time.monotonic()
        tokens = workdir / f"{name}.tokens"
        tokens.write_text("\n".join(make_tokens(settings, data_dir, args.users)))
        print(f"[{name}] {args.users} users signed in ({time.monotonic() - started:.0f} s)",
              flush=True)
        return data_dir, config, tokens

    alone_eps = None
    if not args.skip_alone:
        data_dir, config, tokens = prepare("alone")
        port = free_port()
        with serve(data_dir, config, port, workers=False, http_workers=args.http_workers,
                   sink_port=SINK.port):
            url = f"http://127.0.0.1:{port}/prod/event"
            http = load(url, workdir, tokens, args.seconds, args.connections, None)
            alone = Run("gateway alone", None, http, [])
            alone_eps = alone.accepted_eps
            print_run(alone)

    data_dir, config, tokens = prepare("pipeline")
    port = free_port()
    with serve(data_dir, config, port, workers=True, http_workers=args.http_workers,
               sink_port=SINK.port) as proc:
        url = f"http://127.0.0.1:{port}/prod/event"
        token = tokens.read_text().split()[0]
        pipeline = Pipeline(proc, url, data_dir, tokens, workdir, args.connections,
                            Probes(url, token, data_dir / "lake", args.probes_per_sec))
        if args.rate is None:
            closed = pipeline.run("pipeline closed", args.seconds, None)
            print_run(closed)
            rates = closed.rates()
            delivered = min([closed.accepted_eps, rates.get("archived", 0.0)]
                            + [v for k, v in rates.items() if k.startswith("delivered:lake")
                               or k.startswith("log:")])
            eps = 0.95 * delivered
            print(f"    drained in {pipeline.drain():.1f} s", flush=True)
        else:
            eps = args.rate
        best: Run | None = None
        last: Run | None = None
        for _ in range(args.attempts if args.rate is None else 1):
            run = pipeline.run("sustained?", args.seconds, eps)
            print_run(run)
            print(f"    drained in {pipeline.drain():.1f} s", flush=True)
            last = run
            if run.sustained():
                best = run
                eps *= 1.15  # held: try higher
            elif best is not None:
                break  # the previous rate held, this one did not
            else:
                eps *= 0.85  # not held: try lower
        if best is None:
            print("no offered rate was sustained", flush=True)
            assert last is not None
            best = last
        sustained_eps = best.offered_eps or 0.0
        print_amplification(best)
        for share in (0.5, 0.9):
            run = pipeline.run(f"latency {share:.0%}", args.seconds, share * sustained_eps,
                               probes=True)
            print_run(run)
            print(f"    drained in {pipeline.drain():.1f} s", flush=True)
    SINK.stop()
    print(f"\nsustained end to end: {sustained_eps:,.0f} events/s "
          f"({'held' if best.sustained() else 'NOT held'})", flush=True)
    if alone_eps:
        print(f"gateway alone: {alone_eps:,.0f} events/s; sustained/alone "
              f"{sustained_eps / alone_eps:.3f}", flush=True)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) at the end", flush=True)


if __name__ == "__main__":
    main()
