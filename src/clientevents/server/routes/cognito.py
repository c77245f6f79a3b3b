"""The user pool's HTTP face: Cognito's JSON API on ``POST /``, the JWKS and OpenID discovery.

``POST /`` with ``X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`` and
``Content-Type: application/x-amz-json-1.1`` runs one operation of
:mod:`clientevents.identity.cognito_api`. Answers are ``application/x-amz-json-1.1``; errors
are HTTP 400 with ``{"__type": ..., "message": ...}`` and the ``x-amzn-ErrorType`` /
``x-amzn-ErrorMessage`` headers, byte for byte the way Cognito sends them, so boto3 and the
aws CLI raise their usual exceptions. Admin operations are refused unless SigV4-signed with the
admin key.

``GET /{userPoolId}/.well-known/jwks.json`` and
``GET /{userPoolId}/.well-known/openid-configuration`` publish the signing keys and the issuer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from clientevents.identity.cognito_api import (
    ADMIN_OPERATIONS,
    RequestContext,
    call_operation,
    operation_name,
)
from clientevents.identity.errors import CognitoError
from clientevents.identity.keys import ALGORITHM
from clientevents.identity.sigv4 import SignedRequest, verify_sigv4
from clientevents.logthrottle import LogThrottle
from clientevents.server.errors import STORE_RETRY_AFTER_SECS, is_store_outage

if TYPE_CHECKING:
    from clientevents.identity.service import IdentityService
    from clientevents.identity.userpool import UserPool

__all__ = ["MAX_BODY_BYTES", "cognito_routes"]

logger = logging.getLogger("clientevents.identity")
_THROTTLE = LogThrottle(logger)

MAX_BODY_BYTES = 64 * 1024
"""Largest Cognito API request body accepted."""

CONTENT_TYPE = "application/x-amz-json-1.1"
_JSON_TYPES = ("application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _answer(body: dict[str, Any], request_id: str) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=200,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )


def _error(error: CognitoError, request_id: str) -> Response:
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type=CONTENT_TYPE,
        headers={
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": f"{error.error_type}:",
            "x-amzn-ErrorMessage": _HEADER_UNSAFE.sub("?", error.message)[:512],
        },
    )


def base_url(request: Request) -> str | None:
    """``scheme://host[:port]`` the client used, when the Host header is a plain host name."""
    host = request.headers.get("host", "")
    if not _HOST.match(host):
        return None
    return f"{request.url.scheme}://{host}"


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise CognitoError(
            "RequestEntityTooLargeException",
            f"The request body is larger than {MAX_BODY_BYTES} bytes.",
            status=413,
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise CognitoError(
                "RequestEntityTooLargeException",
                f"The request body is larger than {MAX_BODY_BYTES} bytes.",
                status=413,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CognitoError(
            "SerializationException", f"The request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise CognitoError("SerializationException", "The request body must be a JSON object.")
    return data


class CognitoEndpoint:
    """``POST /``: one Cognito operation per request."""

    def __init__(self, service: IdentityService, pool: UserPool) -> None:
        self.service = service
        self.pool = pool

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            name = operation_name(request.headers.get("x-amz-target"))
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in _JSON_TYPES:
                raise CognitoError(
                    "SerializationException",
                    f"Content-Type must be {CONTENT_TYPE}, not {content_type[:64]!r}.",
                )
            raw = await _read_body(request)
            body = _parse(raw)
            if name in ADMIN_OPERATIONS:
                self._check_signature(request, raw)
            ctx = RequestContext(base_url=base_url(request))
            result = await run_in_threadpool(call_operation, self.pool, name, body, ctx)
        except CognitoError as error:
            return _error(error, request_id)
        except ClientDisconnect:
            return Response(status_code=400)
        except Exception as exc:  # the API boundary: never a stack trace to the client
            if is_store_outage(exc):
                _THROTTLE.error("store", "A Cognito API request failed because the store "
                                "failed. error=%s", exc)
                response = _error(CognitoError(
                    "ServiceUnavailable", "The store cannot serve this request right now; "
                    f"retry after {STORE_RETRY_AFTER_SECS} s.", status=503), request_id)
                response.headers["Retry-After"] = str(STORE_RETRY_AFTER_SECS)
                return response
            logger.exception("Cognito API request %s failed.", request_id)
            return _error(
                CognitoError("InternalErrorException", "Internal error.", status=500), request_id
            )
        return _answer(result, request_id)

    def _check_signature(self, request: Request, raw: bytes) -> None:
        credentials = self.service.admin_credentials
        if credentials is None:  # pragma: no cover - set whenever the pool exists
            raise CognitoError("UnrecognizedClientException", "No admin key is configured.")
        signed = SignedRequest(
            method=request.method,
            path=request.url.path,
            query_string=request.url.query,
            headers=[(k.decode("latin-1").lower(), v.decode("latin-1"))
                     for k, v in request.scope["headers"]],
            body=raw,
        )
        verify_sigv4(signed, credentials, now=time.time())


def _issuer(pool: UserPool, request: Request) -> str:
    return pool.tokens.issuer(base_url(request))


def cognito_routes(service: IdentityService) -> list[BaseRoute]:
    """The routes of ``service``'s user pool (an empty list when the pool is disabled)."""
    pool = service.user_pool
    if pool is None:
        return []

    def unknown_pool(pool_id: str) -> Response:
        return JSONResponse(
            {"message": f"User pool {pool_id[:64]} does not exist."}, status_code=404
        )

    async def jwks(request: Request) -> Response:
        pool_id = request.path_params["pool_id"]
        if pool_id != pool.id:
            return unknown_pool(pool_id)
        document = await run_in_threadpool(pool.keys.jwks)
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    async def discovery(request: Request) -> Response:
        pool_id = request.path_params["pool_id"]
        if pool_id != pool.id:
            return unknown_pool(pool_id)
        issuer = _issuer(pool, request)
        return JSONResponse(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "id_token_signing_alg_values_supported": [ALGORITHM],
                "subject_types_supported": ["public"],
                "response_types_supported": ["token", "id_token"],
                "scopes_supported": ["openid", "email", "aws.cognito.signin.user.admin"],
                "claims_supported": [
                    "sub", "iss", "aud", "exp", "iat", "auth_time", "jti", "origin_jti",
                    "token_use", "client_id", "username", "cognito:username", "email",
                    "email_verified", "custom:clientId",
                ],
            },
            headers={"Cache-Control": "public, max-age=300"},
        )

    return [
        Route("/", CognitoEndpoint(service, pool).handle, methods=["POST"], name="cognito_api"),
        Route("/{pool_id}/.well-known/jwks.json", jwks, methods=["GET"], name="jwks"),
        Route(
            "/{pool_id}/.well-known/openid-configuration",
            discovery,
            methods=["GET"],
            name="openid_configuration",
        ),
    ]
