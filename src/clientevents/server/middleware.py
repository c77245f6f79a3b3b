"""The gateway's outermost pure-ASGI middleware: request id, access log, metrics, safety net.

Every answer carries a request id in the ``x-amzn-RequestId`` header (API Gateway's name, so
clients written for the blueprint find it where they expect it). One access-log line per request
goes to the ``clientevents.access`` logger (:mod:`clientevents.server.accesslog`: source IP,
clientId, time, request line, status, size, request id, latency). Routes put the clientId in
``scope["state"]["client_id"]`` once they know it.

An exception that escapes a route is logged with its request id and answered with a JSON 500, so
a client never sees a dropped connection; the fuzz tests assert that no client input gets there.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clientevents.server.accesslog import ACCESS_LOGGER, access_line, log_access
from clientevents.server.metrics import GatewayMetrics

access_logger = logging.getLogger(ACCESS_LOGGER)
error_logger = logging.getLogger("clientevents.server")

REQUEST_ID_HEADER = "x-amzn-RequestId"
_REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.lower().encode("ascii")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_INTERNAL_ERROR = b'{"message":"Internal server error. The request id names it in the server log."}'


def new_request_id() -> str:
    """A version-4-shaped UUID as text, unique per request (not for secrets).

    A random prefix chosen once per process (again in a forked child) and a counter in the
    last 12 hex digits: a request id only has to be unique, and this costs a quarter of
    formatting 128 fresh random bits per request.
    """
    return f"{_prefix}{next(_counter) & 0xFFFFFFFFFFFF:012x}"


def _new_prefix() -> None:
    global _prefix, _counter
    h = f"{random.getrandbits(128):032x}"
    _prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-"
    _counter = itertools.count(random.getrandbits(48))


_prefix = ""
_counter = itertools.count()
_new_prefix()
os.register_at_fork(after_in_child=_new_prefix)


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
        request_id = new_request_id()
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
                log_access(
                    access_line(scope, state.get("client_id"), status, size, request_id, elapsed)
                )
