"""The router: reads every bus's log as consumer group ``router``, matches each event against
the bus's enabled rules, shapes each matched target's input, and enqueues the deliveries.

The router reads through the event-log port (:mod:`clientevents.log.port`) as a member of
consumer group ``router``: one batch (at most ``batch_size`` events of one bus) is one
consumer commit, whose state-store write holds the deliveries and the dead letters, and which
marks the batch consumed (the SQL log: the offset in the same transaction; JetStream: a
hand-off record in the same transaction, then the acknowledgement). A crash before the commit
routes the whole batch again, a crash after it routes none of it again, so a hand-off is
neither lost nor doubled, and any number of routers may share the group. Memory is bounded
by one batch: the backlog stays in the log and the delivery queues are in the state store.

The router does no network I/O of its own (a JetStream log fetches over the network). It
runs on its own thread (matching is CPU work and must not
stall the event loop that runs the dispatchers); when every bus is caught up it watches the
store's change token for the log (``StateStore.change_token(LOG_CHANNEL)``: SQLite's
``data_version``, or the count of PostgreSQL notifications of appends, in this process or
another) every ``poll_interval_secs`` and reads again as soon as it moves.

Example::

    router = Router(db, settings)
    await router.route_once()        # tests: route one batch of every bus
    router.drain()                   # route everything in the logs now (pipelined)
    await router.run(stop)           # workers: until stop is set
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from clientevents.config.model import Settings
from clientevents.errors import Conflict
from clientevents.log.eventlog import LOG_CHANNEL, EventLog, LogRecord
from clientevents.log.port import EventLogPort, LogBatch, LogConsumer, PendingCommit
from clientevents.logthrottle import LogThrottle
from clientevents.routing.counters import record_matches
from clientevents.routing.rules import BusRoutes, build_routes
from clientevents.store.port import SqlConnection, StateStore
from clientevents.targets.queue import SQL_DELIVERY_QUEUE, DeadLetter, Delivery
from clientevents.transform import TransformError

__all__ = ["ROUTER_GROUP", "RoutedBatch", "Router"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

ROUTER_GROUP = "router"
"""The router's consumer group in ``consumer_offsets``."""


class RoutedBatch:
    """What one batch of one bus produced (the contents of one write)."""

    __slots__ = ("bus", "dead", "deliveries", "events", "last_seq", "matched", "minute")

    def __init__(self, bus: str, events: int, last_seq: int, minute: int = 0) -> None:
        self.bus = bus
        self.events = events
        self.last_seq = last_seq
        self.minute = minute
        self.deliveries: list[Delivery] = []
        self.dead: list[DeadLetter] = []
        self.matched: dict[str, int] = {}


