"""``GET /health`` (alive), ``GET /ready`` (the store answers) and ``GET /metrics`` (the
gateway's counters, then the pipeline's state: :mod:`clientevents.server.pipeline_metrics`).

``/ready`` reads the event log. A 503 names the ``backend`` that fails (``store``: the
embedded database holds the state store and the event log) and the ``error`` (its class and
message, without paths), with ``Retry-After``.

After a write of this process failed because the store could not write
(``Database.write_failure``: a full disk, an I/O error), it also makes a small real write:
while that fails the gateway is not ready, and once it succeeds (space was freed) the
failure is cleared and the gateway is ready again, with no restart. Answers never name files.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clientevents.errors import StoreError
from clientevents.logthrottle import LogThrottle
from clientevents.server.body import json_response as _json
from clientevents.server.errors import STORE_RETRY_AFTER_SECS
from clientevents.server.gateway import Gateway
from clientevents.server.pipeline_metrics import render_pipeline_metrics

logger = logging.getLogger("clientevents.server")
_THROTTLE = LogThrottle(logger)

#: Longest a readiness probe waits for the database before answering 503.
READY_TIMEOUT_SECS = 2.0


def _probe(conn: sqlite3.Connection) -> dict[str, Any]:
    # A real read of the event log and of the schema catalogue (the stores' tables live there).
    row = conn.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return {"last_seq": row[0] if row else 0, "tables": tables[0]}


def _probe_write(conn: sqlite3.Connection) -> None:
    # One tiny row rewritten: a real commit through the same writer as the events.
    conn.execute("CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, at REAL)")
    conn.execute("INSERT OR REPLACE INTO store_probe (id, at) VALUES (1, ?)", (time.time(),))


def _not_ready(message: str, *, backend: str, error: str) -> Response:
    return _json(503, {"status": "not ready", "backend": backend, "error": error,
                       "message": message},
                 {"Retry-After": str(STORE_RETRY_AFTER_SECS)})


def _error_text(exc: BaseException, *hidden: str) -> str:
    """The error's class and message, with the data directory's paths left out."""
    text = str(exc) or type(exc).__name__
    for path in hidden:
        if path:
            text = text.replace(path, "<data-dir>")
    return f"{type(exc).__name__}: {text}"[:300]


def health_routes(gateway: Gateway) -> list[BaseRoute]:
    """The liveness, readiness and metrics routes of ``gateway``."""

    async def health(request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def ready(request: Request) -> Response:
        db = gateway.runtime.db
        hidden = (str(db.path), str(db.path.parent))
        started = time.perf_counter()
        try:
            probe = await asyncio.wait_for(
                asyncio.to_thread(db.read, _probe), timeout=READY_TIMEOUT_SECS
            )
        except TimeoutError:
            return _not_ready(f"The database did not answer within {READY_TIMEOUT_SECS} s.",
                              backend="store", error="TimeoutError")
        except (sqlite3.Error, OSError) as exc:
            _THROTTLE.error("read", "The readiness read failed. error=%s", exc)
            return _not_ready("The database cannot be read; see the server's log.",
                              backend="store", error=_error_text(exc, *hidden))
        if db.write_failure is not None:
            try:
                await asyncio.wait_for(db.awrite(_probe_write), timeout=READY_TIMEOUT_SECS)
            except (TimeoutError, StoreError, sqlite3.Error) as exc:
                _THROTTLE.error("write", "The store still refuses writes. error=%s", exc)
                cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
                return _not_ready(
                    "The store cannot write (the disk may be full); events are refused "
                    "until it can. See the server's log.",
                    backend="store", error=_error_text(cause, *hidden),
                )
            logger.warning("The store writes again.")
        return _json(200, {
            "status": "ready",
            "log": {"last_seq": probe["last_seq"]},
            "store": {"tables": probe["tables"]},
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        })

    async def metrics(request: Request) -> Response:
        body = gateway.metrics.render()
        runtime = gateway.runtime
        try:
            body += await asyncio.wait_for(asyncio.to_thread(
                render_pipeline_metrics, runtime.db, runtime.log, gateway.settings,
            ), timeout=READY_TIMEOUT_SECS)
        except (TimeoutError, sqlite3.Error, OSError) as exc:
            # The gateway's own figures still answer; the log says why the rest is missing.
            _THROTTLE.error("metrics", "The pipeline's metrics could not be read. error=%s", exc)
        return Response(body, headers={"content-type": gateway.metrics.content_type})

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
