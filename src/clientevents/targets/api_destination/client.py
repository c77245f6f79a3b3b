"""The HTTP client of one API destination: pooled, guarded, HTTP/2 when the server offers it.

One ``httpx.AsyncClient`` per destination (shared by every rule target that calls it): up to
``concurrency`` connections, kept alive between calls (HTTP/1.1), or one HTTP/2 connection
multiplexing the calls when a TLS server offers ``h2`` through ALPN. Proxy settings of the
environment are ignored (``trust_env=False``): a destination is reached directly, so the
address policy judges the address actually connected to. Redirects are followed by the target
itself (:mod:`.target`), hop by hop, not by the client.

httpx logs every request at INFO, with its URL (a query string may hold a connection's
secret parameters) and at a cost per call; its loggers are held at WARNING once a
destination's client is built, and the target logs what matters itself.
"""

from __future__ import annotations

import importlib.util
import logging

import httpcore
import httpx

from clientevents.targets.api_destination.guard import AddressPolicy, GuardedBackend

__all__ = ["HTTP2_AVAILABLE", "GuardedTransport", "build_client"]

HTTP2_AVAILABLE = importlib.util.find_spec("h2") is not None
"""Whether the ``h2`` package is installed (``httpx[http2]``, a dependency of clientevents)."""


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose network backend enforces ``policy``.

    httpx does not take a network backend as an argument; the pool it built is replaced by an
    identical one with :class:`~.guard.GuardedBackend` (the request mapping and the error
    translation of ``AsyncHTTPTransport`` stay as they are).
    """

    def __init__(self, policy: AddressPolicy, *, limits: httpx.Limits, http2: bool) -> None:
        super().__init__(limits=limits, http1=True, http2=http2, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedBackend(policy),
        )


def build_client(
    policy: AddressPolicy, *, concurrency: int, timeout_secs: float
) -> httpx.AsyncClient:
    """The client of one destination (see the module docstring)."""
    for name in ("httpx", "httpcore"):
        quiet = logging.getLogger(name)
        if quiet.level < logging.WARNING:
            quiet.setLevel(logging.WARNING)
    limits = httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=30.0,
    )
    transport = GuardedTransport(policy, limits=limits, http2=HTTP2_AVAILABLE)
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout_secs),
        follow_redirects=False,
        trust_env=False,
    )
