"""The live tail of a bus: its newest events, each with the rules it matched and their targets.

The tail reads the bus's event log after a position, exactly as any other reader does; it never
touches the ingest path, so a tail (or a slow browser behind one) cannot slow ingest down.

- :class:`LogCursor` is the one place that knows how to read the log: its per-event read API
  (:meth:`EventLog.read_after` and :meth:`EventLog.head`).
- :class:`TailReader` turns log records into :class:`TailItem`: the envelope, the rules the bus's
  :class:`Matcher` says it matches (limited to a replay's rules for a replayed event, as the
  router does) and the targets those rules point to.
- :class:`BusTail` follows one bus for every subscriber in the process: one task wakes every
  ``poll_interval_secs`` (0.1 s), reads what is new in a worker thread (at most
  ``max_events_per_sec`` events are parsed and matched; when more arrive, the older ones are
  passed over unread and counted as skipped), and hands each item to the subscribers whose
  pattern it matches. A subscriber holds at most ``queue_size`` items: when its reader (a
  browser on the other end of a server-sent-events stream) falls behind, the older items are
  dropped and counted, and the reader is told "N events skipped" before the next one.

Example::

    tails = Tails(db, settings)
    subscriber = tails.subscribe("client_event_bus", pattern=EventPattern({"source": ["x"]}))
    async for message in subscriber.messages():   # TailItem, or an int: events skipped
        ...
    tails.unsubscribe(subscriber)
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from clientevents.config.model import Settings
from clientevents.log.eventlog import EventLog
from clientevents.log.port import EventLogPort
from clientevents.patterns import EventPattern
from clientevents.routing.rules import BusRoutes, build_routes
from clientevents.store.port import StateStore

__all__ = ["BusTail", "LogCursor", "Subscriber", "TailItem", "TailOptions", "TailReader", "Tails"]

logger = logging.getLogger("clientevents.admin")

PAGE = 500
"""Most log records one read returns."""


@dataclass(frozen=True, slots=True)
class TailOptions:
    """How a tail follows its bus.

    Attributes:
        poll_interval_secs: how often a followed bus is checked for new events.
        queue_size: most items a subscriber holds before the oldest are dropped.
        max_events_per_sec: most events a bus's tail parses and matches per second; the
            rest are counted as skipped.
        max_pages_per_poll: most pages one poll reads (bounds the work of one wake-up).
    """

    poll_interval_secs: float = 0.1
    queue_size: int = 200
    max_events_per_sec: float = 2000.0
    max_pages_per_poll: int = 40


@dataclass(frozen=True, slots=True)
class TailItem:
    """One event as the tail shows it.

    Attributes:
        position: the event's position in the log (resume after it).
        event: the envelope.
        rules: ``[{"rule", "targets": [{"id", "type", "key"}]}]`` for each matched rule.
        json: the item as JSON text (what a stream sends), built once for every subscriber.
    """

    position: int
    event: dict[str, Any]
    rules: list[dict[str, Any]]
    json: str

    def matches(self, pattern: EventPattern | None) -> bool:
        return pattern is None or pattern.matches(self.event)


class LogCursor:
    """Reads one bus's events after a position: the tail's only use of the event log."""

    def __init__(self, log: EventLogPort, bus: str) -> None:
        self.log = log
        self.bus = bus

    def newest(self) -> int:
        """The position of the newest event (following from there shows only new events)."""
        return self.log.head(self.bus)

    def read(self, after: int, limit: int) -> list[tuple[int, str, float, list[str] | None]]:
        """Up to ``limit`` events after ``after``: ``(position, envelope JSON, ingested at,
        replay rules or None)``."""
        return [
            (r.seq, r.body, r.ingested_at, r.replay_rule_names())
            for r in self.log.read_after(self.bus, after, limit)
        ]


class TailReader:
    """Reads a bus's events as :class:`TailItem` (blocking: call it from a thread)."""

    def __init__(
        self, cursor: LogCursor, routes: BusRoutes, targets: dict[str, list[dict[str, str]]]
    ) -> None:
        self.cursor = cursor
        self.routes = routes
        self.targets = targets

    def item(
        self, position: int, body: str, ingested_at: float, replay_rules: list[str] | None
    ) -> TailItem | None:
        """The tail item of one log record (``None`` for a record that is not a JSON object)."""
        try:
            event = orjson.loads(body)
            if not isinstance(event, dict):
                return None
            names = self.routes.matcher.matches_for_event(event)
        except Exception:  # a record that cannot be read must not stop the tail
            logger.warning("Tail skipped an unreadable event. bus=%s position=%d",
                           self.cursor.bus, position)
            return None
        if replay_rules is not None:
            names = names.intersection(replay_rules)
        order = self.routes.rule_names
        rules = [
            {"rule": name, "targets": self.targets.get(name, [])}
            for name in sorted(names, key=lambda n: order.index(n) if n in order else len(order))
        ]
        text = orjson.dumps({
            "position": position,
            "bus": self.cursor.bus,
            "ingested_at": ingested_at,
            "event": orjson.Fragment(body),
            "rules": rules,
        }).decode()
        return TailItem(position, event, rules, text)

    def page(
        self, after: int, limit: int, pattern: EventPattern | None
    ) -> tuple[list[TailItem], int]:
        """Items after ``after`` matching ``pattern`` (at most ``limit`` records read) and the
        position reached."""
        reached = after
        items: list[TailItem] = []
        for position, body, ingested_at, replay in self.cursor.read(after, limit):
            reached = position
            item = self.item(position, body, ingested_at, replay)
            if item is not None and item.matches(pattern):
                items.append(item)
        return items, reached


