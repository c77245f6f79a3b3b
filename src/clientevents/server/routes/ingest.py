"""``POST /{stage}/event``: authenticate, validate, enrich and append a batch of client entries.

The hot path of the service. One request costs: a token check (cached by the authenticator),
a token-bucket step, one ``orjson.loads`` of the body and one per entry, and a single
``Publisher.put_details_async`` call (one group-committed write shared with concurrent requests).
The answer is PutEvents' ``{"FailedEntryCount", "Entries"}``, one result per entry in request
order; request-level problems are 4xx ``{"message"}`` answers (see ``docs/gateway.md``).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import Receive, Scope, Send

from clientevents.errors import StoreError
from clientevents.identity.principal import AuthError
from clientevents.logthrottle import LogThrottle
from clientevents.ratelimit import retry_after_header
from clientevents.server.body import (
    ClientDisconnected,
    check_json_content_type,
    header,
    read_body,
    send_json,
    send_rejection,
)
from clientevents.server.errors import RequestRejected
from clientevents.server.gateway import Gateway, Stage
from clientevents.server.validation import EntryError, parse_entries

logger = logging.getLogger("clientevents.server")
_THROTTLE = LogThrottle(logger)

#: The ``Retry-After`` of a 503 when the event log cannot store events (a full disk).
STORE_RETRY_AFTER_SECS = 5

SOURCE = "clientevents"

#: Publisher error codes kept as metric reasons; anything else counts as "publish_failed".
_PUBLISHER_REASONS = {
    "MalformedDetail": "malformed_detail",
    "InvalidArgument": "invalid_argument",
    "InternalFailure": "internal_failure",
    "ThrottlingException": "throttled",
}


class IngestEndpoint:
    """The ASGI endpoint behind ``POST /{stage}/event`` (no Request/Response objects)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.gateway
        stage_name = scope["path_params"]["stage"]
        stage = gateway.stages.get(stage_name)
        try:
            if stage is None:
                raise RequestRejected(
                    404,
                    f"There is no stage named {stage_name[:64]!r}; configured stages: "
                    f"{', '.join(sorted(gateway.stages)) or 'none'}.",
                    reason="unknown_stage",
                )
            result = await self._ingest(stage, scope, receive)
        except RequestRejected as error:
            gateway.metrics.rejected_requests.labels(
                stage_name if stage is not None else "unknown", error.reason
            ).inc()
            await send_rejection(send, error)
            return
        except ClientDisconnected:
            return
        await send_json(send, 200, result)

    async def _ingest(self, stage: Stage, scope: Scope, receive: Receive) -> dict[str, Any]:
        gateway = self.gateway
        metrics = gateway.metrics
        raw_auth = header(scope, b"authorization")
        try:
            principal = await gateway.authenticator.authenticate(
                None if raw_auth is None else raw_auth.decode("latin-1")
            )
        except AuthError as exc:
            metrics.auth_failures.labels(exc.reason).inc()
            raise RequestRejected(exc.status, exc.message, reason=exc.reason) from None
        client_id: str = principal.client_id
        scope["state"]["client_id"] = client_id
        if stage.allowed_issuers is not None and principal.issuer_name not in stage.allowed_issuers:
            metrics.auth_failures.labels("issuer_not_allowed").inc()
            raise RequestRejected(
                403,
                f"Tokens from issuer {principal.issuer_name!r} are not allowed on stage "
                f"{stage.name!r}.",
                reason="issuer_not_allowed",
            )
        if stage.limiter is not None:
            wait = stage.limiter.take(client_id)
            if wait > 0.0:
                metrics.rate_limited.labels(stage.name).inc()
                raise RequestRejected(
                    429,
                    f"Too many requests for this client on stage {stage.name!r}; "
                    f"retry after {wait:.2f} s.",
                    reason="rate_limited",
                    headers={"Retry-After": retry_after_header(wait)},
                )
        check_json_content_type(scope)
        body = await read_body(scope, receive, gateway.max_body_bytes)
        raw_entries = parse_entries(body, max_entries=gateway.max_entries)
        return await self._publish(stage, client_id, raw_entries)

    async def _publish(
        self, stage: Stage, client_id: str, raw_entries: list[Any]
    ) -> dict[str, Any]:
        gateway = self.gateway
        validator = gateway.validator
        results: list[dict[str, Any] | None] = []
        errors: list[EntryError | None] = []
        details: list[dict[str, Any]] = []
        for raw in raw_entries:
            checked = validator.check(raw)
            if isinstance(checked, EntryError):
                results.append(checked.result())
                errors.append(checked)
            else:
                results.append(None)
                errors.append(None)
                details.append(checked)
        published: list[dict[str, Any]] = []
        if details:
            try:
                # The events of one request share Source, DetailType, Resources and the bus:
                # the publisher renders those once and encodes each parsed detail once.
                answer = await gateway.publisher.put_details_async(
                    details,
                    source=SOURCE,
                    detail_type=stage.environment,
                    resources=[client_id],
                    bus=stage.bus,
                )
            except StoreError as exc:
                # Nothing of the request was stored: one 503 for the request (the answer names
                # no path), and the log holds one line per outage interval, not per request.
                _THROTTLE.error("append", "Appending to the event log failed. error=%s", exc)
                raise RequestRejected(
                    503,
                    "The event log cannot store events right now; nothing was accepted. "
                    f"Retry after {STORE_RETRY_AFTER_SECS} s.",
                    reason="store_unavailable",
                    headers={"Retry-After": str(STORE_RETRY_AFTER_SECS)},
                ) from None
            published = answer["Entries"]
            if len(published) == len(raw_entries) and not answer["FailedEntryCount"]:
                # The common case: every entry valid and stored; the answer is the publisher's.
                gateway.metrics.count_entries(stage.name, "accepted", "ok", len(published))
                return {"FailedEntryCount": 0, "Entries": published}
        failed = 0
        accepted = 0
        reasons: dict[str, int] = {}
        it = iter(published)
        merged: list[dict[str, Any]] = []
        for result, error in zip(results, errors, strict=True):
            if result is None:
                result = next(it)
                if "EventId" in result:
                    accepted += 1
                else:
                    code = str(result.get("ErrorCode"))
                    reason = _PUBLISHER_REASONS.get(code, "publish_failed")
                    reasons[reason] = reasons.get(reason, 0) + 1
                    failed += 1
            else:
                assert error is not None
                reasons[error.reason] = reasons.get(error.reason, 0) + 1
                failed += 1
            merged.append(result)
        metrics = gateway.metrics
        if accepted:
            metrics.count_entries(stage.name, "accepted", "ok", accepted)
        for reason, count in reasons.items():
            metrics.count_entries(stage.name, "rejected", reason, count)
        return {"FailedEntryCount": failed, "Entries": merged}
