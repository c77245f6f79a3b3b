"""The archiver: copies each archive's matching events out of the log and trims expired copies.

Every configured archive is a consumer group ``archive:<name>`` of its bus's log (through the
event-log port, :mod:`clientevents.log.port`). A pass fetches the group's next batch, keeps the
events that match the archive's event pattern (every event when it has none) and were not put
on the bus by a replay (EventBridge never archives replayed events), and commits the batch with
a write that inserts them into ``archive_events`` (one row per archive and log position, so a
repeat is ignored) and adds them to the archive's count and size. The consumer commit marks the
batch consumed in the same transaction (or, on JetStream, records its hand-off there and then
acknowledges it): a crash before the commit archives the batch again; a crash after it never
copies it twice.

With a JetStream event log each archive is a stream of its own
(:mod:`clientevents.archive.streams`): a pass publishes the kept events there and awaits the
acknowledgements before the consumer commit (which then only adds to the count and size), the
stream's ``max_age`` is the retention (the trim pass copies the stream's count and size into
``archives_state``), and an archive removed from the configuration has its stream deleted.

Registration: when the archiver is built (before any worker runs) each archive seen for the
first time gets its ``archives_state`` row and commits its starting offset, the router's
position on the bus (0 when the bus was never routed). From then on the log's retention
(``clientevents.log.retention``) never deletes an event this archive has not read: it deletes
only what every consumer group has passed. A new archive therefore keeps every event its bus
had not yet routed when the archive appeared, and every later one. An archive removed from the
configuration has its consumer offset dropped at the next start (with a warning naming it), so
it no longer holds the log's retention back; its archived copies stay in ``archive_events``, and
an archive of that name added again starts from the router's position at that time.

Retention: an archive with ``retention_days > 0`` deletes copies whose *ingestion* time is more
than that many days old (the time they reached the bus, so the age of a copy in the archive),
in chunks of :data:`TRIM_CHUNK` rows, every ``trim_interval_secs``. Ingestion time, not the
event's ``time``: a producer may set ``Time`` far in the past, and such an event would
otherwise be deleted as soon as it is archived.

Example::

    archiver = Archiver(db, settings)      # registers new archives
    archiver.archive_pass()                # tests: one batch of every bus
    archiver.trim_once()                   # tests: delete expired copies
    await archiver.run(stop)               # workers: until stop is set
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from clientevents.archive.archive import ArchivedEvent
from clientevents.archive.schema import SCHEMA, archive_group
from clientevents.archive.streams import ArchiveStreams
from clientevents.config.model import ArchiveConfig, Settings
from clientevents.errors import Conflict
from clientevents.log.eventlog import EventLog, LogRecord
from clientevents.log.jetstream import POSITION_BITS, JetStreamEventLog
from clientevents.log.port import EventLogPort, LogConsumer
from clientevents.log.retention import ROUTER_GROUP
from clientevents.logthrottle import LogThrottle
from clientevents.patterns import EventPattern
from clientevents.store.port import SqlConnection, StateStore, execute_late

__all__ = ["DAY_SECS", "TRIM_CHUNK", "Archiver"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

DAY_SECS = 86_400.0
TRIM_CHUNK = 5_000
"""Most copies one trim write deletes."""

ArchiveRow = tuple[str, int, str, float, float, str]

_CLOCK_SLACK_SECS = 5.0
"""Seconds the clocks of workers and servers may differ by."""


@dataclass(slots=True)
class _Archive:
    name: str
    bus: str
    group: str
    pattern: EventPattern | None
    retention_secs: float
    retention_days: int


def _build(cfg: ArchiveConfig) -> _Archive:
    pattern = None if cfg.event_pattern is None else EventPattern(cfg.event_pattern)
    return _Archive(
        name=cfg.name,
        bus=cfg.bus,
        group=archive_group(cfg.name),
        pattern=pattern,
        retention_secs=cfg.retention_days * DAY_SECS,
        retention_days=cfg.retention_days,
    )


class Archiver:
    """Fills and trims every configured archive.

    Args:
        db: the shared database.
        settings: the ``archives`` to keep.
        batch_size: most log events one archive reads per write.
        poll_interval_secs: how often an idle archiver looks for new events.
        trim_interval_secs: seconds between retention passes of :meth:`run`.
        clock: the time source (epoch seconds) for retention and ``CreationTime``.
        log: the event log (default: the SQL log in ``db``).
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        *,
        batch_size: int = 500,
        poll_interval_secs: float = 0.05,
        trim_interval_secs: float = 300.0,
        clock: Callable[[], float] = time.time,
        log: EventLogPort | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        self.db = db
        db.ensure_schema(SCHEMA)
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.streams: ArchiveStreams | None = (
            ArchiveStreams(self.log) if isinstance(self.log, JetStreamEventLog) else None
        )
        self._consumers: dict[str, LogConsumer] = {}
        self.batch_size = batch_size
        self.poll_interval_secs = poll_interval_secs
        self.trim_interval_secs = trim_interval_secs
        self.clock = clock
        self.archives = [_build(cfg) for cfg in settings.archives]
        self._register()

    # -- registration ----------------------------------------------------------------------

    def _register(self) -> None:
        now = self.clock()

        def states(conn: SqlConnection) -> None:
            for archive in self.archives:
                conn.execute(
                    "INSERT INTO archives_state (archive, bus, created_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (archive) DO UPDATE SET bus = excluded.bus",
                    (archive.name, archive.bus, now),
                )

        self.db.write(states)
        _drop_stale_groups(self.log, {(a.group, a.bus) for a in self.archives})
        if self.streams is not None:
            self._drop_stale_streams(self.streams)
        for archive in self.archives:
            if self.streams is not None:
                self.streams.ensure(archive.name, archive.retention_days)
            start = self.log.offset(ROUTER_GROUP, archive.bus)
            if self.log.ensure_group(archive.group, archive.bus, start):
                logger.info(
                    "Archive registered. archive=%s bus=%s start_seq=%d",
                    archive.name, archive.bus, start,
                )

    def _drop_stale_streams(self, streams: ArchiveStreams) -> None:
        """Delete the streams (and ``archives_state`` rows) of archives no longer configured:
        with ``log: jetstream`` removing an archive from the configuration deletes it."""
        dropped = streams.drop_unconfigured(a.name for a in self.archives)
        if not dropped:
            return
        self.db.write(lambda conn: conn.executemany(
            "DELETE FROM archives_state WHERE archive = ?", [(name,) for name in dropped]
        ))
        for name in dropped:
            logger.warning(
                "Archive %s is no longer configured; its JetStream stream and its events "
                "are deleted.", name,
            )

    # -- copying ---------------------------------------------------------------------------

    async def archive_once(self) -> int:
        """One batch of every archive (in a thread); return how many log events were read."""
        return await asyncio.to_thread(self.archive_pass)

    def archive_pass(self) -> int:
        """Blocking :meth:`archive_once`."""
        return sum(self.archive_batch(archive) for archive in self.archives)

    def archive_batch(self, archive: _Archive) -> int:
        """Copy the next batch of ``archive``'s bus; return how many events it read."""
        consumer = self._consumers.get(archive.name)
        if consumer is None:
            consumer = self._consumers[archive.name] = self.log.consumer(
                archive.bus, archive.group
            )
        fetched = consumer.fetch(self.batch_size)
        records = fetched.records
        if not records:
            return 0
        rows = self._select(archive, records)
        size = sum(len(row[5].encode()) for row in rows)
        streams = self.streams
        if streams is not None and rows:
            # Downstream first: the archive's stream holds the events (de-duplicated by event
            # id) before the hand-off commits and the bus messages are acknowledged.
            copies = [ArchivedEvent(*row[1:]) for row in rows]
            stale = self._stale_redeliveries(fetched.token)
            doubtful = [c for c in copies if c.seq >> POSITION_BITS in stale]
            if doubtful:
                # Fetched again after a failed hand-off, too late for the stream's
                # de-duplication window: store only what the first attempt did not.
                held = streams.held_since(archive.name, doubtful,
                                          since=min(stale.values()) - _CLOCK_SLACK_SECS)
                copies = [c for c in copies if c.event_id not in held]
            streams.store(archive.name, archive.retention_days, copies)

        def commit(conn: SqlConnection) -> None:
            if rows and streams is not None:
                conn.execute(
                    "UPDATE archives_state SET event_count = event_count + ?, "
                    "size_bytes = size_bytes + ? WHERE archive = ?",
                    (len(rows), size, archive.name),
                )
            elif rows:
                conn.executemany(
                    "INSERT INTO archive_events "
                    "(archive, seq, event_id, time, ingested_at, body) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (archive, seq) DO NOTHING",
                    rows,
                )
                execute_late(
                    conn, ("archives_state", archive.name),
                    "UPDATE archives_state SET event_count = event_count + ?, "
                    "size_bytes = size_bytes + ? WHERE archive = ?",
                    (len(rows), size, archive.name),
                )

        try:
            consumer.commit(fetched, commit)
        except Conflict as exc:
            _THROTTLE.warning("handed-off", "Archive batch handed off by another archiver; "
                              "fetching afresh. %s", exc)
            return 0
        return len(records)

    def _stale_redeliveries(self, messages: object) -> dict[int, float]:
        """Stream sequence -> stored time of the fetched bus messages that were delivered
        before and are older than the de-duplication window allows to rely on (less a
        margin): a first attempt may have published their events to the archive stream at
        any time since they were stored."""
        if not isinstance(self.log, JetStreamEventLog) or not isinstance(messages, list):
            return {}
        window = self.log.options.duplicate_window
        oldest = time.time() - (window - min(_CLOCK_SLACK_SECS * 6, window / 2))
        stale: dict[int, float] = {}
        for msg in messages:
            meta = msg.metadata
            stored = meta.timestamp.timestamp()
            if meta.num_delivered > 1 and stored <= oldest:
                stale[int(meta.sequence.stream)] = stored
        return stale

    @staticmethod
    def _select(archive: _Archive, records: list[LogRecord]) -> list[ArchiveRow]:
        rows: list[ArchiveRow] = []
        pattern = archive.pattern
        for record in records:
            if record.replay_name is not None:
                continue  # replayed events are never archived
            if pattern is not None:
                try:
                    matched = pattern.matches(record.event())
                except Exception:  # one unreadable record must not stop the archive
                    logger.exception(
                        "Event not archived: it could not be matched. archive=%s seq=%d",
                        archive.name, record.seq,
                    )
                    continue
                if not matched:
                    continue
            rows.append(
                (archive.name, record.seq, record.event_id, record.time, record.ingested_at,
                 record.body)
            )
        return rows

    # -- retention -------------------------------------------------------------------------

    def trim_once(self) -> int:
        """Delete every copy older than its archive's retention; return how many."""
        deleted = 0
        if self.streams is not None:
            self._refresh_counts(self.streams)
            return 0  # the streams' max_age deletes expired events
        for archive in self.archives:
            if archive.retention_secs <= 0:
                continue  # retention_days 0: kept forever
            now = self.clock()
            cutoff = now - archive.retention_secs
            while True:
                n = self.db.write(_trimmer(archive.name, cutoff, now))
                deleted += n
                if n < TRIM_CHUNK:
                    break
        if deleted:
            logger.info("Archives trimmed. deleted=%d", deleted)
        return deleted

    def _refresh_counts(self, streams: ArchiveStreams) -> None:
        """Set each archive's count and size in ``archives_state`` to what its stream holds
        (the server deletes expired events on its own; the archiver's additions since the
        stream was read are counted again at the next refresh)."""
        now = self.clock()
        for archive in self.archives:
            stats = streams.stats(archive.name)
            if stats is None:
                continue
            self.db.write(_counter(archive.name, stats, now))

    # -- the worker loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Archive new events and trim expired ones until ``stop`` is set."""
        if not self.archives:
            await stop.wait()
            return
        loop = asyncio.get_running_loop()
        next_trim = loop.time()
        while not stop.is_set():
            busy = 0
            try:
                busy = await self.archive_once()
                if loop.time() >= next_trim:
                    next_trim = loop.time() + self.trim_interval_secs
                    await asyncio.to_thread(self.trim_once)
            except Exception:  # e.g. the database is locked too long; try again shortly
                _THROTTLE.error("archive", "Archiving failed; retrying in 1 second.",
                                exc_info=True)
                for consumer in self._consumers.values():
                    consumer.rewind()
                await _wait(stop, 1.0)
                continue
            if busy == 0:
                await _wait(stop, self.poll_interval_secs)


