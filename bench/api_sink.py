"""The receiving end of ``bench.api_destination``: a minimal ASGI app run by uvicorn.

``POST`` (any path) answers 201 and records the arrival time (``time.time()``) under the
request's event id header; ``GET /arrivals`` returns them as JSON and ``DELETE /arrivals``
forgets them.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

_ARRIVALS: dict[str, float] = {}
_HEADER = b"x-clientevents-event-id"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    now = time.time()
    while True:  # read the body whole
        message = await receive()
        if not message.get("more_body"):
            break
    method = scope["method"]
    if method == "GET":
        body = orjson.dumps(_ARRIVALS)
        status = 200
    elif method == "DELETE":
        _ARRIVALS.clear()
        body, status = b"{}", 200
    else:
        for name, value in scope["headers"]:
            if name == _HEADER:
                _ARRIVALS[value.decode()] = now
                break
        body, status = b'{"ticket": {"id": 1}}', 201
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
