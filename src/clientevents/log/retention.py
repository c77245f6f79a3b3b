"""Log retention: delete events every consumer has passed, once they are old enough.

An event of a bus is deleted when both hold:

- every consumer group with an offset on that bus (the router, each archive) has committed an
  offset at or past it, and the router is one of them (an event the router has not routed is
  never deleted);
- it was ingested more than ``retention_secs`` ago (default :data:`DEFAULT_RETENTION_SECS`,
  24 hours).

Archives keep their own copies for replays, so trimming the log never shortens an archive.
A record holding several events (one ingest request) goes once all of its events may go.
Deletion runs in chunks of :data:`TRIM_CHUNK` records, one write each, so a large backlog never
makes one long write transaction. Works on any :class:`~clientevents.log.port.EventLogPort`
(a JetStream stream also has its own ``max_age``, the same retention enforced by the server).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from clientevents.log.port import EventLogPort
from clientevents.logthrottle import LogThrottle

__all__ = ["DEFAULT_RETENTION_SECS", "ROUTER_GROUP", "TRIM_CHUNK", "LogRetention"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

DEFAULT_RETENTION_SECS = 24 * 3600.0
"""How long routed events stay in the log by default."""

TRIM_CHUNK = 5_000
"""Most records one trim write deletes."""

ROUTER_GROUP = "router"  # the same group as clientevents.routing.ROUTER_GROUP


class LogRetention:
    """Trims the log of each bus on a schedule.

    Args:
        log: the event log.
        buses: the bus names to trim.
        retention_secs: minimum age (since ingestion) of a deleted event; 0 deletes routed
            events at the next pass.
        interval_secs: seconds between passes of :meth:`run`.
        clock: the time source (epoch seconds), replaceable in tests.
    """

    def __init__(
        self,
        log: EventLogPort,
        buses: Iterable[str],
        *,
        retention_secs: float = DEFAULT_RETENTION_SECS,
        interval_secs: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_secs < 0:
            raise ValueError(f"retention_secs must be 0 or more, not {retention_secs!r}.")
        self.log = log
        self.buses = list(buses)
        self.retention_secs = retention_secs
        self.interval_secs = interval_secs
        self.clock = clock

    def safe_offset(self, bus: str) -> int:
        """The highest ``seq`` of ``bus`` every consumer group has passed (0 = none)."""
        offsets = self.log.offsets(bus)
        if ROUTER_GROUP not in offsets:
            return 0
        return min(offsets.values())

    def trim_once(self) -> int:
        """One pass over every bus; return how many records were deleted."""
        deleted = 0
        cutoff = self.clock() - self.retention_secs
        for bus in self.buses:
            upto = self.safe_offset(bus)
            if upto <= 0:
                continue
            while True:
                n = self.log.trim_before(bus, upto_seq=upto, ingested_before=cutoff,
                                         limit=TRIM_CHUNK)
                deleted += n
                if n < TRIM_CHUNK:
                    break
        if deleted:
            logger.info("Log trimmed.", extra={"deleted": deleted})
        return deleted

    async def run(self, stop: asyncio.Event) -> None:
        """Trim every ``interval_secs`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.trim_once)
            except Exception:  # a failed pass is retried at the next interval
                _THROTTLE.error("trim", "Log trim failed; retrying at the next interval.",
                                exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval_secs)
            except TimeoutError:
                pass