def _drop_stale_groups(log: EventLogPort, configured: set[tuple[str, str]]) -> None:
    """Drop the groups of archives that are no longer configured: otherwise the log's
    retention would keep every event they have not read, and the log would grow forever."""
    for group, bus in log.groups("archive:"):
        if (group, bus) not in configured:
            log.drop_group(group, bus)
            logger.warning(
                "Consumer group %s on bus %s belonged to an archive that is no longer "
                "configured; its offset is dropped so the log's retention no longer waits "
                "for it. Its archived events stay in the database.", group, bus,
            )


def _counter(archive: str, stats: tuple[int, int], now: float
             ) -> Callable[[SqlConnection], object]:
    return lambda conn: conn.execute(
        "UPDATE archives_state SET event_count = ?, size_bytes = ?, last_trimmed_at = ? "
        "WHERE archive = ?",
        (stats[0], stats[1], now, archive),
    )


def _trimmer(archive: str, cutoff: float, now: float) -> Callable[[SqlConnection], int]:
    return lambda conn: _trim_chunk(conn, archive, cutoff, now)


def _trim_chunk(conn: SqlConnection, archive: str, cutoff: float, now: float) -> int:
    doomed = conn.execute(
        f"SELECT seq, {conn.dialect.byte_length('body')} FROM archive_events "
        "WHERE archive = ? AND ingested_at < ? LIMIT ?",
        (archive, cutoff, TRIM_CHUNK),
    ).fetchall()
    if doomed:
        conn.executemany(
            "DELETE FROM archive_events WHERE archive = ? AND seq = ?",
            [(archive, seq) for seq, _ in doomed],
        )
    execute_late(
        conn, ("archives_state", archive),
        "UPDATE archives_state SET event_count = event_count - ?, size_bytes = size_bytes - ?, "
        "last_trimmed_at = ? WHERE archive = ?",
        (len(doomed), sum(size for _, size in doomed), now, archive),
    )
    return len(doomed)


async def _wait(stop: asyncio.Event, secs: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=secs)
    except TimeoutError:
        pass
