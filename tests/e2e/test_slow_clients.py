"""Slow clients cannot stop the gateway: 2,000 connections that never finish their headers.

An attacker opens connections, sends the start of a request's headers and then nothing, and
opens a new connection whenever the server closes one. Meanwhile a healthy client probes
``/health``. Under both HTTP servers, every probe must be answered promptly, and the server
must close each slow connection about ``server.header_read_timeout_secs`` after it opened.
"""

from __future__ import annotations

import resource
import selectors
import socket
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest
from gateway_process import ServeProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_CONNECTIONS = 2000
HEADER_TIMEOUT_SECS = 2.0
ATTACK_SECS = 3 * HEADER_TIMEOUT_SECS
PROBE_TIMEOUT_SECS = 2.0
PARTIAL_HEADERS = b"POST /prod/event HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer x"


def _connections_we_can_open() -> int:
    """2,000, or as many as this process's open-file limit allows (raised to its maximum)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CONNECTIONS + 300
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
        soft = new_soft
    return SLOW_CONNECTIONS if soft == resource.RLIM_INFINITY else min(SLOW_CONNECTIONS,
                                                                        soft - 300)


class Attacker:
    """Holds ``count`` half-open requests, reopening each one the server closes."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.selector = selectors.DefaultSelector()
        self.lifetimes: list[float] = []
        self.refused = 0
        self.stop = threading.Event()

    def _open(self) -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(PARTIAL_HEADERS)
        except OSError:
            self.refused += 1
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, time.monotonic())

    def run(self) -> None:
        for _ in range(self.count):
            self._open()
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    continue  # an error answer; the close follows
                self.lifetimes.append(time.monotonic() - key.data)
                self.selector.unregister(sock)
                sock.close()
                self._open()
        for key in list(self.selector.get_map().values()):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sock.close()
        self.selector.close()


@pytest.mark.parametrize("http_server", ["granian", "uvicorn"])
def test_healthy_clients_are_answered_while_2000_slow_connections_are_open(
    tmp_path: Path, http_server: str
) -> None:
    # Given the gateway with a short header timeout (the default is 10 s)
    config = tmp_path / "clientevents.yaml"
    config.write_text(f"server: {{header_read_timeout_secs: {HEADER_TIMEOUT_SECS}}}\n")
    server = ServeProcess(tmp_path / "data", config=config, args=("--http-server", http_server))
    server.start()
    count = _connections_we_can_open()
    print(f"{http_server}: {count} slow connections")
    attacker = Attacker(server.port, count)
    thread = threading.Thread(target=attacker.run, daemon=True)
    try:
        # When an attacker holds that many half-sent requests, reconnecting as they are cut
        thread.start()
        probes: list[float] = []
        failures: list[str] = []
        deadline = time.monotonic() + ATTACK_SECS
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                answer = httpx.get(f"{server.url}/health", timeout=PROBE_TIMEOUT_SECS)
                if answer.status_code != 200:
                    failures.append(f"status {answer.status_code}")
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
            probes.append(time.monotonic() - started)
            time.sleep(0.1)
    finally:
        attacker.stop.set()
        thread.join(timeout=30)
        assert server.stop() == 0
    # I expect every health probe answered, and each slow connection cut after the timeout
    print(f"{http_server}: probes {len(probes)}, slowest {max(probes):.3f} s; slow connections "
          f"closed by the server {len(attacker.lifetimes)}, median lifetime "
          f"{statistics.median(attacker.lifetimes) if attacker.lifetimes else 0:.2f} s")
    assert not failures, failures
    assert len(probes) >= 10
    assert attacker.refused == 0
    assert len(attacker.lifetimes) >= count  # every first connection was cut off
    assert statistics.median(attacker.lifetimes) < HEADER_TIMEOUT_SECS + 1.5
