"""Who may call the admin API, and the headers every console and admin response carries.

Two ways in, checked on every request:

1. **A console session**: the ``__Host-clientevents-session`` cookie (HTTP-only,
   ``SameSite=Strict``, ``Secure``, ``Path=/``). Any method other than GET and HEAD must also
   send the session's CSRF token in ``X-CSRF-Token``, and, when the browser sends an
   ``Origin``, it must be this server's own. Browsers keep ``Secure`` cookies from
   ``http://127.0.0.1`` and ``http://localhost`` (loopback counts as a secure context), so
   the console works on plain HTTP on loopback; anywhere else it needs HTTPS in front.
2. **The admin key**: a request signed with AWS Signature Version 4 by the deployment's admin
   key pair (the one the Cognito admin operations use), with service name
   :data:`ADMIN_SERVICE` (``execute-api``, as for API Gateway's IAM authorization) and any
   region. It is an ``admin`` and needs no CSRF token (no ambient cookie is involved).

:class:`SecurityHeaders` wraps the console and the admin API: a strict Content-Security-Policy
(scripts, styles and connections only from this origin, no inline code, Trusted Types required
so no script can assign HTML, no framing), ``nosniff``, no referrer, and ``no-store`` caching
for the API.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clientevents.admin.accounts import ConsoleAccounts, NewSession
from clientevents.admin.audit import Actor
from clientevents.admin.errors import Forbidden, NotSignedIn
from clientevents.identity.errors import CognitoError
from clientevents.identity.sigv4 import Credentials, SignedRequest, verify_sigv4

__all__ = [
    "ADMIN_SERVICE",
    "CONTENT_SECURITY_POLICY",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AdminAuth",
    "SecurityHeaders",
]

ADMIN_SERVICE = "execute-api"
"""The SigV4 service name admin API requests are signed for."""

SESSION_COOKIE = "__Host-clientevents-session"
CSRF_HEADER = "x-csrf-token"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; "
    "trusted-types 'none'"
)

_SAFE_METHODS = frozenset({"GET", "HEAD"})
_SIGNATURE_401 = frozenset({
    "MissingAuthenticationTokenException", "IncompleteSignatureException",
    "UnrecognizedClientException",
})


class AdminAuth:
    """Authenticates admin API requests (a session or the admin key) and makes cookies.

    Args:
        accounts: console accounts and sessions.
        credentials: the admin key pair.
        clock: the time source for signature dates.
    """

    def __init__(
        self,
        accounts: ConsoleAccounts,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.credentials = credentials
        self.clock = clock

    def signed(self, request: Request) -> bool:
        """Whether the request carries a SigV4 ``Authorization`` header."""
        return request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256")

    def actor_from_signature(self, request: Request, body: bytes) -> Actor:
        """The admin key's actor, if the request's signature checks out.

        Raises:
            NotSignedIn: the signature is missing, incomplete or by an unknown key.
            Forbidden: the signature does not match (wrong secret, altered request, expired).
        """
        signed = SignedRequest(
            method=request.method,
            path=request.url.path,
            query_string=request.url.query,
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1"))
                     for k, v in request.scope["headers"]],
            body=body,
        )
        try:
            verify_sigv4(signed, self.credentials, now=self.clock(), service=ADMIN_SERVICE)
        except CognitoError as exc:
            message = f"The admin-key signature was refused ({exc.error_type}): {exc.message}"
            if exc.error_type in _SIGNATURE_401:
                raise NotSignedIn(message) from None
            raise Forbidden(message) from None
        return Actor(self.credentials.access_key_id, "sigv4", "admin")

    async def actor(self, request: Request, body: bytes) -> Actor:
        """Who sends ``request`` (whose whole body is ``body``).

        Raises:
            NotSignedIn: neither a live session nor a signature.
            Forbidden: a bad signature, or a state-changing call without the session's CSRF
                token or from another origin.
        """
        if self.signed(request):
            return self.actor_from_signature(request, body)
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise NotSignedIn(
                "Sign in to the console first, or sign the request with the admin key "
                f"(AWS Signature Version 4, service {ADMIN_SERVICE!r})."
            )
        session = await run_in_threadpool(self.accounts.session, token)
        if session is None:
            raise NotSignedIn("The console session has ended or is not valid; sign in again.")
        if request.method not in _SAFE_METHODS:
            self.check_origin(request)
            given = request.headers.get(CSRF_HEADER, "")
            if not given or not hmac.compare_digest(
                given.encode("utf-8", "surrogateescape"), session.csrf_token.encode("ascii")
            ):
                raise Forbidden(
                    "The X-CSRF-Token header is missing or does not match this session's "
                    "token (GET /admin/api/session returns it); the change was not made."
                )
        return Actor(session.username, session.via, session.role)

    @staticmethod
    def check_origin(request: Request) -> None:
        """Refuse a browser request whose ``Origin`` is not this server."""
        origin = request.headers.get("origin")
        if origin is None:
            return
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            raise Forbidden(
                f"A state-changing console call must come from the console's own origin "
                f"{own!r}, not {origin[:100]!r}."
            )

    def session_cookie(self, started: NewSession) -> str:
        """The ``Set-Cookie`` value that holds a new session."""
        max_age = max(0, int(started.session.expires_at - self.clock()))
        return (f"{SESSION_COOKIE}={started.token}; Max-Age={max_age}; Path=/; Secure; "
                "HttpOnly; SameSite=Strict")

    @staticmethod
    def clear_cookie() -> str:
        """The ``Set-Cookie`` value that removes the session cookie."""
        return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"


_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the security headers to every response of the app it wraps (errors included).

    An ``HTTPException`` raised inside (an unknown path, a wrong method) is answered here as
    ``{"code", "message"}`` JSON, so even those answers carry the headers.
    """

    def __init__(self, app: ASGIApp, *, cache: bytes = b"no-store") -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        cache = self.cache

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                if not any(h[0] == b"cache-control" for h in headers):
                    headers.append((b"cache-control", cache))
                headers.extend(_SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except HTTPException as exc:
            if started:
                raise
            await _send_error(with_headers, scope, exc)


async def _send_error(send: Send, scope: Scope, exc: HTTPException) -> None:
    method, path = scope.get("method", ""), scope.get("path", "")[:200]
    if exc.status_code == 404:
        message = f"There is no route for {method} {path}."
        code = "NotFound"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"Method {method[:20]} is not allowed on {path}; use {allowed or 'another'}."
        code = "MethodNotAllowed"
    else:
        message, code = str(exc.detail), "BadRequest"
    body = orjson.dumps({"code": code, "message": message})
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode("ascii"))]
    for key, value in (exc.headers or {}).items():
        headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
