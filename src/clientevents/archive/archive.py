"""Archives, as the API sees them: list, describe (with event count and size), read copies.

The configuration defines archives (``archives:``); the workers' :class:`Archiver` fills them.
:class:`Archives` answers in EventBridge's shapes (``ListArchives``, ``DescribeArchive``) from
any process that opens the database, e.g. the command line while the service runs.

Example::

    archives = Archives(db, settings)
    info = archives.describe("client_event_archive")
    info.event_count, info.size_bytes      # kept exact in the archiver's transactions
    info.to_dict()                         # {"ArchiveName": ..., "State": "ENABLED", ...}
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from clientevents.archive.errors import ResourceNotFound
from clientevents.archive.schema import SCHEMA, archive_arn, bus_arn, format_timestamp
from clientevents.config.model import ArchiveConfig, Settings
from clientevents.errors import StoreError
from clientevents.store.port import SqlConnection, StateStore

if TYPE_CHECKING:
    from clientevents.archive.streams import ArchiveStreams
    from clientevents.log.port import EventLogPort

__all__ = ["ArchiveInfo", "ArchivedEvent", "Archives", "archive_name_of"]

logger = logging.getLogger(__name__)

ENABLED = "ENABLED"
"""An archive the workers have registered and fill."""
CREATING = "CREATING"
"""A configured archive no worker has registered yet (no worker ran with this configuration)."""


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """One archive: its configuration, its state and its contents' count and size.

    ``creation_time`` is when the workers first registered it (None before); ``size_bytes`` is
    the UTF-8 size of the archived envelopes.
    """

    name: str
    arn: str
    bus: str
    event_source_arn: str
    description: str
    event_pattern: dict[str, Any] | None
    retention_days: int
    state: str
    creation_time: float | None
    event_count: int
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The ``DescribeArchive`` answer (times as RFC 3339 text)."""
        answer: dict[str, Any] = {
            "ArchiveArn": self.arn,
            "ArchiveName": self.name,
            "EventSourceArn": self.event_source_arn,
            "Description": self.description,
            "State": self.state,
            "RetentionDays": self.retention_days,
            "SizeBytes": self.size_bytes,
            "EventCount": self.event_count,
            "CreationTime": format_timestamp(self.creation_time),
        }
        if self.event_pattern is not None:
            answer["EventPattern"] = orjson.dumps(self.event_pattern).decode()
        return answer


@dataclass(frozen=True, slots=True)
class ArchivedEvent:
    """One archived copy: the log ``seq`` it came from, its id, times and envelope JSON."""

    seq: int
    event_id: str
    time: float
    ingested_at: float
    body: str


def archive_name_of(value: str) -> str:
    """The archive name in ``value``: a name, or an archive ARN (``...:archive/<name>``)."""
    if value.startswith("arn:") and ":archive/" in value:
        return value.rpartition(":archive/")[2]
    return value


class Archives:
    """The configured archives and what they hold.

    Args:
        db: the shared database.
        settings: the configuration whose ``archives`` are listed.
        log: the event log; with a JetStream log the archives are its archive streams, and
            the counts and sizes are the streams' (``archives_state`` when a stream cannot
            be read).
    """

    def __init__(
        self, db: StateStore, settings: Settings, *, log: EventLogPort | None = None
    ) -> None:
        self.db = db
        db.ensure_schema(SCHEMA)
        self.settings = settings
        self._configs = {cfg.name: cfg for cfg in settings.archives}
        self.streams: ArchiveStreams | None = None
        from clientevents.log.jetstream import JetStreamEventLog

        if isinstance(log, JetStreamEventLog):
            from clientevents.archive.streams import ArchiveStreams

            self.streams = ArchiveStreams(log)

    def config(self, name: str) -> ArchiveConfig:
        """The configuration of archive ``name`` (a name or an archive ARN).

        Raises:
            ResourceNotFound: no archive of that name is configured.
        """
        cfg = self._configs.get(archive_name_of(name))
        if cfg is None:
            known = ", ".join(sorted(self._configs)) or "none"
            raise ResourceNotFound(
                f"Archive {name!r} does not exist (configured archives: {known}). "
                "Define it under 'archives' in the configuration."
            )
        return cfg

    def list(self, *, bus: str | None = None, name_prefix: str | None = None) -> list[ArchiveInfo]:
        """Every configured archive (of ``bus``; whose name starts with ``name_prefix``)."""
        states = self.db.read(_states)
        return [
            self._info(cfg, states.get(cfg.name))
            for cfg in self.settings.archives
            if (bus is None or cfg.bus == bus)
            and (name_prefix is None or cfg.name.startswith(name_prefix))
        ]

    def describe(self, name: str) -> ArchiveInfo:
        """Archive ``name`` with its event count and size.

        Raises:
            ResourceNotFound: no archive of that name is configured.
        """
        cfg = self.config(name)
        return self._info(cfg, self.db.read(_states).get(cfg.name))

    def stats(self, name: str) -> tuple[int, int]:
        """``(event_count, size_bytes)`` of archive ``name``."""
        info = self.describe(name)
        return info.event_count, info.size_bytes

    def events(
        self, name: str, *, start: float = 0.0, end: float = float("inf"), limit: int = 1000
    ) -> builtins.list[ArchivedEvent]:
        """Up to ``limit`` copies of archive ``name`` with event time in ``[start, end)``, in
        event-time order (of an archive stream: minute by minute, in archive order within a
        minute)."""
        cfg = self.config(name)
        if self.streams is not None:
            from clientevents.archive.streams import minute_of

            scan = self.streams.scan(cfg.name, start, end, minute=minute_of(start), seq=0,
                                     limit=limit)
            events = list(scan.events)
            while len(events) < limit and not scan.exhausted:
                scan = self.streams.scan(cfg.name, start, end, minute=scan.minute,
                                         seq=scan.seq, limit=limit - len(events))
                events += scan.events
            return events
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT seq, event_id, time, ingested_at, body FROM archive_events "
                "WHERE archive = ? AND time >= ? AND time < ? ORDER BY time, seq LIMIT ?",
                (cfg.name, start, end, limit),
            ).fetchall()
        )
        return [ArchivedEvent(*row) for row in rows]

    def _info(self, cfg: ArchiveConfig, state: tuple[float, int, int] | None) -> ArchiveInfo:
        region, account = self.settings.region, self.settings.account
        created, count, size = state if state is not None else (None, 0, 0)
        if state is not None and self.streams is not None:
            try:
                stats = self.streams.stats(cfg.name)
            except StoreError as exc:
                logger.warning("Archive %s: its stream could not be read (%s); the counts "
                               "are the state store's.", cfg.name, exc)
                stats = None
            if stats is not None:
                count, size = stats
        return ArchiveInfo(
            name=cfg.name,
            arn=archive_arn(region, account, cfg.name),
            bus=cfg.bus,
            event_source_arn=bus_arn(region, account, cfg.bus),
            description=cfg.description,
            event_pattern=cfg.event_pattern,
            retention_days=cfg.retention_days,
            state=ENABLED if state is not None else CREATING,
            creation_time=created,
            event_count=count,
            size_bytes=size,
        )


def _states(conn: SqlConnection) -> dict[str, tuple[float, int, int]]:
    rows = conn.execute(
        "SELECT archive, created_at, event_count, size_bytes FROM archives_state"
    ).fetchall()
    return {
        str(name): (float(created), int(count), int(size)) for name, created, count, size in rows
    }
