"""Where ``clientevents tail`` reads: a bus's events, a rule's matches, a stream's records.

Everything goes through the components' public read APIs: the event log's per-event read
(:meth:`EventLog.read_after`, one record per event with the envelope's JSON text), the
:class:`Matcher` for a rule's pattern, and :meth:`StreamStore.peek`, which reads a stream without
joining a consumer group. :func:`_log_events` is the one place that knows the log's record shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import orjson

from clientevents.config import RuleConfig, Settings
from clientevents.log.eventlog import EventLog
from clientevents.log.port import EventLogPort
from clientevents.patterns import EventPattern, Matcher
from clientevents.store.port import StateStore
from clientevents.streams import StreamStore

__all__ = ["BusSource", "Item", "RuleSource", "Source", "StreamSource"]

#: Most records one poll reads.
PAGE = 500


@dataclass(frozen=True, slots=True)
class Item:
    """One thing tail prints: a position to resume after, the data and where it came from."""

    cursor: int
    data: Any
    """The event (a dict) or the stream record's payload (parsed JSON, or the text)."""
    text: str
    """The JSON text as stored."""
    origin: str
    """``bus NAME``, ``rule NAME`` or ``stream NAME``, and the position."""
    appended_at: float | None = None


@dataclass(frozen=True, slots=True)
class _LogEvent:
    seq: int
    event: dict[str, Any]
    body: str
    replay_rules: list[str] | None


def _log_events(log: EventLogPort, bus: str, after: int, limit: int) -> list[_LogEvent]:
    """The next events of ``bus`` after position ``after``, one per event."""
    found = []
    for record in log.read_after(bus, after, limit):
        event = orjson.loads(record.body)
        found.append(_LogEvent(record.seq, event, record.body, record.replay_rule_names()))
    return found


class Source(ABC):
    """A position-ordered source (a bus, a rule or a stream: the subclasses below).
    :meth:`start` is where following begins; :meth:`page`
    returns the items after a position and the position reached (which moves on past items a
    filter dropped, so the next poll does not read them again)."""

    label: str

    @abstractmethod
    def start(self, from_start: bool) -> int:
        """The position following begins after (0, or the source's head)."""

    @abstractmethod
    def page(self, after: int) -> tuple[list[Item], int]:
        """The items after ``after`` (one read) and the position reached."""

    def poll(self, cursor: int, pattern: EventPattern | None = None,
             max_pages: int = 20) -> tuple[list[Item], int]:
        """Everything after ``cursor`` now (at most ``max_pages`` pages) that ``pattern``
        matches (a payload that is not a JSON object never matches a pattern)."""
        found: list[Item] = []
        for _ in range(max_pages):
            items, reached = self.page(cursor)
            if reached == cursor:
                break
            cursor = reached
            if pattern is not None:
                items = [i for i in items if isinstance(i.data, dict) and pattern.matches(i.data)]
            found.extend(items)
        return found, cursor


class BusSource(Source):
    """Every event of a bus (read from ``log``, the configured event log; the SQL log in
    ``db`` when none is given)."""

    def __init__(self, db: StateStore, bus: str, log: EventLogPort | None = None) -> None:
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.bus = bus
        self.label = f"bus {bus}"

    def start(self, from_start: bool) -> int:
        return 0 if from_start else self.log.head(self.bus)

    def page(self, after: int) -> tuple[list[Item], int]:
        events = _log_events(self.log, self.bus, after, PAGE)
        items = [Item(e.seq, e.event, e.body, f"{self.label} #{e.seq}")
                 for e in events if self._wanted(e)]
        return items, events[-1].seq if events else after

    def _wanted(self, event: _LogEvent) -> bool:
        return True


class RuleSource(BusSource):
    """The events of a rule's bus that its pattern matches (and replays meant for it)."""

    def __init__(self, db: StateStore, rule: RuleConfig, log: EventLogPort | None = None) -> None:
        super().__init__(db, rule.bus, log)
        self.rule = rule
        self.matcher = Matcher()
        self.matcher.add(rule.name, EventPattern(rule.event_pattern))
        self.label = f"rule {rule.name}"

    def _wanted(self, event: _LogEvent) -> bool:
        if event.replay_rules is not None and self.rule.name not in event.replay_rules:
            return False
        return bool(self.matcher.matches_for_event(event.event))


class StreamSource(Source):
    """The records of a named stream, read without joining a consumer group."""

    def __init__(self, db: StateStore, settings: Settings, stream: str) -> None:
        self.store = StreamStore(db, settings)
        self.stream = stream
        self.label = f"stream {stream}"
        self.store.last_id(stream)  # raises UnknownStream for a stream not configured

    def start(self, from_start: bool) -> int:
        return 0 if from_start else self.store.last_id(self.stream)

    def page(self, after: int) -> tuple[list[Item], int]:
        items = []
        records = self.store.peek(self.stream, after_id=after, limit=PAGE)
        for record in records:
            try:
                data: Any = orjson.loads(record.payload)
            except orjson.JSONDecodeError:
                data = record.payload
            items.append(Item(record.id, data, record.payload, f"{self.label} #{record.id}",
                              record.appended_at))
        return items, records[-1].id if records else after