class Router:
    """Routes the events of every configured bus to the queues of the matching rules' targets.

    Args:
        db: the shared database.
        settings: buses, rules, targets, account and region.
        batch_size: most events one transaction routes.
        poll_interval_secs: how often an idle router checks the database for new events.
        idle_wait_secs: how long an idle router's fetch waits for events on a log outside the
            database (JetStream), per pass over every bus.
        log: the event log (default: the SQL log in ``db``).
        clock: the time source (epoch seconds) for ``enqueued_at``.
        skip: target keys the router does not queue (delivery-stream targets fed from the
            log, :mod:`clientevents.routing.direct`); their rules' matches are still counted.
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        *,
        batch_size: int = 500,
        poll_interval_secs: float = 0.002,
        idle_wait_secs: float = 0.25,
        clock: Callable[[], float] = time.time,
        log: EventLogPort | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        self.db = db
        self.log: EventLogPort = EventLog(db) if log is None else log
        self.routes: dict[str, BusRoutes] = build_routes(settings)
        for table in self.routes.values():
            for name, routes in table.targets.items():
                table.targets[name] = tuple(r for r in routes if r.key not in skip)
        self.batch_size = batch_size
        self.poll_interval_secs = poll_interval_secs
        self.idle_wait_secs = idle_wait_secs
        self.clock = clock
        self._consumers: dict[str, LogConsumer] = {}

    # -- one pass --------------------------------------------------------------------------

    async def route_once(self) -> int:
        """Route at most one batch of every bus; return how many events were routed."""
        return await asyncio.to_thread(self.route_pass)

    def route_pass(self) -> int:
        """Blocking :meth:`route_once`: one batch of every bus, each in its own write."""
        total = 0
        for bus in self.routes:
            total += self.route_bus(bus)
        return total

    def route_bus(self, bus: str) -> int:
        """Route the next batch of ``bus``; return how many events it held (0 = caught up)."""
        consumer = self._consumer(bus)
        fetched = consumer.fetch(self.batch_size)
        if not fetched.records:
            return 0
        batch = self.route_records(bus, fetched.records)
        try:
            consumer.commit(fetched, partial(Router._commit, batch=batch))
        except Conflict as exc:
            _THROTTLE.warning("handed-off", "Router batch handed off by another router; "
                              "fetching afresh. %s", exc)
            return 0
        return batch.events

    def drain(self, max_batches: int = 20, wait_secs: float = 0.0) -> int:
        """Route the events now in the logs, at most ``max_batches`` batches of each bus in
        turn (so one bus's backlog never holds the others up); return how many were routed.
        ``wait_secs``: how long each bus's first fetch may wait for events (split between the
        buses), for logs that are waited on rather than polled.

        Pipelined: while one batch's write commits (page writes and fsync, which hold no
        lock Python code needs), the next batch is fetched and routed; it is submitted once
        the first has committed. At most two batches are in memory.
        """
        total = 0
        share = wait_secs / max(1, len(self.routes))
        for bus in self.routes:
            total += self._drain_bus(bus, max_batches, share)
        return total

    def _drain_bus(self, bus: str, max_batches: int, wait_secs: float = 0.0) -> int:
        routed = 0
        consumer = self._consumer(bus)
        inflight: tuple[PendingCommit[None], RoutedBatch] | None = None
        batches = 0
        while True:
            fetched: LogBatch | None = None
            if batches < max_batches:
                fetched = consumer.fetch(self.batch_size, wait_secs if batches == 0 else 0.0)
                batches += 1
            batch = (
                self.route_records(bus, fetched.records)
                if fetched is not None and fetched.records else None
            )
            if inflight is not None:
                try:
                    inflight[0].wait()
                except Conflict as exc:  # another router handed it off: fetch afresh, stop
                    _THROTTLE.warning("handed-off", "Router batch handed off by another "
                                      "router; fetching afresh. %s", exc)
                    return routed
                routed += inflight[1].events
            if batch is None or fetched is None:
                return routed
            inflight = (consumer.submit(fetched, partial(Router._commit, batch=batch)), batch)

    def _consumer(self, bus: str) -> LogConsumer:
        consumer = self._consumers.get(bus)
        if consumer is None:
            consumer = self._consumers[bus] = self.log.consumer(bus, ROUTER_GROUP)
        return consumer

    def _rewind(self) -> None:
        for consumer in self._consumers.values():
            consumer.rewind()

    def close(self) -> None:
        """Stop consuming: what this router fetched and did not commit goes to the others."""
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()

    @staticmethod
    def _commit(conn: SqlConnection, batch: RoutedBatch) -> None:
        if batch.deliveries:
            SQL_DELIVERY_QUEUE.enqueue(conn, batch.deliveries)
        if batch.dead:
            SQL_DELIVERY_QUEUE.dead_letter(conn, batch.dead)
        record_matches(conn, batch.bus, batch.matched, minute=batch.minute)

    def route_records(self, bus: str, records: list[LogRecord]) -> RoutedBatch:
        """Match and shape ``records`` (no I/O); the deliveries and dead letters they make."""
        # Hot path: per event one JSON parse and one matcher call; per match one shape call.
        table = self.routes[bus]
        matches = table.matcher.matches_for_event
        targets = table.targets
        now = self.clock()
        batch = RoutedBatch(bus, len(records), records[-1].seq, int(now // 60))
        add = batch.deliveries.append
        matched = batch.matched
        for record in records:
            try:
                event: Any = record.event()
                names = matches(event)
            except Exception:  # a record that cannot be matched must not stop its bus
                logger.exception(
                    "Event skipped: it could not be matched. bus=%s seq=%d event_id=%s",
                    bus, record.seq, record.event_id,
                )
                continue
            if not names:
                continue
            if record.replay_rules is not None:
                allowed = record.replay_rule_names() or []
                names = names.intersection(allowed)
            for name in names:
                matched[name] = matched.get(name, 0) + 1
                for route in targets[name]:
                    try:
                        payload = route.shape(event, record.body, record.ingested_at)
                        attributes = route.attributes(event) if route.attributes else None
                    except TransformError as exc:
                        self._transform_failed(batch, route.key, name, route.target_id,
                                               route.dead_letter, record, exc, now)
                        continue
                    add(Delivery(route.key, bus, name, route.target_id, record.event_id,
                                 payload, record.time, now, attributes))
        return batch

    @staticmethod
    def _transform_failed(
        batch: RoutedBatch,
        key: str,
        rule: str,
        target_id: str,
        keep: bool,
        record: LogRecord,
        exc: TransformError,
        now: float,
    ) -> None:
        if not keep:
            logger.error(
                "Delivery dropped: its input could not be shaped and the target keeps no dead "
                "letters. target=%s event_id=%s error=%s", key, record.event_id, exc,
            )
            return
        logger.warning(
            "Delivery dead-lettered: its input could not be shaped. target=%s event_id=%s",
            key, record.event_id,
        )
        batch.dead.append(
            DeadLetter(
                target_key=key,
                bus=batch.bus,
                rule=rule,
                target_id=target_id,
                event_id=record.event_id,
                payload=record.body,
                error_code="TransformError",
                error_message=str(exc),
                attempts=0,
                exhausted="TransformError",
                event_time=record.time,
                failed_at=now,
            )
        )

    # -- the worker loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Route on a dedicated thread until ``stop`` is set; finish the batch in flight."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        halt = threading.Event()

        def body() -> None:
            try:
                self._loop(halt)
            finally:
                loop.call_soon_threadsafe(_finish, finished)

        thread = threading.Thread(target=body, name="clientevents-router", daemon=True)
        thread.start()
        stopping = asyncio.ensure_future(stop.wait())
        waiting: list[asyncio.Future[Any]] = [stopping, finished]
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.set()
            stopping.cancel()
            await asyncio.shield(finished)

    def _loop(self, halt: threading.Event) -> None:
        # The SQL log in this store is polled through the store's change token (cheap, and it
        # sees other processes' commits); any other log is waited on by its fetch.
        polled = isinstance(self.log, EventLog) and self.log.db is self.db
        try:
            while not halt.is_set():
                try:
                    if not polled:
                        self.drain(wait_secs=self.idle_wait_secs)
                        continue
                    version = self.db.change_token(LOG_CHANNEL)
                    if self.drain() > 0:
                        continue
                    while not halt.wait(self.poll_interval_secs):
                        if self.db.change_token(LOG_CHANNEL) != version:
                            break
                except Exception:  # e.g. the store is unreachable; try again shortly
                    _THROTTLE.error("route", "Routing failed; retrying in 1 second.",
                                    exc_info=True)
                    self._rewind()
                    halt.wait(1.0)
        finally:
            self.close()


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
