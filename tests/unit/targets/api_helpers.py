"""Helpers for the API destination tests: a real HTTP server on loopback, and a harness.

``RecordingServer`` is a threaded HTTP/1.1 server (keep-alive) that records every request and
answers through a function the test sets; by default it answers like Zendesk's ticket API
(201 and the created ticket). ``Harness`` runs the real pipeline on a temporary database:
publish events, route them, deliver them with real dispatchers.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import yaml

from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.routing.router import Router
from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.dlq import DeadLetterQueue
from clientevents.targets.queue import queue_depths
from clientevents.targets.retry import Backoff


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


def api_settings(text: str, **environ: str) -> Settings:
    """Settings from YAML text (a bus ``b``, stage-less) with ``${env:...}`` from ``environ``."""
    return validate_settings(yaml.safe_load(text), environ=environ)


def pipeline(endpoint: str, *, connection: str, destination: str = "", target: str = "",
             retry: str = "{maximum_retry_attempts: 3}", allow: str = "[127.0.0.0/8]") -> str:
    """A configuration: bus ``b``, rule ``r`` (source ``app``) to target ``t`` calling the
    destination ``d`` at ``endpoint`` through connection ``c``."""
    return f"""
buses: [{{name: b}}]
connections:
  - name: c
{connection}
api_destinations:
  - name: d
    connection: c
    invocation_endpoint: "{endpoint}"
    allow_private_networks: {allow}
{destination}
rules:
  - name: r
    bus: b
    event_pattern: {{source: [app]}}
    targets:
      - id: t
        type: api_destination
        api_destination: d
        retry_policy: {retry}
{target}
"""


BASIC = """    authorization_type: basic
    basic: {username: agent, password: "${env:TOKEN}"}"""


class Harness:
    """The real pipeline on a temporary database: publish, route, deliver."""

    def __init__(self, settings: Settings, data_dir: Path, *,
                 options: DispatchOptions | None = None) -> None:
        self.data_dir = data_dir
        self.settings = settings.with_data_dir(data_dir)
        self.db = Database(data_dir / "clientevents.db")
        self.publisher = Publisher(self.db, self.settings)
        self.router = Router(self.db, self.settings)
        self.context = TargetContext(self.db, self.settings, data_dir, self.publisher)
        self.options = options or DispatchOptions(
            lease_secs=60, send_timeout_secs=20, poll_interval_secs=0.01,
            backoff=Backoff(base_secs=0.0, cap_secs=0.0),
        )
        self.dispatchers = Dispatchers(self.db, self.settings, self.context,
                                       options=self.options)
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the harness's one event loop (the HTTP client lives on it)."""
        return self.loop.run_until_complete(coro)

    def publish(self, *details: dict[str, Any], source: str = "app") -> list[str]:
        result = self.publisher.put_events(
            [{"Source": source, "DetailType": "test", "Detail": orjson.dumps(d).decode(),
              "EventBusName": "b"} for d in details]
        )
        assert result["FailedEntryCount"] == 0, result
        self.run(self.router.route_once())
        return [e["EventId"] for e in result["Entries"]]

    def drain(self) -> int:
        count: int = self.run(self.dispatchers.drain_once())
        return count

    def dead_letters(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in DeadLetterQueue(self.db).list()]

    def queued(self) -> int:
        return sum(self.db.read(queue_depths).values())

    def close(self) -> None:
        self.run(self.dispatchers.close())
        self.loop.close()
        self.db.close()