class Subscriber:
    """One reader of a bus's tail, with its own pattern and bounded queue."""

    def __init__(self, bus: str, pattern: EventPattern | None, queue_size: int) -> None:
        self.bus = bus
        self.pattern = pattern
        self.items: collections.deque[TailItem] = collections.deque(maxlen=queue_size)
        self.skipped = 0
        self.position = 0
        self._wake = asyncio.Event()
        self._started = asyncio.Event()
        self.closed = False

    def start(self, position: int) -> None:
        """The tail follows the bus for this subscriber from ``position`` on."""
        self.position = position
        self._started.set()

    async def wait_started(self) -> bool:
        """Wait until the tail knows where this subscriber starts (every event appended
        after this returns reaches it); ``False`` when it was closed first."""
        await self._started.wait()
        return not self.closed

    def offer(self, item: TailItem) -> None:
        """Queue ``item``; when the queue is full the oldest item is dropped and counted."""
        if len(self.items) == self.items.maxlen:
            self.skipped += 1
        self.items.append(item)
        self._wake.set()

    def skip(self, count: int) -> None:
        """Count ``count`` events this subscriber will not see."""
        if count:
            self.skipped += count
            self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        self._started.set()

    async def messages(self, keepalive_secs: float = 15.0) -> AsyncIterator[TailItem | int | None]:
        """Items as they come; an ``int`` (events skipped) before an item when some were;
        ``None`` after ``keepalive_secs`` without anything (a stream sends a comment)."""
        while not self.closed:
            if self.skipped:
                count, self.skipped = self.skipped, 0
                yield count
                continue
            if self.items:
                yield self.items.popleft()
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=keepalive_secs)
            except TimeoutError:
                yield None


