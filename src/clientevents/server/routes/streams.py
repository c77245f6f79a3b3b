"""The stream consumer API: ``POST /streams/{name}/read`` and ``POST /streams/{name}/ack``.

A consumer group reads a named stream over HTTP with an ``X-Api-Key`` header that the
configuration grants for that stream (``streams[].api_keys``)::

    POST /streams/clicks/read   {"group": "billing", "max_records": 100, "wait_secs": 10,
                                 "start": "oldest"}
    -> 200 {"records": [{"id": 7, "payload": "...", "appended_at": 1795000000.1,
                         "delivery_count": 1}]}
    POST /streams/clicks/ack    {"group": "billing", "ids": [7]}
    -> 200 {"acked": 1}

``wait_secs`` (0..20) long-polls: the answer comes as soon as a record is there, or empty after
``wait_secs``. Records not acknowledged within the stream's ``visibility_timeout_secs`` are
delivered again (``delivery_count`` grows).
"""

from __future__ import annotations

import hmac
import math
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clientevents.server.body import json_response
from clientevents.server.errors import RequestRejected, bad_request
from clientevents.server.gateway import Gateway

MAX_WAIT_SECS = 20.0
MAX_RECORDS = 1000
MAX_ACK_IDS = 1000
MAX_STREAM_BODY = 64 * 1024
_GROUP = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


def stream_routes(gateway: Gateway) -> list[BaseRoute]:
    """The read and ack routes of the stream consumer API."""

    async def read(request: Request) -> Response:
        try:
            name, doc = await _prepare(gateway, request)
            group = _group(doc)
            max_records = doc.get("max_records", 100)
            if isinstance(max_records, bool) or not isinstance(max_records, int) or not (
                1 <= max_records <= MAX_RECORDS
            ):
                raise bad_request(
                    f'"max_records" must be an integer from 1 to {MAX_RECORDS}, '
                    f"got {_show(max_records)}."
                )
            wait = doc.get("wait_secs", 0)
            if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not (
                0 <= wait <= MAX_WAIT_SECS
            ):
                raise bad_request(
                    f'"wait_secs" must be a number from 0 to {MAX_WAIT_SECS:g}, got {_show(wait)}.'
                )
            start = doc.get("start", "oldest")
            if start not in ("oldest", "latest") and (
                isinstance(start, bool) or not isinstance(start, (int, float))
                or not math.isfinite(start) or not 0 <= start < 1e11
            ):
                raise bad_request(
                    '"start" must be "oldest", "latest" or a time in epoch seconds, '
                    f"got {_show(start)}."
                )
        except RequestRejected as error:
            return json_response(error.status, {"message": error.message}, error.headers)
        records = await gateway.runtime.streams.read(
            name, group, max_records=max_records, wait_secs=float(wait), start=start
        )
        return json_response(200, {"records": [
            {
                "id": r.id,
                "payload": r.payload,
                "appended_at": r.appended_at,
                "delivery_count": r.delivery_count,
            }
            for r in records
        ]})

    async def ack(request: Request) -> Response:
        try:
            name, doc = await _prepare(gateway, request)
            group = _group(doc)
            ids = doc.get("ids")
            if not isinstance(ids, list) or not ids or len(ids) > MAX_ACK_IDS or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**63 for i in ids
            ):
                raise bad_request(
                    f'"ids" must be an array of 1 to {MAX_ACK_IDS} record ids (integers) '
                    "as the read answer gave them."
                )
        except RequestRejected as error:
            return json_response(error.status, {"message": error.message}, error.headers)
        acked = await gateway.runtime.streams.ack(name, group, ids)
        return json_response(200, {"acked": acked})

    return [
        Route("/streams/{name}/read", read, methods=["POST"], name="stream_read"),
        Route("/streams/{name}/ack", ack, methods=["POST"], name="stream_ack"),
    ]


async def _prepare(gateway: Gateway, request: Request) -> tuple[str, dict[str, Any]]:
    name: str = request.path_params["name"]
    keys = gateway.stream_keys.get(name)
    if keys is None:
        raise RequestRejected(404, f"There is no stream named {name[:64]!r}.", reason="unknown")
    given = request.headers.get("x-api-key")
    if not given:
        raise RequestRejected(
            401, f"Send the X-Api-Key header with a key granted for stream {name!r}.",
            reason="missing_key",
        )
    supplied = given.encode("utf-8", "surrogateescape")
    if not any(hmac.compare_digest(supplied, k.encode("utf-8")) for k in keys):
        raise RequestRejected(
            403, f"The X-Api-Key is not granted for stream {name!r}.", reason="wrong_key"
        )
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_STREAM_BODY:
            raise RequestRejected(
                413, f"The request body is larger than {MAX_STREAM_BODY} bytes.",
                reason="body_too_large",
            )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise bad_request("The request body must be a JSON object.")
    return name, doc


def _group(doc: dict[str, Any]) -> str:
    group = doc.get("group")
    if not isinstance(group, str) or not _GROUP.fullmatch(group):
        raise bad_request(
            '"group" must be a consumer group name of 1 to 128 letters, digits or "_.:-", '
            f"got {_show(group)}."
        )
    return group


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "nothing"
    return text if len(text) <= 40 else text[:37] + "..."
