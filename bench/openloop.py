"""A constant-rate (open-loop) HTTP load generator: latency counts from the intended send time.

A closed-loop client such as wrk sends a connection's next request only when the previous
answer is in, so when the server stalls it sends less, and the requests it did not send never
show their delay (coordinated omission). Here, request ``i`` is due at ``start + i / rate``
whatever happened before; it goes out on the first idle keep-alive connection, or waits for
one; its latency is measured from its due time to the end of its answer, as wrk2 measures it.

Run as a process of its own (``python -m bench.openloop --url ... --rate 5000``), so it never
shares an interpreter with the server; it prints one JSON line::

    {"due": ..., "answered": ..., "failures": ..., "seconds": ..., "rate": ...,
     "p50_ms": ..., "p99_ms": ..., "p999_ms": ..., "max_ms": ...}

With ``--closed``, each of ``--connections`` connections instead sends its next request as
soon as the previous answer is in, for ``--seconds`` (a saturating closed loop, as wrk runs;
latency then counts from the send): the rate printed is the server's capacity.

The request body comes from ``--body-file``; ``--header NAME:VALUE`` adds headers, and
``--tokens-file`` (one token a line) puts ``Authorization: Bearer <token>`` on each request,
a token picked at random.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.transport: Any = None
        self.buffer = b""
        self.due = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def send(self, request: bytes, due: float) -> None:
        self.busy = True
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(head[9:12])
            self.buffer = self.buffer[total:]
            self.busy = False
            self.client.answered(self, status, self.due)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.lost(self)


class _Client:
    def __init__(self, requests: list[bytes], closed_until: float = 0.0) -> None:
        self.requests = requests
        self.closed_until = closed_until  # closed loop: resend on each answer until then
        self.idle: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()  # due times
        self.latencies: list[float] = []
        self.failures = 0
        self.outstanding = 0
        self.pick = random.Random(11).choice
        self.closed = 0

    def submit(self, due: float) -> None:
        self.outstanding += 1
        if self.idle:
            self.idle.popleft().send(self.pick(self.requests), due)
        else:
            self.waiting.append(due)

    def answered(self, connection: _Connection, status: int, due: float) -> None:
        self.latencies.append(time.perf_counter() - due)
        if status != 200:
            self.failures += 1
        self.outstanding -= 1
        if self.closed_until:
            now = time.perf_counter()
            if now < self.closed_until:
                self.outstanding += 1
                connection.send(self.pick(self.requests), now)
                return
        if self.waiting:
            connection.send(self.pick(self.requests), self.waiting.popleft())
        else:
            self.idle.append(connection)

    def lost(self, connection: _Connection) -> None:
        self.closed += 1
        if connection.busy:
            self.failures += 1
            self.outstanding -= 1


async def run(url: str, rate: float, seconds: float, connections: int, body: bytes,
              headers: list[tuple[str, str]], tokens: list[str],
              closed: bool = False) -> dict[str, float]:
    """Send ``rate`` requests a second for ``seconds`` (``closed``: as fast as answers come
    back); wait for the answers; summarise."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers)]
    heads = (
        [[*lines, f"Authorization: Bearer {token}"] for token in tokens] if tokens else [lines]
    )
    client = _Client(["\r\n".join(head).encode() + b"\r\n\r\n" + body for head in heads])
    loop = asyncio.get_running_loop()
    for _ in range(connections):
        transport, protocol = await loop.create_connection(
            lambda: _Connection(client), host, port
        )
        protocol.transport = transport  # uvloop may call connection_made after this returns
        client.idle.append(protocol)
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05
    sent = 0
    if closed:
        start = time.perf_counter()
        client.closed_until = start + seconds
        for _ in range(connections):
            client.submit(start)
        total = sent = 0
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent * interval <= now:
            client.submit(start + sent * interval)
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
    deadline = time.perf_counter() + 30.0 + (seconds if closed else 0.0)
    while client.outstanding > 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    for connection in list(client.idle):
        if connection.transport is not None:
            connection.transport.close()
    latencies = sorted(client.latencies)

    def pct(q: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    if closed:
        elapsed = seconds
    return {
        "due": total or len(latencies),
        "answered": len(latencies),
        "failures": client.failures + client.outstanding,
        "seconds": elapsed,
        "rate": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="Requests a second.")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--header", action="append", default=[], help="NAME:VALUE")
    parser.add_argument("--tokens-file", type=Path, default=None)
    parser.add_argument("--closed", action="store_true",
                        help="Closed loop: each connection sends on each answer (--rate unused).")
    args = parser.parse_args(argv)
    headers = [tuple(h.split(":", 1)) for h in args.header]
    tokens = args.tokens_file.read_text().split() if args.tokens_file else []
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency of the project
        pass
    result = asyncio.run(run(args.url, args.rate, args.seconds, args.connections,
                             args.body_file.read_bytes(),
                             [(k.strip(), v.strip()) for k, v in headers], tokens,
                             args.closed))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
