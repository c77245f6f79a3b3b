"""The streams in memory: one process, for tests and the proof that the seam holds.

:class:`MemoryStreams` implements :class:`~clientevents.streams.port.StreamsPort` with
dictionaries under a lock. :meth:`MemoryStreams.append` takes the caller's ``conn`` and ignores
it: there is no transaction, so an append is visible at once and a caller's write that fails
afterwards does not take it back (:class:`~clientevents.streams.store.StreamStore` is the one
whose appends commit and roll back with the caller's write). Everything else in the port's
contract holds: groups, in-flight records and their visibility timeout, retention, trims.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clientevents.streams.store import (
    StreamRecord,
    _StreamLimits,
    _Streams,
)

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.store.port import SqlConnection

__all__ = ["MemoryStreams"]


@dataclass(slots=True)
class _Group:
    position: int
    created_at: float
    #: in-flight record id -> (delivery count, visible again at)
    pending: dict[int, tuple[int, float]] = field(default_factory=dict)


class MemoryStreams(_Streams):
    """The configured streams, kept in this process's memory (lost when it ends).

    Args:
        settings: the configuration; its ``streams`` are the streams that exist.
        poll_interval_secs: how often a waiting reader looks for new records.
        clock: the time source (epoch seconds).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        poll_interval_secs: float = 0.01,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, poll_interval_secs=poll_interval_secs, clock=clock)
        self._records: dict[str, list[StreamRecord]] = {name: [] for name in self._limits}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    def append(self, conn: SqlConnection, stream: str, payloads: Sequence[str]) -> list[int]:
        self._limits_of(stream)
        now = self.clock()
        with self._lock:
            ids = list(range(self._next_id, self._next_id + len(payloads)))
            self._next_id += len(payloads)
            self._records[stream].extend(
                StreamRecord(i, p, now, 0) for i, p in zip(ids, payloads, strict=True))
        return ids

    async def _claim(
        self, stream: str, group: str, start: str | float, limit: int, limits: _StreamLimits
    ) -> list[StreamRecord]:
        return self._claim_now(stream, group, start, limit, limits.retention_secs,
                               limits.visibility_timeout_secs)

    async def _wait(
        self, stream: str, group: str, limits: _StreamLimits, timeout: float
    ) -> bool:
        await asyncio.sleep(timeout)
        return True

    def _claim_now(
        self, stream: str, group: str, start: str | float, limit: int, retention: float,
        visibility: float,
    ) -> list[StreamRecord]:
        now = self.clock()
        cutoff = now - retention
        visible_at = now + visibility
        with self._lock:
            records = self._records[stream]
            state = self._groups.get((stream, group))
            if state is None:
                state = self._groups[(stream, group)] = _Group(
                    self._start_position(records, start), now)
            by_id = {r.id: r for r in records}
            out: list[StreamRecord] = []
            for record_id in sorted(state.pending):
                count, visible = state.pending[record_id]
                record = by_id.get(record_id)
                if len(out) >= limit:
                    break
                if visible > now or record is None or record.appended_at < cutoff:
                    continue
                state.pending[record_id] = (count + 1, visible_at)
                out.append(StreamRecord(record_id, record.payload, record.appended_at, count + 1))
            for record in records:
                if len(out) >= limit:
                    break
                if record.id <= state.position or record.appended_at < cutoff:
                    continue
                state.pending[record.id] = (1, visible_at)
                state.position = record.id
                out.append(StreamRecord(record.id, record.payload, record.appended_at, 1))
            return out

    @staticmethod
    def _start_position(records: list[StreamRecord], start: str | float) -> int:
        if start == "oldest":
            return 0
        last = records[-1].id if records else 0
        if start == "latest":
            return last
        first = next((r.id for r in records if r.appended_at >= float(start)), None)
        return last if first is None else first - 1

    async def _settle(self, stream: str, group: str, ids: list[int]) -> int:
        with self._lock:
            state = self._groups.get((stream, group))
            if state is None:
                return 0
            return sum(1 for i in set(ids) if state.pending.pop(i, None) is not None)

    def peek(self, stream: str, *, after_id: int = 0, limit: int = 100) -> list[StreamRecord]:
        since = self.clock() - self._limits_of(stream).retention_secs
        with self._lock:
            found = [r for r in self._records[stream] if r.id > after_id and r.appended_at >= since]
        return [StreamRecord(r.id, r.payload, r.appended_at, 0) for r in found[:limit]]

    def last_id(self, stream: str) -> int:
        self._limits_of(stream)
        with self._lock:
            records = self._records[stream]
            return records[-1].id if records else 0

    def groups(self, stream: str) -> list[dict[str, Any]]:
        self._limits_of(stream)
        with self._lock:
            records = self._records[stream]
            return [
                {"group": name, "position": g.position, "created_at": g.created_at,
                 "in_flight": len(g.pending),
                 "lag": sum(1 for r in records if r.id > g.position)}
                for (s, name), g in sorted(self._groups.items()) if s == stream
            ]

    def trim(self) -> int:
        now = self.clock()
        total = 0
        with self._lock:
            for stream, limits in self._limits.items():
                records = self._records[stream]
                expired = [r.id for r in records
                           if r.appended_at < now - limits.retention_secs]
                if not expired:
                    continue
                last = max(expired)
                kept = [r for r in records if r.id > last]
                total += len(records) - len(kept)
                self._records[stream] = kept
                for (s, _name), g in self._groups.items():
                    if s == stream:
                        g.pending = {i: v for i, v in g.pending.items() if i > last}
        return total
