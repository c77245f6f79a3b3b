"""A recording HTTP server on loopback, answering like Zendesk's ticket API by default.

A threaded HTTP/1.1 server (keep-alive) that records every request (``calls``) and answers
through a function the test sets (``handler``). Shared by the unit, integration and end-to-end
tests and the benchmarks' checks (``tests/conftest.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import http.server
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float
    peer: str

    def json(self) -> Any:
        return orjson.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]
Handler = Callable[[Call], Answer]

_ticket_ids = itertools.count(35436)


def zendesk(call: Call) -> Answer:
    """Answer like Zendesk's POST /api/v2/tickets.json: 201 and the ticket with its id."""
    try:
        ticket = call.json()["ticket"]
    except (ValueError, KeyError, TypeError):
        return 400, {"Content-Type": "application/json"}, b'{"error": "InvalidJSON"}'
    ticket_id = next(_ticket_ids)
    body = orjson.dumps({"ticket": {"id": ticket_id, "subject": ticket.get("subject"),
                                    "status": "new"}})
    return 201, {"Content-Type": "application/json",
                 "Location": f"/api/v2/tickets/{ticket_id}.json"}, body


@dataclass
class RecordingServer:
    """A loopback HTTP server that records requests; ``handler`` decides the answers."""

    handler: Handler = zendesk
    calls: list[Call] = field(default_factory=list)
    delay_secs: float = 0.0

    def __post_init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(self.command, parts.path, dict(parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()}, body,
                            time.monotonic(), self.client_address[0])
                server.calls.append(call)
                if server.delay_secs:
                    time.sleep(server.delay_secs)
                status, headers, payload = server.handler(call)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def recording_server(handler: Handler = zendesk) -> Iterator[RecordingServer]:
    server = RecordingServer(handler)
    try:
        yield server
    finally:
        server.close()
