"""Reading and answering HTTP bodies on raw ASGI, with a hard cap on what is buffered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clientevents.errors import ClientEventsError
from clientevents.server.errors import RequestRejected

JSON_HEADERS = ((b"content-type", b"application/json"),)


class ClientDisconnected(ClientEventsError):
    """The client went away before its body was read; nothing is answered."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def check_json_content_type(scope: Scope) -> None:
    """Refuse (415) a body whose Content-Type is given and is not JSON.

    Accepted: no Content-Type at all, ``application/json`` and ``application/<x>+json``, with any
    parameters (``; charset=utf-8``).
    """
    value = header(scope, b"content-type")
    if value is None:
        return
    mime = value.split(b";", 1)[0].strip().lower()
    if mime == b"application/json":
        return
    if mime.startswith(b"application/") and mime.endswith(b"+json"):
        return
    shown = value.decode("latin-1")[:100]
    raise RequestRejected(
        415,
        f"Content-Type {shown!r} is not JSON; send the body as application/json.",
        reason="unsupported_media_type",
    )


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Read the whole request body, refusing (413) as soon as it exceeds ``limit`` bytes.

    A Content-Length above the limit is refused before any byte is read; a body without one (or
    one that lies) is counted as it arrives, so at most ``limit`` bytes are ever buffered.
    """
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length > limit:
            raise _too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise _too_large(limit)
    if not message.get("more_body", False):
        return body
    chunks = [body]
    total = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> RequestRejected:
    return RequestRejected(
        413,
        f"The request body is larger than {limit} bytes; send fewer or smaller entries.",
        reason="body_too_large",
    )


async def send_json(
    send: Send,
    status: int,
    payload: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer ``payload`` as JSON with ``status`` (and extra ``headers``)."""
    body = orjson.dumps(payload)
    raw_headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]
    if headers:
        raw_headers.extend(
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        )
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_rejection(send: Send, error: RequestRejected) -> None:
    """Answer a request-level failure as ``{"message": ...}``."""
    await send_json(send, error.status, {"message": error.message}, error.headers)


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """A Starlette response holding ``payload`` as JSON (for the routes off the hot path)."""
    return Response(
        orjson.dumps(payload), status_code=status, media_type="application/json",
        headers=dict(headers) if headers else None,
    )