class BusTail:
    """Follows one bus for all of its subscribers in this process."""

    def __init__(self, reader: TailReader, options: TailOptions) -> None:
        self.reader = reader
        self.options = options
        self.subscribers: list[Subscriber] = []
        self.position: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._budget = options.max_events_per_sec
        self._last = time.monotonic()

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)
        if self._task is None or self._task.done():
            self.position = None
            self._task = asyncio.get_running_loop().create_task(
                self._follow(), name=f"clientevents-tail:{self.reader.cursor.bus}"
            )
        elif self.position is not None:
            subscriber.start(self.position)

    def remove(self, subscriber: Subscriber) -> None:
        subscriber.close()
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)

    async def stop(self) -> None:
        for subscriber in list(self.subscribers):
            self.remove(subscriber)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _follow(self) -> None:
        while self.position is None and self.subscribers:
            try:
                self.position = await asyncio.to_thread(self.reader.cursor.newest)
            except Exception:
                logger.exception("The tail of bus %s could not find the newest event; "
                                 "retrying.", self.reader.cursor.bus)
                await asyncio.sleep(1.0)
        if self.position is None:
            return
        for subscriber in self.subscribers:
            subscriber.start(self.position)
        while self.subscribers:
            subscribers = list(self.subscribers)
            patterns = [s.pattern for s in subscribers]
            try:
                step = await asyncio.to_thread(self._step, self.position, patterns)
            except Exception:
                logger.exception("The tail of bus %s failed to read; retrying.",
                                 self.reader.cursor.bus)
                await asyncio.sleep(1.0)
                continue
            items, reached, skipped, caught_up = step
            self.position = reached
            for subscriber in self.subscribers:
                subscriber.skip(skipped)
                subscriber.position = reached
            for item, wanted in items:
                for subscriber, match in zip(subscribers, wanted, strict=True):
                    if match and not subscriber.closed:
                        subscriber.offer(item)
            if caught_up:
                await asyncio.sleep(self.options.poll_interval_secs)

    def _step(
        self, after: int, patterns: list[EventPattern | None]
    ) -> tuple[list[tuple[TailItem, list[bool]]], int, int, bool]:
        """Read what is new (in a thread): items with, per pattern, whether it matches; the
        position reached; how many events were passed over; whether the bus is caught up."""
        now = time.monotonic()
        opts = self.options
        self._budget = min(
            opts.max_events_per_sec,
            self._budget + (now - self._last) * opts.max_events_per_sec,
        )
        self._last = now
        records: collections.deque[tuple[int, str, float, list[str] | None]] = (
            collections.deque(maxlen=max(1, int(self._budget)))
        )
        read = 0
        position = after
        caught_up = False
        for _ in range(opts.max_pages_per_poll):
            page = self.reader.cursor.read(position, PAGE)
            read += len(page)
            records.extend(page)
            if page:
                position = page[-1][0]
            if len(page) < PAGE:
                caught_up = True
                break
        skipped = read - len(records)
        self._budget -= len(records)
        items: list[tuple[TailItem, list[bool]]] = []
        for position_, body, ingested_at, replay in records:
            item = self.reader.item(position_, body, ingested_at, replay)
            if item is None:
                continue
            wanted = [item.matches(p) for p in patterns]
            if any(wanted):
                items.append((item, wanted))
        return items, position, skipped, caught_up


class Tails:
    """The live tails of every bus in this process (built lazily, one per bus)."""

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        options: TailOptions | None = None,
        *,
        log: EventLogPort | None = None,
    ) -> None:
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.settings = settings
        self.options = options or TailOptions()
        self.routes = build_routes(settings)
        self._tails: dict[str, BusTail] = {}
        self._readers: dict[str, TailReader] = {}

    def reader(self, bus: str) -> TailReader:
        """The reader of ``bus`` (``KeyError`` when the bus is not configured)."""
        found = self._readers.get(bus)
        if found is None:
            routes = self.routes[bus]
            targets = {
                rule.name: [
                    {"id": t.id, "type": str(t.type), "key": f"{bus}/{rule.name}/{t.id}"}
                    for t in rule.targets
                ]
                for rule in self.settings.rules_for_bus(bus)
            }
            found = self._readers[bus] = TailReader(LogCursor(self.log, bus), routes, targets)
        return found

    def subscribe(self, bus: str, pattern: EventPattern | None = None) -> Subscriber:
        """A new subscriber to ``bus`` (call from the event loop); unsubscribe when done."""
        tail = self._tails.get(bus)
        if tail is None:
            tail = self._tails[bus] = BusTail(self.reader(bus), self.options)
        subscriber = Subscriber(bus, pattern, self.options.queue_size)
        tail.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        tail = self._tails.get(subscriber.bus)
        if tail is not None:
            tail.remove(subscriber)

    async def close(self) -> None:
        """Stop every tail."""
        for tail in self._tails.values():
            await tail.stop()
