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
    MAX_RECORDS,
    InvalidStreamRequest,
    Start,
    StreamRecord,
    UnknownStream,
    _check_group,
    _start_value,
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


class MemoryStreams:
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
        if poll_interval_secs <= 0:
            raise ValueError(f"poll_interval_secs must be positive, not {poll_interval_secs}.")
        self.poll_interval_secs = poll_interval_secs
        self.clock = clock
        self._limits: dict[str, tuple[float, float]] = {}
        for cfg in settings.streams if settings is not None else ():
            self._limits[cfg.name] = (
                float(cfg.retention_hours) * 3600.0, float(cfg.visibility_timeout_secs))
        self._records: dict[str, list[StreamRecord]] = {name: [] for name in self._limits}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._next_id = 1
        self._lock = threading.Lock()

    @property
    def stream_names(self) -> list[str]:
        return list(self._limits)

    def has_stream(self, stream: str) -> bool:
        return stream in self._limits

    def _limits_of(self, stream: str) -> tuple[float, float]:
        limits = self._limits.get(stream)
        if limits is None:
            known = ", ".join(sorted(self._limits)) or "none"
            raise UnknownStream(
                f"Stream {stream!r} is not configured (configured streams: {known}); "
                "add it under streams in the configuration."
            )
        return limits

    def append(self, conn: SqlConnection, stream: str, payloads: Sequence[str]) -> list[int]:
        self._limits_of(stream)
        now = self.clock()
        with self._lock:
            ids = list(range(self._next_id, self._next_id + len(payloads)))
            self._next_id += len(payloads)
            self._records[stream].extend(
                StreamRecord(i, p, now, 0) for i, p in zip(ids, payloads, strict=True))
        return ids

    async def read(
        self,
        stream: str,
        group: str,
        *,
        max_records: int = 100,
        wait_secs: float = 0.0,
        start: Start = "oldest",
    ) -> list[StreamRecord]:
        retention, visibility = self._limits_of(stream)
        _check_group(group)
        if isinstance(max_records, bool) or not isinstance(max_records, int) or not (
            1 <= max_records <= MAX_RECORDS
        ):
            raise InvalidStreamRequest(
                f"max_records must be an integer from 1 to {MAX_RECORDS}, not {max_records!r}."
            )
        if isinstance(wait_secs, bool) or not isinstance(wait_secs, int | float) or not (
            0 <= wait_secs < float("inf")
        ):
            raise InvalidStreamRequest(
                f"wait_secs must be a number of seconds, 0 or more, not {wait_secs!r}."
            )
        start_at = _start_value(start)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(wait_secs)
        while True:
            records = self._claim(stream, group, start_at, max_records, retention, visibility)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            await asyncio.sleep(min(self.poll_interval_secs, remaining))

    def _claim(
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

    async def ack(self, stream: str, group: str, ids: Sequence[int]) -> int:
        self._limits_of(stream)
        _check_group(group)
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int)]
        if bad:
            raise InvalidStreamRequest(f"Record ids must be integers; got {bad[0]!r}.")
        with self._lock:
            state = self._groups.get((stream, group))
            if state is None:
                return 0
            return sum(1 for i in set(ids) if state.pending.pop(i, None) is not None)

    def peek(self, stream: str, *, after_id: int = 0, limit: int = 100) -> list[StreamRecord]:
        retention, _ = self._limits_of(stream)
        since = self.clock() - retention
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
            for stream, (retention, _) in self._limits.items():
                records = self._records[stream]
                expired = [r.id for r in records if r.appended_at < now - retention]
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
