"""Archives kept in JetStream streams, for deployments whose event log is JetStream.

With ``log: jetstream`` every archive has a stream of its own next to its bus's stream:

- name ``<stream_prefix>_archive_<archive token>`` (the token as for a bus: the name with
  characters NATS refuses replaced, plus 8 hex digits of its SHA-256), description
  ``archive:<name>``;
- limits retention, ``max_age`` = the archive's ``retention_days`` (0: none), the log's
  ``duplicate_window``, ``num_replicas`` and ``storage``, direct gets allowed;
- one message per archived event: data = the envelope's JSON text, ``Nats-Msg-Id`` = the event
  id (a hand-off published again is stored once), headers ``Ce-Event-Id``, ``Ce-Time``,
  ``Ce-Ingested-At``, ``Ce-Seq`` (the event's position on the bus);
- subject ``<stream_prefix>.archive.<archive token>.<era>.<block>.<day>.<minute>`` from the
  event's time (``minute`` = whole minutes since the epoch, ``day`` = whole days, ``block`` =
  ``day // 100``, ``era`` = ``day // 10000``): a replay reads a window minute by minute,
  skipping an empty era, block or day with one request: in event-time order at one-minute
  granularity, in archive order within a minute (EventBridge replays "in one-minute
  intervals", not necessarily in order within one).

The archiver publishes an archive's matches here and awaits the acknowledgements before it
commits the hand-off in the state store and acknowledges the bus messages; the replay runner
reads a window minute by minute, each minute with one fetch from a short-lived consumer
(:meth:`ArchiveStreams.scan`). The state store keeps the archive's ``archives_state`` row and
the replays' rows.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from clientevents.archive.archive import ArchivedEvent
from clientevents.errors import StoreError
from clientevents.log.jetstream import JetStreamEventLog, _nats, _token

__all__ = [
    "ARCHIVE_DESCRIPTION_PREFIX",
    "ArchiveStreams",
    "Scan",
    "minute_of",
    "replayed_on_bus",
]

logger = logging.getLogger(__name__)

ARCHIVE_DESCRIPTION_PREFIX = "archive:"
"""An archive stream's description is this plus the archive's name."""

_H_EVENT_ID = "Ce-Event-Id"
_H_TIME = "Ce-Time"
_H_INGESTED = "Ce-Ingested-At"
_H_SEQ = "Ce-Seq"

DAY_SECS = 86_400
_LEVELS = (1440 * 10_000, 1440 * 100, 1440)
"""Minutes in an era (10,000 days), a block (100 days) and a day: the subject's tokens."""
_EARLIEST = -62135596800.0  # 0001-01-01T00:00:00Z
_LATEST = 253402300800.0  # 10000-01-01T00:00:00Z


def minute_of(epoch: float) -> int:
    """The whole minutes since the epoch of ``epoch`` (negative before 1970)."""
    return math.floor(epoch / 60.0)


@dataclass(frozen=True, slots=True)
class Scan:
    """What one :meth:`ArchiveStreams.scan` read: the events of the window, in replay order,
    and where the next scan goes on (``minute``, and the last stream sequence read in it).
    ``exhausted``: every minute of the window has been read."""

    events: list[ArchivedEvent]
    minute: int
    seq: int
    exhausted: bool


