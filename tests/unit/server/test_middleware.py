"""The request-context middleware: request id, access log line, metrics, JSON 500."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from clientevents.server.accesslog import access_line
from clientevents.server.metrics import GatewayMetrics
from clientevents.server.middleware import RequestContextMiddleware


async def hello(request: Request) -> Response:
    request.state.client_id = "client-7"
    return PlainTextResponse("hello")


async def boom(request: Request) -> Response:
    raise RuntimeError("broken on purpose")


def _app(metrics: GatewayMetrics) -> Starlette:
    routes = [Route("/hello/{name}", hello), Route("/boom", boom)]
    templates = {id(r.endpoint): r.path for r in routes}
    return Starlette(routes=routes, middleware=[Middleware(
        RequestContextMiddleware,
        metrics=metrics,
        route_of=lambda e: "unmatched" if e is None else templates.get(id(e), "other"),
    )])


def _get(app: Any, path: str, method: str = "GET") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_every_answer_has_a_request_id_and_one_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = GatewayMetrics()
    with caplog.at_level(logging.INFO, logger="clientevents.access"):
        response = _get(_app(metrics), "/hello/x")
    assert response.status_code == 200
    request_id = response.headers["x-amzn-RequestId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "clientevents.access"]
    assert len(lines) == 1
    assert re.fullmatch(
        r'127\.0\.0\.1 - client-7 \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
        rf'"GET /hello/x HTTP/1\.1" 200 5 {request_id} \d+\.\d\dms',
        lines[0],
    ), lines[0]


def test_metrics_use_the_route_template_and_bound_methods() -> None:
    metrics = GatewayMetrics()
    app = _app(metrics)
    _get(app, "/hello/a")
    _get(app, "/hello/b")
    _get(app, "/nowhere")
    _get(app, "/hello/c", method="BREW")
    text = metrics.render().decode()
    assert 'clientevents_http_requests_total{method="GET",route="/hello/{name}",status="200"} 2.0' \
        in text
    assert 'route="unmatched",status="404"' in text
    assert 'method="OTHER"' in text
    assert "/hello/a" not in text


def test_an_unhandled_error_becomes_a_json_500_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = GatewayMetrics()
    with caplog.at_level(logging.ERROR, logger="clientevents.server"):
        response = _get(_app(metrics), "/boom")
    assert response.status_code == 500
    assert response.json()["message"].startswith("Internal server error")
    request_id = response.headers["x-amzn-RequestId"]
    assert any(request_id in r.getMessage() for r in caplog.records)


def test_access_line_escapes_client_text() -> None:
    scope = {"type": "http", "method": "GET", "path": '/a"b\n[c]', "client": ("10.0.0.1", 5),
             "http_version": "1.1"}
    line = access_line(scope, None, 404, 10, "rid", 0.001)
    assert "\n" not in line
    assert '"GET /a\\"b\\n[c] HTTP/1.1" 404 10 rid 1.00ms' in line
    assert line.startswith("10.0.0.1 - - [")


def test_access_log_handler_writes_lines_and_flushes_on_close() -> None:
    import io

    from clientevents.server.accesslog import AccessLogHandler, log_access

    stream = io.StringIO()
    logger = logging.getLogger("clientevents.access")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    handler = AccessLogHandler(stream, flush_interval_secs=0.05)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        log_access("first line")
        logger.info("second line")
        handler.close()
        assert stream.getvalue() == "first line\nsecond line\n"
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
