"""``GET /health`` (alive), ``GET /ready`` (the store answers) and ``GET /metrics``."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clientevents.server.body import json_response as _json
from clientevents.server.gateway import Gateway

#: Longest a readiness probe waits for the database before answering 503.
READY_TIMEOUT_SECS = 2.0


def _probe(conn: sqlite3.Connection) -> dict[str, Any]:
    # A real read of the event log and of the schema catalogue (the stores' tables live there).
    row = conn.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return {"last_seq": row[0] if row else 0, "tables": tables[0]}


def health_routes(gateway: Gateway) -> list[BaseRoute]:
    """The liveness, readiness and metrics routes of ``gateway``."""

    async def health(request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def ready(request: Request) -> Response:
        db = gateway.runtime.db
        started = time.perf_counter()
        try:
            probe = await asyncio.wait_for(
                asyncio.to_thread(db.read, _probe), timeout=READY_TIMEOUT_SECS
            )
        except TimeoutError:
            return _json(503, {"status": "not ready", "message":
                               f"The database did not answer within {READY_TIMEOUT_SECS} s."})
        except (sqlite3.Error, OSError) as exc:
            return _json(503, {"status": "not ready", "message": f"The database failed: {exc}"})
        return _json(200, {
            "status": "ready",
            "log": {"last_seq": probe["last_seq"]},
            "store": {"tables": probe["tables"]},
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        })

    async def metrics(request: Request) -> Response:
        return Response(
            gateway.metrics.render(),
            headers={"content-type": gateway.metrics.content_type},
        )

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