class ArchiveStreams:
    """The archive streams of one JetStream event log (its connection and prefix).

    Args:
        log: the JetStream event log whose connection, prefix and stream settings are used.
    """

    def __init__(self, log: JetStreamEventLog) -> None:
        self.log = log
        self.options = log.options
        self._ready: dict[str, int] = {}  # stream -> the retention days it was set up with

    # -- names -----------------------------------------------------------------------------

    def names(self, archive: str) -> tuple[str, str]:
        """``(stream name, subject base)`` of ``archive``."""
        token = _token(archive)
        prefix = self.options.stream_prefix
        return f"{prefix}_archive_{token}", f"{prefix}.archive.{token}"

    @staticmethod
    def subject(base: str, event_time: float) -> str:
        """The subject of an event of ``event_time`` under ``base``."""
        return _minute_subject(base, minute_of(event_time))

    # -- set-up ----------------------------------------------------------------------------

    async def _ensure(self, archive: str, retention_days: int) -> tuple[str, str]:
        stream, base = self.names(archive)
        if self._ready.get(stream) == retention_days:
            return stream, base
        nats = _nats()
        api = nats.js.api
        max_age = retention_days * DAY_SECS
        config = api.StreamConfig(
            name=stream,
            description=ARCHIVE_DESCRIPTION_PREFIX + archive,
            subjects=[base + ".>"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE if self.options.storage == "file"
            else api.StorageType.MEMORY,
            num_replicas=self.options.replicas,
            max_age=max_age or None,
            duplicate_window=min(self.options.duplicate_window, max_age or math.inf),
            allow_direct=True,
        )
        js = self.log._js
        try:
            try:
                await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(config)
            else:
                await js.update_stream(config)
        except Exception as exc:
            raise StoreError(f"JetStream stream {stream} of archive {archive!r} could not be "
                             f"set up: {exc}") from exc
        self._ready[stream] = retention_days
        return stream, base

    def ensure(self, archive: str, retention_days: int) -> str:
        """Create (or update the settings of) the stream of ``archive``; return its name."""
        return self.log._guard(self._ensure(archive, retention_days))[0]

    # -- storing ---------------------------------------------------------------------------

    async def _publish(self, archive: str, retention_days: int,
                       events: Sequence[ArchivedEvent]) -> None:
        stream, base = await self._ensure(archive, retention_days)
        js = self.log._js
        timeout = self.options.timeout
        sends = [
            js.publish(self.subject(base, e.time), e.body.encode(), timeout=timeout,
                       stream=stream, headers=_headers(e))
            for e in events
        ]
        results = await asyncio.gather(*sends, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise StoreError(
                    f"Publishing to the stream of archive {archive!r} failed: {result!r}"
                ) from result

    def store(self, archive: str, retention_days: int, events: Sequence[ArchivedEvent]) -> None:
        """Publish ``events`` to the stream of ``archive``; return once JetStream acknowledged
        every one (an event id the stream saw within its de-duplication window is stored
        once).

        Raises:
            StoreError: JetStream did not store them all (the caller does not hand off).
        """
        if events:
            self.log._guard(self._publish(archive, retention_days, events))

    async def _first_since(self, stream: str, base: str, first: int, last: int,
                           since: float) -> int:
        """The first stream sequence whose message reached the stream at or after ``since``
        (``last + 1`` when none did): a binary search on the stored times."""
        lo, hi = first, last + 1
        while lo < hi:
            mid = (lo + hi) // 2
            got = await self._next(stream, base + ".>", mid - 1)
            if got is None or got[1].time is None or got[1].time.timestamp() >= since:
                hi = mid
            else:
                lo = got[0] + 1
        return lo

    async def _held(self, stream: str, subject: str, after: int, wanted: set[str]
                    ) -> set[str]:
        found: set[str] = set()
        seq = after
        while found != wanted:
            got = await self._next(stream, subject, seq)
            if got is None:
                break
            seq, msg = got
            event_id = (msg.headers or {}).get(_H_EVENT_ID)
            if event_id in wanted:
                found.add(event_id)
        return found

    def held_since(self, archive: str, events: Sequence[ArchivedEvent], since: float
                   ) -> set[str]:
        """The ids of ``events`` that the stream of ``archive`` holds among the messages that
        reached it at or after ``since`` (each event is looked for in its minute's subject).
        For a hand-off fetched again after the de-duplication window: what the first attempt
        stored is not published again.

        Raises:
            StoreError: JetStream did not answer.
        """
        if not events:
            return set()
        info = self.log._guard(self._info(archive))
        if info is None or not info.state.messages:
            return set()
        stream, base = self.names(archive)
        start = self.log._guard(self._first_since(
            stream, base, int(info.state.first_seq), int(info.state.last_seq), since))
        by_subject: dict[str, set[str]] = {}
        for event in events:
            by_subject.setdefault(self.subject(base, event.time), set()).add(event.event_id)
        held: set[str] = set()
        for subject, wanted in by_subject.items():
            held |= self.log._guard(self._held(stream, subject, start - 1, wanted))
        return held

    # -- reading ---------------------------------------------------------------------------

    async def _info(self, archive: str) -> Any:
        nats = _nats()
        stream, _ = self.names(archive)
        try:
            return await self.log._js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            return None

    def stats(self, archive: str) -> tuple[int, int] | None:
        """``(messages, bytes)`` the stream of ``archive`` holds (None without a stream).

        Raises:
            StoreError: JetStream did not answer.
        """
        info = self.log._guard(self._info(archive))
        if info is None:
            return None
        return int(info.state.messages or 0), int(info.state.bytes or 0)

    async def _next(self, stream: str, subject: str, after: int) -> tuple[int, Any] | None:
        nats = _nats()
        try:
            msg = await self.log._js.get_msg(stream, seq=after + 1, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return None
        return int(msg.seq), msg

    async def _read(self, stream: str, subject: str, after: int, limit: int) -> list[Any]:
        """Up to ``limit`` messages of ``subject`` after stream sequence ``after``, in order:
        one fetch from a short-lived consumer (deleted after)."""
        nats = _nats()
        api = nats.js.api
        js = self.log._js
        info = await js.add_consumer(stream, api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        ))
        try:
            wanted = min(limit, int(info.num_pending or 0))
            if wanted <= 0:
                return []
            sub = await js.pull_subscribe_bind(info.name, stream)
            try:
                msgs: list[Any] = []
                while len(msgs) < wanted:
                    msgs += await sub.fetch(wanted - len(msgs), timeout=self.options.timeout)
                return msgs[:wanted]
            finally:
                await sub.unsubscribe()
        finally:
            try:
                await js.delete_consumer(stream, info.name)
            except nats.js.errors.NotFoundError:
                pass

    async def _minutes(self, stream: str, base: str, day: int) -> list[int]:
        """The minutes of ``day`` that hold messages, ascending."""
        info = await self.log._js.stream_info(
            stream, subjects_filter=_unit_subject(base, day * 1440, len(_LEVELS)) + ".*"
        )
        subjects = info.state.subjects or {}
        return sorted(int(s.rpartition(".")[2]) for s in subjects)

    async def _holds(self, stream: str, subject: str) -> bool:
        return await self._next(stream, subject, 0) is not None

    async def _scan(self, archive: str, start: float, end: float, minute: int, seq: int,
                    limit: int) -> Scan:
        stream, base = self.names(archive)
        if await self._info(archive) is None:
            return Scan([], minute, seq, True)
        # The last minute holding times before ``end`` (years 1 to 9999 hold every time).
        last = math.ceil(min(end, _LATEST) / 60.0) - 1
        minute = max(minute, minute_of(_EARLIEST))
        events: list[ArchivedEvent] = []
        reads = 0
        seen: dict[tuple[int, int], Any] = {}
        while len(events) < limit and reads < 4 * limit:
            if minute > last:
                return Scan(events, last + 1, 0, True)
            want = min(limit - len(events), 4 * limit - reads)
            msgs = await self._read(stream, _minute_subject(base, minute), seq, want)
            for msg in msgs:
                event = _event(msg)
                seq = event.seq
                if start <= event.time < end:
                    events.append(event)
            reads += len(msgs)
            if len(msgs) == want:
                continue  # the minute may hold more
            # This minute is read: on to the next one that holds messages.
            following = await self._following(stream, base, minute + 1, last, seen)
            reads += 1
            if following is None:
                return Scan(events, last + 1, 0, True)
            minute, seq = following, 0
        return Scan(events, minute, seq, False)

    async def _following(self, stream: str, base: str, first: int, last: int,
                         seen: dict[tuple[int, int], Any]) -> int | None:
        """The first minute in ``[first, last]`` holding messages (None when none does):
        an empty era, block or day is skipped with one request."""
        minute = first
        while minute <= last:
            for depth, size in enumerate(_LEVELS):
                unit = minute // size
                if (depth, unit) not in seen:
                    subject = _unit_subject(base, minute, depth + 1) + ".>"
                    seen[depth, unit] = await self._holds(stream, subject)
                if not seen[depth, unit]:
                    minute = (unit + 1) * size
                    break
            else:
                day = minute // 1440
                if (len(_LEVELS), day) not in seen:
                    seen[len(_LEVELS), day] = await self._minutes(stream, base, day)
                for found in seen[len(_LEVELS), day]:
                    if minute <= found <= last:
                        return int(found)
                minute = (day + 1) * 1440
        return None

    def scan(self, archive: str, start: float, end: float, *, minute: int, seq: int,
             limit: int) -> Scan:
        """Up to ``limit`` archived events with event time in ``[start, end)``, from minute
        ``minute`` after stream sequence ``seq`` on, minute by minute (a scan also stops after
        reading ``4 * limit`` messages, so one call stays short).

        Raises:
            StoreError: JetStream did not answer.
        """
        return self.log._guard(self._scan(archive, start, end, minute, seq, limit))

    # -- deleting --------------------------------------------------------------------------

    def delete(self, archive: str) -> bool:
        """Delete the stream of ``archive``; return whether there was one."""

        async def delete() -> bool:
            nats = _nats()
            stream, _ = self.names(archive)
            self._ready.pop(stream, None)
            try:
                return bool(await self.log._js.delete_stream(stream))
            except nats.js.errors.NotFoundError:
                return False

        return self.log._guard(delete())

    def archives(self) -> list[str]:
        """The names of the archives that have a stream under this prefix."""

        async def list_() -> list[str]:
            found: list[str] = []
            for info in await self.log._js.streams_info():
                description = info.config.description or ""
                if not description.startswith(ARCHIVE_DESCRIPTION_PREFIX):
                    continue
                name = description[len(ARCHIVE_DESCRIPTION_PREFIX):]
                if info.config.name == self.names(name)[0]:
                    found.append(name)
            return sorted(found)

        return self.log._guard(list_())

    def drop_unconfigured(self, configured: Iterable[str]) -> list[str]:
        """Delete the streams of archives not in ``configured``; return their names."""
        keep = set(configured)
        dropped = [name for name in self.archives() if name not in keep]
        for name in dropped:
            self.delete(name)
        return dropped


def replayed_on_bus(log: JetStreamEventLog, bus: str, replay: str, *, after_seq: int
                    ) -> set[str]:
    """The ids of the events replay ``replay`` put on ``bus``'s stream after stream sequence
    ``after_seq`` (reads every message since: for a replay resumed after a crash).

    Raises:
        StoreError: JetStream did not answer.
    """

    async def read(seq: int, found: set[str]) -> int | None:
        """Read up to 5,000 messages from ``seq``; return where to go on (None: the end)."""
        for _ in range(5_000):
            got = await log._get(bus, seq)
            if got is None:
                return None
            at, row = got
            if row[6] == replay:
                found.add(str(row[2]))
            seq = at + 1
        return seq

    found: set[str] = set()
    next_seq: int | None = after_seq + 1
    while next_seq is not None:
        next_seq = log._guard(read(next_seq, found))
    return found


def _unit_subject(base: str, minute: int, depth: int) -> str:
    """The subject prefix of the first ``depth`` units (era, block, day) of ``minute``."""
    return ".".join([base, *(str(minute // size) for size in _LEVELS[:depth])])


def _minute_subject(base: str, minute: int) -> str:
    return f"{_unit_subject(base, minute, len(_LEVELS))}.{minute}"


def _headers(event: ArchivedEvent) -> dict[str, str]:
    return {
        "Nats-Msg-Id": event.event_id,
        _H_EVENT_ID: event.event_id,
        _H_TIME: repr(float(event.time)),
        _H_INGESTED: repr(float(event.ingested_at)),
        _H_SEQ: str(event.seq),
    }


def _event(msg: Any) -> ArchivedEvent:
    """An archived event from a message of an archive stream (a direct get's or a
    consumer's); its ``seq`` is the message's stream sequence (the replay's cursor), not the
    bus position (header ``Ce-Seq``)."""
    h = msg.headers or {}
    seq = msg.seq if hasattr(msg, "seq") else msg.metadata.sequence.stream
    return ArchivedEvent(
        seq=int(seq),
        event_id=h.get(_H_EVENT_ID, ""),
        time=float(h.get(_H_TIME, "0")),
        ingested_at=float(h.get(_H_INGESTED, "0")),
        body=(msg.data or b"").decode(),
    )
