"""uvicorn's httptools protocol with a header read timeout (uvicorn has none of its own).

uvicorn closes a keep-alive connection that stays idle after an answer, but a connection that
sends part of a request's headers and then nothing stays open for ever. This protocol arms a
timer when the connection opens and when each request begins, and closes the connection if the
headers are not complete when it fires (see :mod:`clientevents.server.connlimits`). The idle
time between requests is bounded by uvicorn's keep-alive timeout, set to the same value.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["header_timeout_protocol"]


class _HeaderTimeoutProtocol(HttpToolsProtocol):
    header_read_timeout_secs: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(
            self.header_read_timeout_secs, self._header_timeout
        )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(header_read_timeout_secs: float) -> type[Any]:
    """An httptools protocol class that closes connections slow to send their headers."""
    return type(
        "HeaderTimeoutHttpToolsProtocol",
        (_HeaderTimeoutProtocol,),
        {"header_read_timeout_secs": header_read_timeout_secs},
    )
