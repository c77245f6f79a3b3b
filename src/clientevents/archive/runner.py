"""The replay runner: the worker that moves replays through their states and replays events.

Each step of an active replay is one write transaction:

- ``STARTING``: check the archive and its bus are still configured (else ``FAILED``), then
  ``RUNNING``;
- ``RUNNING``: read the next :attr:`ReplayRunner.batch_size` archived events of the window after
  the replay's cursor, in event-time order (EventBridge replays by the time in the event), put
  them on the bus with ``ReplayName`` (and ``ReplayRules``) through
  :meth:`Publisher.append_in`, and move the cursor, ``EventLastReplayedTime`` and the count, all
  in the same transaction. When no event is left: ``COMPLETED``;
- ``CANCELLING``: ``CANCELLED``.

The cursor moves only from the value the step read and only while the replay is ``RUNNING``
(compare and set), so a cancel committed between the read and the write rolls the batch back:
no event is replayed after CancelReplay returns. Progress is durable with the events it
covers: after a crash the replay resumes at the first event not yet on the bus, so none is lost
and none is put on the bus twice by the replay itself. Delivery from the bus to targets stays
at least once (a target may see a replayed event twice, as with any event).

With a JetStream event log the archive is a stream (:mod:`clientevents.archive.streams`): a step
reads it minute by minute, and the cursor is the minute being read and the last stream sequence
read in it. The bus is not in the step's transaction there: the batch is published first, and
the commit records ``bus_mark``, the bus stream's last sequence. A runner that did not make a
replay's last commit reads the bus after ``bus_mark`` for the replay's own events (once the
stream's de-duplication window no longer covers them) and does not publish those again.

An archived event that arrives with an event time behind a running replay's cursor (a late
producer ``Time``) is not replayed by it; EventBridge likewise advises waiting before replaying
a recent window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from clientevents.archive.archive import ArchivedEvent
from clientevents.archive.replay import Replay, Replays
from clientevents.archive.schema import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    FAILED,
    RUNNING,
    STARTING,
)
from clientevents.archive.streams import ArchiveStreams, minute_of, replayed_on_bus
from clientevents.config.model import Settings
from clientevents.events.publisher import Publisher
from clientevents.log.jetstream import POSITION_BITS, JetStreamEventLog
from clientevents.logthrottle import LogThrottle
from clientevents.store.port import SqlConnection, StateStore

__all__ = ["ReplayRunner"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)


class _Moved(Exception):
    """The replay changed (cancelled, or moved by another runner) since the step read it."""


class _Rejected(Exception):
    """The bus refused a replayed event."""


class ReplayRunner:
    """Runs every active replay, one batch per replay per pass (replays share the worker fairly).

    Args:
        db: the shared database.
        settings: archives, buses and rules.
        publisher: puts replayed events on the bus (a new one over ``db`` when omitted).
        batch_size: most events one step replays (one write transaction).
        poll_interval_secs: how often an idle runner looks for new replays.
        clock: the time source (epoch seconds) for ``ReplayEndTime``.
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        *,
        publisher: Publisher | None = None,
        batch_size: int = 200,
        poll_interval_secs: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        self.db = db
        self.settings = settings
        self.replays = Replays(db, settings, clock=clock)
        self.publisher = publisher if publisher is not None else Publisher(db, settings)
        log = self.publisher.log
        self.streams: ArchiveStreams | None = (
            ArchiveStreams(log) if isinstance(log, JetStreamEventLog) else None
        )
        self.jetstream: JetStreamEventLog | None = (
            log if isinstance(log, JetStreamEventLog) else None
        )
        self._own: dict[str, tuple[float, int]] = {}  # replay -> cursor this runner committed
        self.batch_size = batch_size
        self.poll_interval_secs = poll_interval_secs
        self.clock = clock

    # -- one pass --------------------------------------------------------------------------

    async def run_once(self) -> int:
        """One step of every active replay (in a thread); return how much work was done."""
        return await asyncio.to_thread(self.step_all)

    def step_all(self) -> int:
        """Blocking :meth:`run_once`: events replayed plus state changes made."""
        return sum(self.step(replay) for replay in self.replays.active())

    def step(self, replay: Replay) -> int:
        """Advance ``replay`` by one step; return events replayed plus state changes made."""
        if replay.state == STARTING:
            problem = self._problem(replay)
            if problem is not None:
                return self._finish(replay, FAILED, problem)
            if self.jetstream is None:
                return self._transition(replay, STARTING, RUNNING, "")
            # The bus stream's sequence now: the replay's first publish comes after it.
            mark, now = self._bus_mark(replay.bus), self.clock()
            changed = int(self.db.write(lambda conn: conn.execute(
                "UPDATE replays SET state = ?, state_reason = '', bus_mark = ?, mark_time = ? "
                "WHERE name = ? AND state = ?", (RUNNING, mark, now, replay.name, STARTING),
            ).rowcount))
            if changed:
                logger.info("Replay running. replay=%s", replay.name)
            return changed
        if replay.state == CANCELLING:
            return self._finish(replay, CANCELLED, replay.state_reason or "Cancelled by request.")
        if replay.state == RUNNING:
            return self._replay_batch(replay)
        return 0

    def _problem(self, replay: Replay) -> str | None:
        archive = next((a for a in self.settings.archives if a.name == replay.archive), None)
        if archive is None:
            return f"Archive {replay.archive!r} is no longer configured."
        if archive.bus != replay.bus:
            return (
                f"Archive {replay.archive!r} now archives bus {archive.bus!r}, not {replay.bus!r}."
            )
        if replay.bus not in self.settings.bus_names():
            return f"Bus {replay.bus!r} is no longer configured."
        return None

    def _replay_batch(self, replay: Replay) -> int:
        events, cursor_time, cursor_seq, exhausted = self._next(replay)
        if not events and (exhausted or (cursor_time, cursor_seq) == (
                replay.cursor_time, replay.cursor_seq)):
            return self._finish(replay, COMPLETED, "", expected_cursor=True)
        published = self._published_before(replay) if events else frozenset()
        entries = [self._entry(replay, e) for e in events if e.event_id not in published]
        last_time = events[-1].time if events else None
        jetstream = self.jetstream

        def commit(conn: SqlConnection) -> None:
            if entries:
                answer = self.publisher.append_in(conn, entries)
                if answer["FailedEntryCount"]:
                    index, error = next(
                        (i, e) for i, e in enumerate(answer["Entries"]) if "ErrorCode" in e
                    )
                    raise _Rejected(
                        f"The bus refused archived event {events[index].event_id!r}: "
                        f"{error['ErrorCode']}: {error['ErrorMessage']}"
                    )
            moved = "cursor_time = ?, cursor_seq = ?, events_replayed = events_replayed + ?"
            params: list[Any] = [cursor_time, cursor_seq, len(events)]
            if last_time is not None:
                moved += ", event_last_replayed_time = ?"
                params.append(last_time)
            cur = conn.execute(
                f"UPDATE replays SET {moved} "
                "WHERE name = ? AND state = ? AND cursor_time = ? AND cursor_seq = ?",
                (*params, replay.name, RUNNING, replay.cursor_time, replay.cursor_seq),
            )
            if cur.rowcount != 1:
                raise _Moved(replay.name)
            if jetstream is not None:
                # Every later step publishes after this sequence (see _published_before).
                conn.execute(
                    "UPDATE replays SET bus_mark = ?, mark_time = ? WHERE name = ?",
                    (self._bus_mark(replay.bus), self.clock(), replay.name),
                )

        try:
            self.db.write(commit)
        except _Moved:
            self._own.pop(replay.name, None)
            return 0
        except _Rejected as exc:
            logger.error("Replay failed. replay=%s error=%s", replay.name, exc)
            return self._finish(replay, FAILED, str(exc)[:512], expected_cursor=True)
        self._own[replay.name] = (cursor_time, cursor_seq)
        return max(1, len(events))

    def _bus_mark(self, bus: str) -> int:
        """The bus stream's last sequence (JetStream positions are ``seq << 16 | index``)."""
        assert self.jetstream is not None
        return self.jetstream.head(bus) >> POSITION_BITS

    def _published_before(self, replay: Replay) -> frozenset[str]:
        """Event ids ``replay`` may already have put on the bus from its current cursor: a
        JetStream publish happens before the step's write commits, so a runner that died in
        between left them on the bus. The stream drops a repeat within its de-duplication
        window (``Nats-Msg-Id`` ``<replay>/<id>``); past it, the bus stream is read from the
        replay's ``bus_mark`` for the replay's own messages, which are then not published
        again. Nothing to check when this runner made the replay's last commit."""
        log = self.jetstream
        if log is None or self._own.get(replay.name) == (replay.cursor_time, replay.cursor_seq):
            return frozenset()
        row = self.db.read(lambda conn: conn.execute(
            "SELECT bus_mark, mark_time FROM replays WHERE name = ?", (replay.name,)
        ).fetchone())
        if row is None or row[0] is None:
            return frozenset()
        mark, marked_at = int(row[0]), float(row[1] or 0.0)
        window = log.options.duplicate_window
        if self.clock() - marked_at < window - min(30.0, window / 2):
            return frozenset()  # anything published since the mark is still de-duplicated
        return frozenset(replayed_on_bus(log, replay.bus, replay.name, after_seq=mark))

    def _next(self, replay: Replay) -> tuple[list[ArchivedEvent], float, int, bool]:
        """The next events of ``replay`` and the cursor after them; whether the window is
        read to its end."""
        if self.streams is None:
            events = self._next_events(replay)
            if not events:
                return [], replay.cursor_time, replay.cursor_seq, True
            return events, events[-1].time, events[-1].seq, False
        # An archive stream: the cursor is (the minute being read, in seconds; the last
        # stream sequence read in it).
        scan = self.streams.scan(
            replay.archive, replay.event_start_time, replay.event_end_time,
            minute=minute_of(replay.cursor_time), seq=replay.cursor_seq, limit=self.batch_size,
        )
        return scan.events, float(scan.minute * 60), scan.seq, scan.exhausted

    def _next_events(self, replay: Replay) -> list[ArchivedEvent]:
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT seq, event_id, time, ingested_at, body FROM archive_events "
                "WHERE archive = ? AND (time, seq) > (?, ?) AND time < ? "
                "ORDER BY time, seq LIMIT ?",
                (replay.archive, replay.cursor_time, replay.cursor_seq, replay.event_end_time,
                 self.batch_size),
            ).fetchall()
        )
        return [ArchivedEvent(*row) for row in rows]

    @staticmethod
    def _entry(replay: Replay, event: ArchivedEvent) -> dict[str, Any]:
        envelope = orjson.loads(event.body)
        entry: dict[str, Any] = {
            "Id": event.event_id,
            "Source": envelope.get("source"),
            "DetailType": envelope.get("detail-type"),
            "Detail": envelope.get("detail"),
            "Resources": envelope.get("resources", []),
            "Time": event.time,
            "EventBusName": replay.bus,
            "ReplayName": replay.name,
        }
        if replay.rules is not None:
            entry["ReplayRules"] = list(replay.rules)
        return entry

    # -- state changes ---------------------------------------------------------------------

    def _transition(self, replay: Replay, before: str, after: str, reason: str) -> int:
        def update(conn: SqlConnection) -> int:
            return conn.execute(
                "UPDATE replays SET state = ?, state_reason = ? WHERE name = ? AND state = ?",
                (after, reason, replay.name, before),
            ).rowcount

        changed = int(self.db.write(update))
        if changed:
            logger.info("Replay %s. replay=%s", after.lower(), replay.name)
        return changed

    def _finish(
        self, replay: Replay, state: str, reason: str, *, expected_cursor: bool = False
    ) -> int:
        sql = (
            "UPDATE replays SET state = ?, state_reason = ?, replay_end_time = ? "
            "WHERE name = ? AND state = ?"
        )
        params: list[Any] = [state, reason, self.clock(), replay.name, replay.state]
        if expected_cursor:
            sql += " AND cursor_time = ? AND cursor_seq = ?"
            params += [replay.cursor_time, replay.cursor_seq]
        changed = int(self.db.write(lambda conn: conn.execute(sql, params).rowcount))
        if changed:
            logger.info(
                "Replay %s. replay=%s events_replayed=%d reason=%s",
                state.lower(), replay.name, replay.events_replayed, reason,
            )
        return changed

    # -- the worker loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run replays until ``stop`` is set; the step in flight finishes first."""
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # e.g. the database is locked too long; try again shortly
                _THROTTLE.error("replay", "Replaying failed; retrying in 1 second.",
                                exc_info=True)
                busy = 0
                await _wait(stop, 1.0)
                continue
            if busy == 0:
                await _wait(stop, self.poll_interval_secs)


async def _wait(stop: asyncio.Event, secs: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=secs)
    except TimeoutError:
        pass
