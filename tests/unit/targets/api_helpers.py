"""Helpers for the API destination tests: configurations and a harness.

``Harness`` runs the real pipeline on a temporary database: publish events, route them,
deliver them with real dispatchers. The HTTP server is ``tests/support/recording_server.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import yaml
from recording_server import Answer, Call, RecordingServer, recording_server, zendesk

from clientevents.config import Settings, validate_settings
from clientevents.events.publisher import Publisher
from clientevents.routing.router import Router
from clientevents.store.engine import Database
from clientevents.targets.base import TargetContext
from clientevents.targets.dispatcher import Dispatchers, DispatchOptions
from clientevents.targets.dlq import DeadLetterQueue
from clientevents.targets.queue import queue_depths
from clientevents.targets.retry import Backoff

__all__ = [
    "BASIC", "Answer", "Call", "Harness", "RecordingServer", "api_settings", "pipeline",
    "recording_server", "zendesk",
]


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
