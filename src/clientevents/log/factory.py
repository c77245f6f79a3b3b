"""Open the event log a deployment chose: ``sqlite`` (or ``postgres``: the same SQL on the
state store given), ``memory`` or ``jetstream``.

Example::

    log = open_log("jetstream", db, JetStreamOptions(servers=("nats://nats:4222",)))
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from clientevents.log.eventlog import EventLog
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.memory import MemoryEventLog
from clientevents.log.port import EventLogPort
from clientevents.store.port import StateStore

__all__ = ["LogKind", "check_log", "configured_log", "jetstream_options", "open_log"]

LogKind = Literal["sqlite", "postgres", "memory", "jetstream"]


def open_log(
    kind: str, store: StateStore, options: JetStreamOptions | None = None, *,
    reads_only: bool = False,
) -> EventLogPort:
    """The event log of ``kind`` over the state store ``store``.

    ``sqlite`` and ``postgres`` keep the log in the state store itself (one transaction holds
    a consumer's work and its offset); ``jetstream`` connects to NATS with ``options`` (and
    raises :class:`~clientevents.errors.StoreError` when it cannot); ``memory`` lives in
    this process only. ``reads_only``: the caller only reads (no warning about how durable
    appends are).
    """
    if kind in ("sqlite", "postgres"):
        return EventLog(store)
    if kind == "memory":
        return MemoryEventLog(store)
    if kind == "jetstream":
        return JetStreamEventLog(store, options, reads_only=reads_only)
    raise ValueError(f"log must be sqlite, postgres, memory or jetstream, not {kind!r}.")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: object) -> float:
    """Seconds from a number or a duration text (``"2m"``, ``"30s"``, ``"500ms"``)."""
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(value).strip())
    if match is None:
        raise ValueError(f"A duration is a number of seconds or like 2m, 30s, 500ms: {value!r}.")
    return float(match.group(1)) * _UNITS[match.group(2)]


def jetstream_options(section: Any) -> JetStreamOptions:
    """:class:`JetStreamOptions` from the configuration's ``storage: jetstream:`` section
    (any object with its fields; absent ones keep their defaults)."""
    defaults = JetStreamOptions()
    servers = getattr(section, "servers", defaults.servers)
    return JetStreamOptions(
        servers=tuple(servers),
        stream_prefix=getattr(section, "stream_prefix", defaults.stream_prefix),
        replicas=int(getattr(section, "replicas", defaults.replicas)),
        storage=getattr(section, "storage", defaults.storage),
        max_age=_seconds(getattr(section, "max_age", defaults.max_age)),
        duplicate_window=_seconds(getattr(section, "duplicate_window",
                                          defaults.duplicate_window)),
        sync=getattr(section, "sync", defaults.sync),
        ack_wait=_seconds(getattr(section, "ack_wait", defaults.ack_wait)),
    )


def configured_log(settings: Any, store: StateStore, *, reads_only: bool = False) -> EventLogPort:
    """The event log ``settings.storage`` chooses (``log``, else the store's; a configuration
    without a ``storage`` section keeps the log in the state store); ``reads_only`` as for
    :func:`open_log`."""
    storage = getattr(settings, "storage", None)
    if storage is None:
        return EventLog(store)
    kind = getattr(storage, "log_backend", None) or getattr(storage, "log", None) or "sqlite"
    options = None
    if kind == "jetstream":
        options = jetstream_options(getattr(storage, "jetstream", None))
    return open_log(str(kind), store, options, reads_only=reads_only)


def check_log(settings: Any) -> str | None:
    """Whether the event log ``settings.storage`` chooses answers: ``None`` when it does (or
    lives in the state store, which :func:`clientevents.store.factory.check_store` checks),
    else what is wrong. For ``log: jetstream``: a NATS server of ``jetstream.servers`` takes a
    connection and has JetStream enabled. Changes nothing on the server."""
    storage = getattr(settings, "storage", None)
    kind = getattr(storage, "log_backend", None) or getattr(storage, "log", None)
    if storage is None or kind != "jetstream":
        return None
    options = jetstream_options(getattr(storage, "jetstream", None))
    return asyncio.run(_check_jetstream(options))


async def _quiet(_error: Exception) -> None:
    """nats-py's error callback: the check reports what failed itself."""


async def _check_jetstream(options: JetStreamOptions) -> str | None:
    import nats
    from nats.js.errors import Error as JetStreamError

    servers = ", ".join(options.servers)
    try:
        # nats-py gives up on the first connection only with reconnects allowed and a
        # positive limit (0 or allow_reconnect=False keep trying); one pass over the servers.
        client = await nats.connect(list(options.servers), connect_timeout=2,
                                    allow_reconnect=True, max_reconnect_attempts=1,
                                    reconnect_time_wait=0.1, error_cb=_quiet)
    except Exception as exc:  # nats-py raises several kinds for an unreachable server
        return f"NATS does not answer at {servers}: {str(exc) or type(exc).__name__}"
    try:
        await client.jetstream(timeout=min(5.0, options.timeout)).account_info()
    except (JetStreamError, TimeoutError, nats.errors.Error) as exc:
        return (f"NATS at {servers} answers but JetStream does not (is the server started "
                f"with JetStream enabled, -js?): {str(exc) or type(exc).__name__}")
    finally:
        await client.close()
    return None
