"""The built-in ticket inbox's routes (see :mod:`clientevents.inbox`).

::

    POST /inbox/api/v2/tickets.json   {"ticket": {"subject": "...", "comment": {"body": "..."}}}
    -> 201 {"ticket": {"id": 1, "url": ".../inbox/api/v2/tickets/1.json", "status": "new", ...}}
    GET  /inbox/tickets?limit=100
    -> 200 {"tickets": [{"id", "event_id", "ticket", "request"}, ...], "count": n}

Both answer only clients on the loopback interface (403 otherwise): the inbox stands in for a
ticketing service the workers on this machine call; it is not part of the public API. Behind a
reverse proxy on the same machine, block ``/inbox`` at the proxy. Bodies are limited to 256 KiB.
"""

from __future__ import annotations

import asyncio
import ipaddress

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from clientevents.inbox.store import TicketInbox, TicketRejected, parse_ticket
from clientevents.server.body import json_response
from clientevents.server.gateway import Gateway
from clientevents.targets.api_destination.request import EVENT_ID_HEADER

__all__ = ["INBOX_BODY_LIMIT", "inbox_routes"]

INBOX_BODY_LIMIT = 256 * 1024


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _forbidden() -> Response:
    return json_response(403, {"error": "Forbidden",
                               "description": "The ticket inbox answers loopback clients only."})


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def inbox_routes(gateway: Gateway) -> list[BaseRoute]:
    """``POST /inbox/api/v2/tickets.json`` and ``GET /inbox/tickets``."""
    inbox = TicketInbox(gateway.runtime.db)

    async def create(request: Request) -> Response:
        if not _is_loopback(request):
            return _forbidden()
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > INBOX_BODY_LIMIT:
                return json_response(413, {"error": "Payload Too Large",
                                           "description": "A ticket has at most 256 KiB."})
        try:
            ticket = parse_ticket(body)
        except TicketRejected as rejected:
            return json_response(rejected.status, rejected.body)
        event_id = request.headers.get(EVENT_ID_HEADER)
        stored = await inbox.add(ticket, event_id=event_id[:128] if event_id else None)
        view = stored.zendesk(_base_url(request))
        return json_response(201, {"ticket": view}, {"Location": view["url"]})

    async def listing(request: Request) -> Response:
        if not _is_loopback(request):
            return _forbidden()
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 1000:
            return json_response(400, {"message": '"limit" must be an integer from 1 to 1000.'})
        tickets, count = await asyncio.to_thread(inbox.newest, limit)
        base = _base_url(request)
        return json_response(200, {"tickets": [t.listing(base) for t in tickets],
                                   "count": count})

    return [
        Route("/inbox/api/v2/tickets.json", create, methods=["POST"], name="inbox_create"),
        Route("/inbox/tickets", listing, methods=["GET"], name="inbox_list"),
    ]
