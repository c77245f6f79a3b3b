"""An async client of the blueprint's ingest API: ``POST /{stage}/event``.

The body is ``{"entries": [{"entry": "<JSON text>"}, ...]}``; the token goes in
``Authorization`` as it is, without ``Bearer`` (as the blueprint's clients send it, and as
API Gateway's token authorizer takes it; clientevents accepts both forms).

Example::

    ingest = IngestClient("http://127.0.0.1:8080/prod/event", http)
    answer = await ingest.send(tokens.access_token, ['{"eventType": "searching", ...}'])
    answer.accepted, answer.error_codes()
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

__all__ = ["IngestAnswer", "IngestClient"]


@dataclass(frozen=True, slots=True)
class IngestAnswer:
    """One request's outcome.

    Attributes:
        status: the HTTP status, or 0 when there was no answer (``transport_error`` says why).
        entries: the per-entry results of a 200 (``{"EventId"}`` or ``{"ErrorCode", ...}``).
        message: the ``message`` of a request-level error answer.
    """

    status: int
    sent: int
    entries: tuple[dict[str, Any], ...] = ()
    message: str = ""
    transport_error: str = ""

    @property
    def accepted(self) -> int:
        """Entries the server stored (they have an ``EventId``)."""
        return sum(1 for e in self.entries if "EventId" in e)

    def error_codes(self) -> Counter[str]:
        """Rejected entries by error code: per-entry ``ErrorCode`` for a 200, otherwise every
        sent entry under ``HTTP <status>`` (or the transport error's kind)."""
        if self.status == 200:
            return Counter(str(e.get("ErrorCode", "Unknown")) for e in self.entries
                           if "EventId" not in e)
        key = f"HTTP {self.status}" if self.status else self.transport_error or "NoAnswer"
        return Counter({key: self.sent})


class IngestClient:
    """Send entries to one ingest URL through a shared httpx client."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self.http = http

    async def send(self, token: str, entries: Sequence[str]) -> IngestAnswer:
        """POST ``entries`` (each the JSON text of one entry) with ``token``; never raises for
        HTTP or connection failures (they are in the answer)."""
        body = orjson.dumps({"entries": [{"entry": text} for text in entries]})
        try:
            response = await self.http.post(
                self.url, content=body,
                headers={"Authorization": token, "Content-Type": "application/json"},
            )
        except httpx.TimeoutException:
            return IngestAnswer(0, len(entries), transport_error="Timeout")
        except httpx.HTTPError as exc:
            return IngestAnswer(0, len(entries), transport_error=type(exc).__name__)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            data = None
        if response.status_code == 200 and isinstance(data, dict) and isinstance(
            data.get("Entries"), list
        ):
            results = tuple(e if isinstance(e, dict) else {} for e in data["Entries"])
            return IngestAnswer(200, len(entries), results)
        message = str(data.get("message", "")) if isinstance(data, dict) else ""
        status = response.status_code if response.status_code != 200 else 502
        return IngestAnswer(status, len(entries), message=message)
