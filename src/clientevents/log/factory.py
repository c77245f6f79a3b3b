"""Open the event log a deployment chose: ``sqlite`` (or ``postgres``: the same SQL on the
state store given), ``memory`` or ``jetstream``.

Example::

    log = open_log("jetstream", db, JetStreamOptions(servers=("nats://nats:4222",)))
"""

from __future__ import annotations

from typing import Literal

from clientevents.log.eventlog import EventLog
from clientevents.log.jetstream import JetStreamEventLog, JetStreamOptions
from clientevents.log.memory import MemoryEventLog
from clientevents.log.port import EventLogPort
from clientevents.store.engine import Database

__all__ = ["LogKind", "open_log"]

LogKind = Literal["sqlite", "postgres", "memory", "jetstream"]


def open_log(
    kind: str, store: Database, options: JetStreamOptions | None = None
) -> EventLogPort:
    """The event log of ``kind`` over the state store ``store``.

    ``sqlite`` and ``postgres`` keep the log in the state store itself (one transaction holds
    a consumer's work and its offset); ``jetstream`` connects to NATS with ``options`` (and
    raises :class:`~clientevents.errors.StoreError` when it cannot); ``memory`` lives in
    this process only.
    """
    if kind in ("sqlite", "postgres"):
        return EventLog(store)
    if kind == "memory":
        return MemoryEventLog(store)
    if kind == "jetstream":
        return JetStreamEventLog(store, options)
    raise ValueError(f"log must be sqlite, postgres, memory or jetstream, not {kind!r}.")
