"""The admin API: ``/admin/api/...``, JSON for the console, scripts and the command line.

Every route authenticates first (:class:`~clientevents.server.adminauth.AdminAuth`: a console
session, or a SigV4 signature with the admin key), refuses state changes to ``viewer`` roles
(403), writes each state-changing call to the audit log before answering, and answers errors as
``{"code", "message"}`` with the error's status. This module holds the framework and the
session, overview, pipeline and live-tail routes; :mod:`.admin_ops` holds deliveries, dead
letters, replays, users and the audit log. ``docs/console.md`` lists every route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from clientevents.admin import AdminService
from clientevents.admin.accounts import NewSession
from clientevents.admin.audit import Actor
from clientevents.admin.errors import AdminError, BadRequest, Forbidden, NotFoundError
from clientevents.admin.pipeline import bus_list, rule_list, sandbox
from clientevents.admin.tail import Subscriber
from clientevents.patterns import EventPattern, InvalidEventPattern
from clientevents.server.adminauth import SESSION_COOKIE, AdminAuth, SecurityHeaders
from clientevents.server.body import json_response

__all__ = ["MAX_ADMIN_BODY", "AdminCall", "admin_app", "endpoint", "error_response"]

MAX_ADMIN_BODY = 1024 * 1024
"""Largest admin request body (a sandbox event and pattern fit with room to spare)."""

KEEPALIVE_SECS = 15.0


@dataclass(frozen=True, slots=True)
class AdminCall:
    """One authenticated admin request: the request, who sent it, its JSON body."""

    request: Request
    actor: Actor
    doc: dict[str, Any]

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(
                f"Query parameter {name!r} must be an integer, not {raw[:40]!r}."
            ) from None
        if not low <= value <= high:
            raise BadRequest(f"Query parameter {name!r} must be from {low} to {high}, not {value}.")
        return value


Handler = Callable[[AdminCall], Awaitable[Any]]


def error_response(error: AdminError) -> Response:
    headers = {}
    if error.retry_after_secs is not None:
        headers["Retry-After"] = str(max(1, int(error.retry_after_secs + 0.999)))
    return json_response(error.status, {"code": error.code, "message": error.message}, headers)


async def read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ADMIN_BODY:
        raise BadRequest(f"The request body is larger than {MAX_ADMIN_BODY} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ADMIN_BODY:
            raise BadRequest(f"The request body is larger than {MAX_ADMIN_BODY} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise BadRequest("The request body must be a JSON object.")
    return doc


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def endpoint(
    admin: AdminService,
    auth: AdminAuth,
    handler: Handler,
    *,
    change: bool = False,
    action: str | None = None,
    subject: Callable[[AdminCall], str] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """A route function around ``handler``: authenticate, check the role, audit, answer.

    Args:
        change: the call changes state (only ``admin`` roles may make it).
        action: the audit log's name for the call (``None``: not audited).
        subject: what the call acts on, for the audit log.
    """

    async def route(request: Request) -> Response:
        actor: Actor | None = None
        call: AdminCall | None = None
        try:
            body = await read_limited(request)
            actor = await auth.actor(request, body)
            if change and not actor.may_change:
                raise Forbidden(
                    f"{actor.name!r} has the console role {actor.role!r}, which may look but not "
                    "change anything; ask someone with the admin role."
                )
            call = AdminCall(request, actor, parse_body(body) if request.method != "GET" else {})
            result = await handler(call)
        except ClientDisconnect:
            return Response(status_code=400)
        except AdminError as error:
            if action is not None and actor is not None:
                await _audit(admin, actor, action, request, call, subject, error.code)
            return error_response(error)
        if action is not None and actor is not None and call is not None:
            await _audit(admin, actor, action, request, call, subject, "ok")
        return json_response(200, result)

    return route


async def _audit(
    admin: AdminService,
    actor: Actor,
    action: str,
    request: Request,
    call: AdminCall | None,
    subject: Callable[[AdminCall], str] | None,
    outcome: str,
) -> None:
    named = ""
    if call is not None and subject is not None:
        try:
            named = subject(call)
        except (KeyError, TypeError, ValueError):
            named = ""
    await admin.audit.arecord(
        actor, action, subject=named, outcome=outcome,
        details=call.doc if call is not None else {}, address=client_address(request),
    )


def parse_pattern(value: Any, where: str) -> EventPattern | None:
    """An event pattern from JSON text or an object; ``None`` for nothing."""
    if value is None or value == "" or value == {}:
        return None
    try:
        return EventPattern(value)
    except (InvalidEventPattern, TypeError, ValueError) as exc:
        raise BadRequest(f"The {where} is not a valid event pattern: {exc}") from None


def _bus(admin: AdminService, name: str) -> str:
    if name not in admin.settings.bus_names():
        known = ", ".join(admin.settings.bus_names()) or "none"
        raise NotFoundError(f"There is no bus named {name[:64]!r} (buses: {known}).")
    return name


# -- sessions ----------------------------------------------------------------------------------


def _session_view(actor: Actor, csrf: str | None, expires_at: float | None) -> dict[str, Any]:
    return {"username": actor.name, "role": actor.role, "via": actor.via,
            "csrf_token": csrf, "expires_at": expires_at}


def session_routes(admin: AdminService, auth: AdminAuth) -> list[BaseRoute]:
    """``POST``, ``GET`` and ``DELETE /admin/api/session``: sign in, who am I, sign out."""

    async def sign_in(request: Request) -> Response:
        address = client_address(request)
        try:
            auth.check_origin(request)
            doc = parse_body(await read_limited(request))
            link, username, password = doc.get("link"), doc.get("username"), doc.get("password")
            if isinstance(link, str) and link:
                started: NewSession = await run_in_threadpool(
                    admin.accounts.sign_in_with_link, link
                )
            elif isinstance(username, str) and isinstance(password, str) and username:
                try:
                    started = await run_in_threadpool(admin.accounts.sign_in, username, password)
                except AdminError as error:
                    await admin.audit.arecord(
                        Actor(username[:64], "password", ""), "session.sign_in",
                        outcome=error.code, address=address)
                    raise
            else:
                raise BadRequest(
                    'Sign in with {"username": ..., "password": ...} or {"link": <the token of '
                    "a one-time sign-in link>}."
                )
        except AdminError as error:
            return error_response(error)
        except ClientDisconnect:
            return Response(status_code=400)
        session = started.session
        actor = Actor(session.username, session.via, session.role)
        await admin.audit.arecord(actor, "session.sign_in", address=address)
        return json_response(
            200, _session_view(actor, session.csrf_token, session.expires_at),
            {"Set-Cookie": auth.session_cookie(started)},
        )

    async def whoami(call: AdminCall) -> Any:
        token = call.request.cookies.get(SESSION_COOKIE)
        session = None
        if call.actor.via != "sigv4" and token:
            session = await run_in_threadpool(admin.accounts.session, token)
        return _session_view(call.actor, session.csrf_token if session else None,
                             session.expires_at if session else None)

    async def sign_out(call: AdminCall) -> Any:
        token = call.request.cookies.get(SESSION_COOKIE)
        if token:
            await run_in_threadpool(admin.accounts.sign_out, token)
        return {"signed_out": True}

    signed_out = endpoint(admin, auth, sign_out, action="session.sign_out")

    async def sign_out_route(request: Request) -> Response:
        response = await signed_out(request)
        if response.status_code == 200:
            response.headers.append("Set-Cookie", auth.clear_cookie())
        return response

    return [
        Route("/session", sign_in, methods=["POST"]),
        Route("/session", endpoint(admin, auth, whoami), methods=["GET"]),
        Route("/session", sign_out_route, methods=["DELETE"]),
    ]


# -- overview, buses, rules, sandbox -------------------------------------------------------------


def pipeline_routes(admin: AdminService, auth: AdminAuth) -> list[BaseRoute]:
    """Overview, buses, rules and the sandbox."""

    async def overview(call: AdminCall) -> Any:
        admin.history.start()
        return await run_in_threadpool(admin.overview)

    async def buses(call: AdminCall) -> Any:
        return {"buses": await run_in_threadpool(bus_list, admin.settings, admin.db, admin.log)}

    async def rules(call: AdminCall) -> Any:
        bus = call.query("bus") or None
        found = await run_in_threadpool(lambda: rule_list(admin.settings, admin.db, bus=bus))
        return {"rules": found}

    async def try_pattern(call: AdminCall) -> Any:
        doc = call.doc
        if "event" not in doc:
            raise BadRequest('The sandbox needs "event" (an event envelope) and "pattern" or '
                             '"rule".')
        rule = doc.get("rule")
        if rule is not None and not isinstance(rule, str):
            raise BadRequest('"rule" must be a rule name.')
        return await run_in_threadpool(
            lambda: sandbox(admin.settings, doc["event"], doc.get("pattern"), rule or None)
        )

    async def events(call: AdminCall) -> Any:
        bus = _bus(admin, call.param("bus"))
        pattern = parse_pattern(call.query("pattern"), "pattern parameter")
        limit = call.query_int("limit", 100, 1, 500)
        reader = admin.tails.reader(bus)
        if call.query("after") is None:
            newest = await run_in_threadpool(reader.cursor.newest)
            return {"events": [], "next_after": newest}
        after = call.query_int("after", 0, 0, 2**62)
        items, reached = await run_in_threadpool(reader.page, after, limit, pattern)
        return {"events": [orjson.Fragment(i.json) for i in items], "next_after": reached}

    return [
        Route("/overview", endpoint(admin, auth, overview), methods=["GET"]),
        Route("/buses", endpoint(admin, auth, buses), methods=["GET"]),
        Route("/rules", endpoint(admin, auth, rules), methods=["GET"]),
        Route("/sandbox", endpoint(admin, auth, try_pattern), methods=["POST"]),
        Route("/buses/{bus}/events", endpoint(admin, auth, events), methods=["GET"]),
        Route("/buses/{bus}/tail", TailStream(admin, auth), methods=["GET"]),
    ]


class TailStream:
    """``GET /admin/api/buses/{bus}/tail?pattern=...``: the live tail as server-sent events.

    Events: ``hello`` (``{"bus", "position", "pattern"}``, sent once the tail knows where it
    starts: every event appended after it arrives) once, then ``event`` (the tail item: position,
    envelope, matched rules and their targets; the SSE ``id`` is the position) and ``skipped``
    (``{"count": N}``: N events this reader will not see because it fell behind); a comment
    line every 15 s keeps proxies from closing a quiet stream.
    """

    def __init__(self, admin: AdminService, auth: AdminAuth) -> None:
        self.admin = admin
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            await self.auth.actor(request, b"")
            bus = _bus(self.admin, request.path_params["bus"])
            pattern = parse_pattern(request.query_params.get("pattern"), "pattern parameter")
        except AdminError as error:
            await error_response(error)(scope, receive, send)
            return
        subscriber = self.admin.tails.subscribe(bus, pattern)
        watcher = asyncio.ensure_future(_close_on_disconnect(receive, subscriber))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"),
            ]})
            # (closed first: the client went away, and the loop below ends at once)
            if await subscriber.wait_started():
                hello = orjson.dumps({"bus": bus, "position": subscriber.position,
                                      "pattern": pattern.source if pattern else None})
                await send({"type": "http.response.body",
                            "body": b"event: hello\ndata: " + hello + b"\n\n",
                            "more_body": True})
            async for message in subscriber.messages(KEEPALIVE_SECS):
                if message is None:
                    chunk = b": keepalive\n\n"
                elif isinstance(message, int):
                    count = orjson.dumps({"count": message})
                    chunk = b"event: skipped\ndata: " + count + b"\n\n"
                else:
                    data = "".join(f"data: {line}\n" for line in message.json.split("\n"))
                    chunk = f"event: event\nid: {message.position}\n{data}\n".encode()
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away mid-write
        finally:
            self.admin.tails.unsubscribe(subscriber)
            watcher.cancel()


async def _close_on_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close()
            return


def admin_app(admin: AdminService, auth: AdminAuth) -> SecurityHeaders:
    """The ``/admin/api`` application (mount it there)."""
    from clientevents.server.routes.admin_ops import ops_routes

    routes = [
        *session_routes(admin, auth),
        *pipeline_routes(admin, auth),
        *ops_routes(admin, auth),
    ]
    return SecurityHeaders(Router(routes))
