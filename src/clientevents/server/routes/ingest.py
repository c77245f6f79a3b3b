"""``POST /{stage}/event``: authenticate, validate, enrich and append a batch of client entries.

The hot path of the service. One request costs: a token check (cached by the authenticator),
a token-bucket step, one ``orjson.loads`` of the body and one per entry, and a single
``Publisher.put_details_async`` call, which stores the request's accepted entries, as they
arrived, as one log record (one group-committed write shared with concurrent requests; the
workers build the events' envelopes). The answer is PutEvents' ``{"FailedEntryCount",
"Entries"}``, one result per entry in request order; request-level problems are 4xx
``{"message"}`` answers (see ``docs/gateway.md``).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from clientevents.errors import StoreError
from clientevents.events.entries import EntryError as PublishError
from clientevents.identity.principal import AuthError
from clientevents.logthrottle import LogThrottle
from clientevents.ratelimit import retry_after_header
from clientevents.server.body import (
    ClientDisconnected,
    check_json_content_type,
    header,
    read_body,
    send_json,
    send_json_bytes,
    send_rejection,
)
from clientevents.server.errors import (
    STORE_RETRY_AFTER_SECS,
    RequestRejected,
    is_store_outage,
)
from clientevents.server.gateway import Gateway, Stage
from clientevents.server.validation import EntryError, parse_entries

logger = logging.getLogger("clientevents.server")
_THROTTLE = LogThrottle(logger)


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
        validator = gateway.validator
        # (longest text, longest text that cannot nest too deep, depth limit) of entries the
        # validator would accept after parsing them alone; None when schemas apply.
        self._plain: tuple[int, int, int] | None = (
            None if validator.has_schemas else
            (validator.max_entry_bytes, 2 * validator.max_depth + 1, validator.max_depth)
        )

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
            try:
                result = await self._ingest(stage, scope, receive)
            except Exception as exc:
                # Authentication reads the user's state from the store: an outage there is
                # a 503 with Retry-After too, not a 500.
                if not is_store_outage(exc):
                    raise
                _THROTTLE.error("read", "Reading the store failed. error=%s", exc)
                raise RequestRejected(
                    503,
                    "The store cannot serve this request right now; nothing was accepted. "
                    f"Retry after {STORE_RETRY_AFTER_SECS} s.",
                    reason="store_unavailable",
                    headers={"Retry-After": str(STORE_RETRY_AFTER_SECS)},
                ) from None
        except RequestRejected as error:
            gateway.metrics.rejected_requests.labels(
                stage_name if stage is not None else "unknown", error.reason
            ).inc()
            await send_rejection(send, error)
            return
        except ClientDisconnected:
            return
        if type(result) is bytes:
            await send_json_bytes(send, 200, result)
        else:
            await send_json(send, 200, result)

    async def _ingest(
        self, stage: Stage, scope: Scope, receive: Receive
    ) -> dict[str, Any] | bytes:
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
        limiter = stage.limiter
        if limiter is not None or stage.shared_limiter is not None:
            wait = (limiter.take(client_id) if limiter is not None
                    else await stage.shared_limiter.take(client_id))  # type: ignore[union-attr]
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
    ) -> dict[str, Any] | bytes:
        gateway = self.gateway
        check = gateway.validator.check
        plain = self._plain
        details: list[dict[str, Any]] = []
        texts: list[str | None] = []
        refused: dict[int, EntryError] | None = None  # request index -> its error
        for index, raw in enumerate(raw_entries):
            # Hot path: ASCII text within the size limit, too short or with too few brackets
            # to nest past the depth limit, no schemas: the validator would only parse it.
            if (
                plain is not None
                and type(raw) is str
                and len(raw) <= plain[0]
                and raw.isascii()
                and (len(raw) <= plain[1] or raw.count("{") + raw.count("[") <= plain[2])
            ):
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    parsed = None
                if type(parsed) is dict:
                    details.append(parsed)
                    texts.append(raw)
                    continue
            checked = check(raw)
            if isinstance(checked, EntryError):
                if refused is None:
                    refused = {}
                refused[index] = checked
            else:
                details.append(checked)
                texts.append(raw if type(raw) is str else None)
        published: list[str | PublishError] = []
        if details:
            try:
                # The events of one request share Source, DetailType, Resources and the bus:
                # the publisher stores them as one record, the details as they arrived.
                published = await gateway.publisher.append_details(
                    details,
                    source=SOURCE,
                    detail_type=stage.environment,
                    resources=[client_id],
                    bus=stage.bus,
                    texts=texts,
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
            if refused is None and all(type(result) is str for result in published):
                # The common case: every entry valid and stored.
                gateway.metrics.count_entries(stage.name, "accepted", "ok", len(published))
                return accepted_answer(published)  # type: ignore[arg-type]
        failed = 0
        accepted = 0
        reasons: dict[str, int] = {}
        it = iter(published)
        merged: list[dict[str, Any]] = []
        for index in range(len(raw_entries)):
            error = refused.get(index) if refused is not None else None
            if error is not None:
                reasons[error.reason] = reasons.get(error.reason, 0) + 1
                failed += 1
                merged.append(error.result())
                continue
            result = next(it)
            if type(result) is str:
                accepted += 1
                merged.append({"EventId": result})
            else:
                assert isinstance(result, PublishError)
                reason = _PUBLISHER_REASONS.get(result.code, "publish_failed")
                reasons[reason] = reasons.get(reason, 0) + 1
                failed += 1
                merged.append({"ErrorCode": result.code, "ErrorMessage": result.message})
        metrics = gateway.metrics
        if accepted:
            metrics.count_entries(stage.name, "accepted", "ok", accepted)
        for reason, count in reasons.items():
            metrics.count_entries(stage.name, "rejected", reason, count)
        return {"FailedEntryCount": failed, "Entries": merged}


def accepted_answer(event_ids: list[str]) -> bytes:
    """PutEvents' answer when every entry was accepted, as JSON bytes: the bytes
    ``orjson.dumps({"FailedEntryCount": 0, "Entries": [{"EventId": id}, ...]})`` gives, without
    building the dicts first. The ids are the publisher's UUIDs: nothing in them needs
    escaping."""
    ids = '"},{"EventId":"'.join(event_ids)
    return f'{{"FailedEntryCount":0,"Entries":[{{"EventId":"{ids}"}}]}}'.encode()
