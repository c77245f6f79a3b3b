"""The gateway's outermost pure-ASGI middleware: request id, access log, metrics, safety net.

Every answer carries a request id in the ``x-amzn-RequestId`` header (API Gateway's name, so
clients written for the blueprint find it where they expect it). One access-log line per request
goes to the ``clientevents.access`` logger, in the spirit of API Gateway's CLF access log format::

    127.0.0.1 - 0f6c3c0e-... [27/Nov/2026:05:00:00 +0000] "POST /prod/event HTTP/1.1" 200 312 \
6a7e8feb-... 2.41ms

(source IP, ``-``, clientId or ``-``, time, request line, status, response body bytes, request
id, latency). Routes put the clientId in ``scope["state"]["client_id"]`` once they know it.

An exception that escapes a route is logged with its request id and answered with a JSON 500, so
a client never sees a dropped connection; the fuzz tests assert that no client input gets there.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clientevents.server.metrics import GatewayMetrics

access_logger = logging.getLogger("clientevents.access")
error_logger = logging.getLogger("clientevents.server")

REQUEST_ID_HEADER = "x-amzn-RequestId"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode("ascii")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_INTERNAL_ERROR = b'{"message":"Internal server error. The request id names it in the server log."}'


class RequestContextMiddleware:
    """Request id, access log and request metrics around every HTTP request.

    ``route_of`` maps the endpoint Starlette routed to (``scope["endpoint"]``) to its route
    template, the only route label metrics use.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: GatewayMetrics,
        route_of: Callable[[Any], str],
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        status = 0
        size = 0
        header = (_REQUEST_ID_HEADER_BYTES, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, size
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_logger.exception("Unhandled error. request_id=%s", request_id)
            if status == 0:
                status = 500
                size = len(_INTERNAL_ERROR)
                await send({
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(size).encode("ascii")),
                        header,
                    ],
                })
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = self.route_of(scope.get("endpoint"))
            self.metrics.observe_request(
                route, method if method in _KNOWN_METHODS else "OTHER", status, elapsed
            )
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                access_logger.info(
                    access_line(scope, state.get("client_id"), status, size, request_id, elapsed)
                )


def access_line(
    scope: Scope,
    client_id: str | None,
    status: int,
    size: int,
    request_id: str,
    elapsed: float,
) -> str:
    """One access-log line (CLF-like, see the module docstring)."""
    client = scope.get("client")
    ip = client[0] if client else "-"
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    path = _printable(scope.get("path", ""))
    method = _printable(scope.get("method", "-"))
    version = scope.get("http_version", "1.1")
    return (
        f'{ip} - {client_id or "-"} [{stamp}] "{method} {path} HTTP/{version}" '
        f"{status} {size} {request_id} {elapsed * 1000:.2f}ms"
    )


def _printable(text: str) -> str:
    # Client-chosen text must not forge log lines or break the quoted field.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
