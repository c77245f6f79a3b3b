"""What a slow or idle client may hold: the gateway's connection limits.

A client that opens a connection and never finishes its request headers (a "slowloris") costs
the server a connection slot until something closes it. Two settings bound that
(``server.header_read_timeout_secs`` and ``server.max_connections``):

- **header read timeout**: a connection whose request headers are not complete this long after
  it opened, or after the previous answer on it, is closed (so an idle keep-alive connection is
  closed after the same time);
- **connection limit**: at most this many connections are open at once; more wait in the
  kernel's listen backlog until one closes. It is set far above what honest clients need, so
  that an attacker must hold that many connections, each cut off after the timeout.

The limit is capped by the process's open-file limit, which :func:`connection_limits` first
raises to its hard maximum (each connection is a file descriptor).
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from clientevents.config.model import ServerSettings

__all__ = ["RESERVED_FILES", "ConnectionLimits", "connection_limits", "raise_open_files_limit"]

logger = logging.getLogger("clientevents.server")

RESERVED_FILES = 256
"""Descriptors kept back from connections: the database, log files, sockets to targets."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The limits handed to the HTTP server.

    Attributes:
        max_connections: most connections open at once.
        header_read_timeout_secs: see the module's docstring.
    """

    max_connections: int
    header_read_timeout_secs: float


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft open-file limit towards ``wanted`` (at most the hard limit).

    Returns the soft limit in force afterwards. Child processes inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("Could not raise the open-file limit. wanted=%d error=%s", target, exc)
    return soft if soft != resource.RLIM_INFINITY else wanted


def connection_limits(server: ServerSettings) -> ConnectionLimits:
    """The limits for ``server``, after raising the open-file limit to fit ``max_connections``."""
    wanted = server.max_connections
    files = raise_open_files_limit(wanted + RESERVED_FILES)
    allowed = max(1, min(wanted, files - RESERVED_FILES))
    if allowed < wanted:
        logger.warning(
            "The open-file limit allows fewer connections than server.max_connections; "
            "raise it (ulimit -n) to serve more. max_connections=%d allowed=%d open_files=%d",
            wanted, allowed, files,
        )
    return ConnectionLimits(
        max_connections=allowed, header_read_timeout_secs=server.header_read_timeout_secs
    )
