"""``GET /health`` (alive), ``GET /ready`` (the store answers) and ``GET /metrics`` (the
gateway's counters, then the pipeline's state: :mod:`clientevents.server.pipeline_metrics`).

``/ready`` reads the state store and the event log. A 503 names the ``backend`` that fails
(``store``: the state store, which also holds the event log on SQLite and PostgreSQL; ``log``:
a separate event log such as JetStream) and the ``error`` (its class and message, without
paths), with ``Retry-After``.

After a write of this process failed because the store could not write
(``StateStore.write_failure``: a full disk, an I/O error), it also makes a small real write:
while that fails the gateway is not ready, and once it succeeds (space was freed) the
failure is cleared and the gateway is ready again, with no restart. Answers never name files.
"""

from __future__ import annotations

import asyncio
import logging
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
from clientevents.store import driver_errors, register_schema
from clientevents.store.port import SqlConnection

logger = logging.getLogger("clientevents.server")
_THROTTLE = LogThrottle(logger)

#: Longest a readiness probe waits for the database before answering 503.
READY_TIMEOUT_SECS = 2.0


register_schema("server.probe", "CREATE TABLE IF NOT EXISTS store_probe "
                "(id INTEGER PRIMARY KEY, at REAL);")


def _probe(conn: SqlConnection) -> dict[str, Any]:
    # A real read of the schema catalogue (the stores' tables live there).
    return {"tables": conn.dialect.count_tables(conn)}


def _probe_write(conn: SqlConnection) -> None:
    # One tiny row rewritten: a real commit through the same writer as the events.
    conn.execute("INSERT INTO store_probe (id, at) VALUES (1, ?) "
                 "ON CONFLICT (id) DO UPDATE SET at = excluded.at", (time.time(),))


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
        log = gateway.runtime.log
        path = getattr(db, "path", None)
        hidden = (str(path), str(path.parent)) if path is not None else ()
        started = time.perf_counter()
        try:
            probe = await asyncio.wait_for(
                asyncio.to_thread(db.read, _probe), timeout=READY_TIMEOUT_SECS
            )
        except TimeoutError:
            return _not_ready(f"The state store did not answer within {READY_TIMEOUT_SECS} s.",
                              backend="store", error="TimeoutError")
        except driver_errors(OSError) as exc:
            _THROTTLE.error("read", "The readiness read failed. error=%s", exc)
            return _not_ready("The state store cannot be read; see the server's log.",
                              backend="store", error=_error_text(exc, *hidden))
        buses = [bus.name for bus in gateway.settings.buses]
        try:
            heads = await asyncio.wait_for(asyncio.to_thread(
                lambda: {bus: log.head(bus) for bus in buses}), timeout=READY_TIMEOUT_SECS)
        except TimeoutError:
            return _not_ready(f"The event log did not answer within {READY_TIMEOUT_SECS} s.",
                              backend="log", error="TimeoutError")
        except driver_errors(StoreError, OSError) as exc:
            _THROTTLE.error("log", "The readiness read of the event log failed. error=%s", exc)
            return _not_ready("The event log cannot be read; see the server's log.",
                              backend="log", error=_error_text(exc, *hidden))
        if db.write_failure is not None:
            try:
                await asyncio.wait_for(db.awrite(_probe_write), timeout=READY_TIMEOUT_SECS)
            except driver_errors(TimeoutError, StoreError) as exc:
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
            "log": {"last_seq": max(heads.values(), default=0)},
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
        except driver_errors(TimeoutError, OSError, StoreError) as exc:
            # The gateway's own figures still answer (the store or the event log may be down);
            # the log says why the rest is missing.
            _THROTTLE.error("metrics", "The pipeline's metrics could not be read. error=%s", exc)
        return Response(body, headers={"content-type": gateway.metrics.content_type})

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/ready", ready, methods=["GET"], name="ready"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
    ]
