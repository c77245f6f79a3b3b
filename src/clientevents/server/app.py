"""``create_app(settings, data_dir=...)``: the gateway as a Starlette application.

The application is an onion of pure-ASGI layers (no ``BaseHTTPMiddleware``)::

    RequestContextMiddleware   request id, access log, request metrics, JSON 500 safety net
      CORSMiddleware           only when server.cors_allowed_origins is set
        Router                 POST /{stage}/event          ingest (raw ASGI endpoint)
                               GET  /health, /ready, /metrics
                               POST /streams/{name}/read|ack
                               POST /inbox/api/v2/tickets.json, GET /inbox/tickets
                               /admin/api/...               the admin API (console, scripts)
                               GET  /console/...            the operators' console
                               the identity routes (Cognito JSON API at POST /, JWKS, discovery)
                               GET  /openapi.json

The runtime (database, publisher, streams) and the identity service are built here, so the app
works as soon as it exists; its lifespan closes them, and with ``run_workers=True`` also runs the
router and dispatchers in this process (``clientevents serve`` runs them in a second process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clientevents.config import Settings
from clientevents.errors import StoreError
from clientevents.identity import build_identity
from clientevents.logthrottle import LogThrottle
from clientevents.runtime import Runtime
from clientevents.server.body import json_response
from clientevents.server.errors import STORE_RETRY_AFTER_SECS, is_store_outage
from clientevents.server.gateway import Gateway
from clientevents.server.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from clientevents.server.openapi import openapi_document
from clientevents.server.routes.console import console_routes
from clientevents.server.routes.health import health_routes
from clientevents.server.routes.inbox import inbox_routes
from clientevents.server.routes.ingest import IngestEndpoint
from clientevents.server.routes.streams import stream_routes
from clientevents.store import outage_errors

logger = logging.getLogger("clientevents.server")
_THROTTLE = LogThrottle(logger)

CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Api-Key",
    "X-Amz-Target",
    "X-Amz-User-Agent",
    "X-Amz-Date",
    "Amz-Sdk-Invocation-Id",
    "Amz-Sdk-Request",
)
CORS_EXPOSE_HEADERS = (REQUEST_ID_HEADER, "Retry-After")


def create_app(settings: Settings, *, data_dir: str | Path, run_workers: bool = False) -> Starlette:
    """Build the gateway for ``settings`` with its state in ``data_dir``.

    Args:
        settings: the loaded configuration.
        data_dir: the folder holding ``clientevents.db`` and the local targets' files.
        run_workers: also run the router and dispatchers inside this app's lifespan.

    Returns:
        The Starlette app; ``app.state.gateway`` is its :class:`Gateway`.
    """
    data_path = Path(data_dir)
    runtime = Runtime(settings, data_path, direct_streams=True)
    try:
        identity = build_identity(settings, runtime.db, data_path)
        gateway = Gateway(settings, data_dir=data_path, runtime=runtime, identity=identity)
    except BaseException:
        runtime.close()
        raise
    # The hot route first: the router tries routes in order. No other route has the shape
    # /<one segment>/event, so the order changes nothing else.
    routes: list[BaseRoute] = [
        Route("/{stage}/event", IngestEndpoint(gateway), methods=["POST"], name="ingest"),
        *health_routes(gateway),
        Route("/openapi.json", _openapi, methods=["GET"], name="openapi"),
        *stream_routes(gateway),
        *inbox_routes(gateway),
        *console_routes(gateway),
        *identity.routes(),
    ]
    templates = _route_templates(routes)

    def route_of(endpoint: Any) -> str:
        if endpoint is None:
            return "unmatched"
        return templates.get(id(endpoint), "other")

    middleware = [
        Middleware(
            RequestContextMiddleware,
            metrics=gateway.metrics,
            route_of=route_of,
            access_log=settings.server.access_log,
        )
    ]
    origins = list(settings.server.cors_allowed_origins)
    if origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=list(CORS_ALLOW_HEADERS),
                expose_headers=list(CORS_EXPOSE_HEADERS),
                max_age=600,
            )
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        workers: asyncio.Task[None] | None = None
        if run_workers:
            workers = asyncio.create_task(runtime.run_workers(stop), name="clientevents-workers")
        try:
            yield
        finally:
            stop.set()
            if workers is not None:
                await workers
            if gateway.admin is not None:
                await gateway.admin.close()
            for stage in gateway.stages.values():
                if stage.shared_limiter is not None:
                    await stage.shared_limiter.close()
            close_app(app)

    ingest = routes[0]
    assert isinstance(ingest, Route)
    app = GatewayApp(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,  # type: ignore[dict-item]
            **{error: _store_unavailable for error in outage_errors(StoreError)},
        },
        lifespan=lifespan,
    )
    app.fast_ingest = RequestContextMiddleware(
        ingest.app,
        metrics=gateway.metrics,
        route_of=route_of,
        access_log=settings.server.access_log,
    )
    app.fast_ingest_endpoint = ingest.endpoint
    app.state.gateway = gateway
    app.state.closed = False
    return app


class GatewayApp(Starlette):
    """The gateway's Starlette app, with a short way in for the hot route.

    ``POST /<stage>/event`` without an ``Origin`` header (no CORS to apply) goes straight to the
    request-context middleware around the ingest endpoint: the same code the router would reach,
    without the router, the exception layers and their per-request work. Everything else takes
    the normal path.
    """

    fast_ingest: ASGIApp | None = None
    fast_ingest_endpoint: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_ingest
        if (
            fast is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            path: str = scope["path"]
            if path.endswith("/event") and path.count("/") == 2 and len(path) > 7:
                for name, _ in scope["headers"]:
                    if name == b"origin":
                        break
                else:
                    scope["app"] = self
                    scope["path_params"] = {"stage": path[1:-6]}
                    scope["endpoint"] = self.fast_ingest_endpoint
                    await fast(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def close_app(app: Starlette) -> None:
    """Release what :func:`create_app` opened (idempotent; the lifespan calls it too)."""
    if app.state.closed:
        return
    app.state.closed = True
    gateway: Gateway = app.state.gateway
    close = getattr(gateway.identity, "close", None)
    if callable(close):
        close()
    gateway.runtime.close()


def _route_templates(routes: list[BaseRoute]) -> dict[int, str]:
    templates: dict[int, str] = {}
    for route in routes:
        if isinstance(route, Route):
            templates[id(route.endpoint)] = route.path
        elif isinstance(route, Mount):
            templates[id(route.app)] = route.path + "/*"
    return templates


async def _openapi(request: Request) -> Response:
    return json_response(200, openapi_document())


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    """A route that could not read or write the store: 503 with ``Retry-After``, as ingest.

    A conflict or a missing resource that a route did not answer itself stays an error."""
    if not is_store_outage(exc):
        raise exc
    _THROTTLE.error("store", "A request failed because the store failed. route=%s error=%s",
                    request.url.path[:200], exc)
    return json_response(
        503,
        {"message": "The store cannot serve this request right now; retry after "
                    f"{STORE_RETRY_AFTER_SECS} s."},
        {"Retry-After": str(STORE_RETRY_AFTER_SECS)},
    )


async def _http_error(request: Request, exc: HTTPException) -> Response:
    method = request.method
    path = request.url.path[:200]
    if exc.status_code == 404:
        message = f"There is no route for {method} {path}."
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"Method {method[:20]} is not allowed on {path}; use {allowed or 'another'}."
    else:
        message = str(exc.detail)
    return json_response(exc.status_code, {"message": message}, exc.headers)
