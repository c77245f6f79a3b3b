"""Delivery-stream targets fed straight from the log: no queue row per event.

A rule target of type ``delivery_stream`` buffers records and writes them in objects; a queue
row per event (inserted by the router, deleted once its object is written) only adds writes.
So each such target of an enabled rule is a consumer of its bus's log, group
``stream:<bus>/<rule>/<target id>``, as the archiver is: :class:`StreamFeed` reads the events
after its offset, keeps those its rule matches (for a replayed event, only when the replay
names the rule), shapes each one as the router would (``input``, ``input_path``,
``input_transformer``), and hands the records to its own :class:`DeliveryStream` engine. It
commits a batch's last position only once every record of that batch (and of every batch
before it) is final, in one write with what the batch left over:

- a record in an object that was written, or in the stream's error output (a processor
  failed it), is delivered: the target's ``delivered`` counter;
- a record whose object could not be written moves to the target's delivery queue (due at
  once; the target's ``BufferedDispatcher`` then retries it under the rule's retry policy and
  dead-letters it when that runs out, as for every queued delivery), and the feed pauses
  reading (1 s, doubling to 30 s) while the store refuses writes;
- an event whose input cannot be shaped is dead-lettered (``TransformError``), as the router
  does.

A read or a commit the state store refuses (:func:`~clientevents.store.outage_errors`: it is
unreachable, locked, out of space) is tried again with a back-off (0.1 s doubling to 2 s) for
as long as the outage lasts, and the feed keeps what it holds meanwhile: a refused commit keeps
its batch and every later one, already in written objects, and commits them in order once the
store takes writes again, instead of reading them again from the committed offset and writing
their objects a second time. Until they are committed nothing more is read (the engine writes
what it buffers at once, so nothing waits for its interval). A retried commit that meets a
:class:`Conflict` although the committed offset covers its batch had committed before its
answer was lost; any other ``Conflict`` (another worker moved the group) and any other error
still make the feed start again from the committed offset.

A crash before the commit feeds the batch again from the same offset (objects written before
the crash are written again: duplicates, only after a crash, after an error other than an
outage, or when a feed stops while the store still refuses its commits after
:data:`FINISH_RETRY_SECS`); a crash after it never feeds it again. Memory is bounded by the
engine's ``has_room`` (its buffering bound).

**One reader per group where the log does not split it.** On the SQL and in-memory logs every
member of a group fetches from the group's one committed offset (the first commit wins), so two
workers feeding the same target would both write the same records into objects before either
committed. There a feed built with an ``owner`` (its worker's id in the worker registry,
:mod:`clientevents.targets.leases`) reads only while it owns its group: a row of
``feed_owners`` it takes when the row is free, its own, or held by a worker no longer in the
registry (stopped, or found gone: killed, or its heartbeat stale), and gives up when it stops.
The others wait, looking again every ``owner_check_secs``, and take over when the owner is
gone. On JetStream (:attr:`~clientevents.log.port.EventLogPort.consumers_share_work`) the
members split the group's messages, and every feed reads.

The router skips these targets (:func:`direct_target_keys`); the feed's offset is registered
at the router's position when a target is first fed this way (:func:`register_feeds`), so the
events the router had already queued for it are delivered from the queue and the later ones
from the log, neither twice. The group of a target that is no longer configured (or whose
rule is disabled) is dropped at the next start so the log's retention does not wait for it.

Example::

    keys = register_feeds(log, settings)           # before the router runs
    router = Router(db, settings, skip=keys)
    feeds = build_feeds(db, log, settings, context, owner=registry.worker_id)
    await asyncio.gather(*(feed.run(stop) for feed in feeds))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from clientevents.config.model import Settings
from clientevents.delivery_stream import Delivered, DeliveryStream, Record, Settlement
from clientevents.errors import Conflict, StoreError
from clientevents.log.port import EventLogPort, LogBatch, LogConsumer
from clientevents.logthrottle import LogThrottle
from clientevents.patterns import EventPattern
from clientevents.routing.rules import TargetRoute, routes_of
from clientevents.store import outage_errors
from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, StateStore
from clientevents.targets.base import TargetContext
from clientevents.targets.counters import SettleCounts, record_settled
from clientevents.targets.delivery_stream import build_store
from clientevents.targets.leases import SCHEMA as _WORKERS_SCHEMA  # noqa: F401 - ``workers``
from clientevents.targets.queue import SQL_DELIVERY_QUEUE, DeadLetter, Delivery
from clientevents.transform import TransformError

__all__ = ["FEED_PREFIX", "StreamFeed", "build_feeds", "direct_target_keys", "register_feeds"]

logger = logging.getLogger(__name__)
_THROTTLE = LogThrottle(logger)

FEED_PREFIX = "stream:"
"""Consumer groups of log-fed delivery-stream targets: ``stream:<target key>``."""

ROUTER_GROUP = "router"

OUTAGE_FIRST_BACKOFF_SECS = 0.1
OUTAGE_MAX_BACKOFF_SECS = 2.0
"""The first and the longest wait before a feed tries again a read or a commit the store
refused (it is unreachable, its disk is full); what the feed holds stays meanwhile."""

OWNER_CHECK_SECS = 1.0
"""How often a feed looks whether it owns its group (an owner, to notice it lost it; the
others, to take over from a gone owner)."""

OWNERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_owners (
    group_name TEXT NOT NULL,
    bus TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    PRIMARY KEY (group_name, bus)
);
"""

register_schema("routing.feed_owners", OWNERS_SCHEMA)

# Take the group when its row is free, already ours, or held by a worker the registry no
# longer lists; then read who holds it.
_CLAIM = ("INSERT INTO feed_owners (group_name, bus, worker_id, claimed_at) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (group_name, bus) DO UPDATE SET worker_id = excluded.worker_id, "
          "claimed_at = excluded.claimed_at WHERE feed_owners.worker_id = excluded.worker_id "
          "OR feed_owners.worker_id NOT IN (SELECT worker_id FROM workers)")
_OWNER = "SELECT worker_id FROM feed_owners WHERE group_name = ? AND bus = ?"
_GIVE_UP = "DELETE FROM feed_owners WHERE group_name = ? AND bus = ? AND worker_id = ?"

FINISH_RETRY_SECS = 30.0
"""How long a stopping feed tries to commit what it holds while the store refuses; after
that the batches are left to be fed again at the next start."""


def _feed_routes(settings: Settings) -> list[tuple[TargetRoute, str, Any]]:
    """(route, delivery stream name, rule pattern) of every delivery-stream target of an
    enabled rule."""
    out = []
    for rule in settings.rules:
        if rule.state != "enabled":
            continue
        routes = routes_of(rule, settings.region, settings.account)
        for route, cfg in zip(routes, rule.targets, strict=True):
            if cfg.type == "delivery_stream":
                out.append((route, str(cfg.delivery_stream), rule.event_pattern))
    return out


def direct_target_keys(settings: Settings) -> frozenset[str]:
    """The target keys fed from the log, which the router must not queue."""
    return frozenset(route.key for route, _, _ in _feed_routes(settings))


def register_feeds(log: EventLogPort, settings: Settings) -> frozenset[str]:
    """Give each log-fed target its consumer group (starting at the router's position, the
    first time) and drop the groups of targets no longer fed; return the keys
    :func:`direct_target_keys` names."""
    keys = direct_target_keys(settings)
    buses = {key: key.split("/", 1)[0] for key in keys}
    for group, bus in log.groups(FEED_PREFIX):
        key = group[len(FEED_PREFIX):]
        if buses.get(key) != bus:
            log.drop_group(group, bus)
            logger.warning("Log-fed target %s is no longer configured; its offset on bus "
                           "%s is dropped.", key, bus)
    for key, bus in buses.items():
        start = log.offset(ROUTER_GROUP, bus)
        if log.ensure_group(FEED_PREFIX + key, bus, start):
            logger.info("Delivery-stream target fed from the log. target=%s start_seq=%d",
                        key, start)
    return keys


def build_feeds(db: StateStore, log: EventLogPort, settings: Settings, ctx: TargetContext,
                *, owner: str | None = None, **options: Any) -> list[StreamFeed]:
    """One :class:`StreamFeed` per log-fed target, each with its own stream engine.

    ``owner`` (this worker's id in the worker registry) makes each feed read only while it
    owns its group, unless the log's members split a group's work between them (see the
    module's doc); without it every feed reads (one worker process)."""
    if log.consumers_share_work:
        owner = None
    feeds = []
    for route, name, pattern in _feed_routes(settings):
        config = next(s for s in settings.delivery_streams if s.name == name)
        stream = DeliveryStream(config, build_store(config, ctx.data_dir),
                                account=settings.account, region=settings.region)
        feeds.append(StreamFeed(db, log, route, EventPattern(pattern), stream, owner=owner,
                                **options))
    return feeds


class _Batch:
    """What one read of the log became: the records still in the engine, the leftovers."""

    __slots__ = ("committed", "dead", "delivered", "failed", "fetched", "pending", "refused")

    def __init__(self, fetched: LogBatch) -> None:
        self.fetched = fetched
        self.pending = 0
        self.committed = False  # its commit went through while an earlier one was refused
        self.refused = False  # a try of its commit was refused by the store
        self.delivered = 0
        self.failed: list[Delivery] = []
        self.dead: list[DeadLetter] = []


class _Token:
    __slots__ = ("batch", "event_id", "event_time", "payload")

    def __init__(self, batch: _Batch, event_id: str, payload: str, event_time: float) -> None:
        self.batch = batch
        self.event_id = event_id
        self.payload = payload
        self.event_time = event_time


class StreamFeed:
    """One delivery-stream target of one rule, fed from its bus's log.

    Args:
        db: the state store (queue rows, dead letters, counters).
        log: the event log the feed consumes (group ``stream:<target key>``).
        route: the target (key, bus, rule, input shaping).
        pattern: the rule's event pattern.
        stream: the target's own engine.
        batch_size: most log events one read takes.
        poll_interval_secs: how often an idle feed looks for new events.
        clock: epoch seconds (arrival times, counters).
        owner: this worker's id in the worker registry: the feed reads only while it owns its
            group (see the module's doc); ``None``: it always reads.
        owner_check_secs: how often the feed looks whether it owns its group.
    """

    def __init__(self, db: StateStore, log: EventLogPort, route: TargetRoute,
                 pattern: EventPattern, stream: DeliveryStream, *, batch_size: int = 2000,
                 poll_interval_secs: float = 0.01,
                 clock: Callable[[], float] = time.time, owner: str | None = None,
                 owner_check_secs: float = OWNER_CHECK_SECS) -> None:
        self.db = db
        self.log = log
        self.route = route
        self.pattern = pattern
        self.stream = stream
        self.group = FEED_PREFIX + route.key
        self.consumer: LogConsumer = log.consumer(route.bus, self.group)
        self.batch_size = batch_size
        self.poll_interval_secs = poll_interval_secs
        self.clock = clock
        self._batches: deque[_Batch] = deque()
        self._paused_until = 0.0
        self._backoff = 0.0
        self._refused = False  # a commit was refused: nothing is read until all held commits
        self._retry_at = 0.0  # no read or commit is tried before (monotonic), in an outage
        self._outage_backoff = 0.0
        self.owner = owner
        self.owner_check_secs = owner_check_secs
        self._owns = owner is None
        self._owner_checked_at = -float("inf")  # monotonic

    # -- owning the group ------------------------------------------------------------------

    async def owns(self) -> bool:
        """Whether this feed may read: it owns its group (looked at in the store at most
        every ``owner_check_secs``), or it has no owner id. A store that refuses the look
        leaves the last answer."""
        owner = self.owner
        if owner is None:
            return True
        now = time.monotonic()
        if now - self._owner_checked_at < self.owner_check_secs:
            return self._owns
        self._owner_checked_at = now
        key = (self.group, self.route.bus)
        stamp = self.clock()

        def claim(conn: SqlConnection) -> bool:
            conn.execute(_CLAIM, (*key, owner, stamp))
            row = conn.execute(_OWNER, key).fetchone()
            return row is not None and row[0] == owner

        try:
            owns = await self.db.awrite(claim)
        except outage_errors(StoreError) as exc:
            self._refuse("the look at who feeds the target", exc)
            return self._owns
        if owns != self._owns:
            if owns:
                logger.info("This worker feeds the target now. target=%s worker=%s",
                            self.route.key, owner)
            else:
                logger.info("Another worker feeds the target; this one waits. target=%s "
                            "worker=%s", self.route.key, owner)
        self._owns = owns
        return owns

    async def _give_up(self) -> None:
        """Free the group for the others (at stop)."""
        if self.owner is None or not self._owns:
            return
        key = (self.group, self.route.bus, self.owner)
        try:
            await self.db.awrite(lambda conn: conn.execute(_GIVE_UP, key))
        except Exception as exc:  # the registry frees it once this worker is gone
            logger.warning("Could not free the target's feed for other workers; they take "
                           "it once this worker is gone. target=%s error=%s",
                           self.route.key, exc)
        self._owns = False

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> tuple[_Batch, list[Record]] | None:
        """Read, match and shape the next batch (no writes); None when caught up."""
        fetched = self.consumer.fetch(self.batch_size)
        records = fetched.records
        if not records:
            return None
        batch = _Batch(fetched)
        route = self.route
        matches = self.pattern.matches
        now = self.clock()
        out: list[Record] = []
        for record in records:
            try:
                event = record.event()
                if not matches(event):
                    continue
            except Exception:  # as the router: an unreadable record must not stop the feed
                logger.exception("Event skipped: it could not be matched. target=%s seq=%d",
                                 route.key, record.seq)
                continue
            if record.replay_rules is not None and route.rule not in (
                    record.replay_rule_names() or []):
                continue
            try:
                payload = route.shape(event, record.body, record.ingested_at)
            except TransformError as exc:
                if route.dead_letter:
                    batch.dead.append(DeadLetter(
                        target_key=route.key, bus=route.bus, rule=route.rule,
                        target_id=route.target_id, event_id=record.event_id,
                        payload=record.body, error_code="TransformError",
                        error_message=str(exc), attempts=0, exhausted="TransformError",
                        event_time=record.time, failed_at=now))
                else:
                    logger.error("Delivery dropped: its input could not be shaped and the "
                                 "target keeps no dead letters. target=%s event_id=%s error=%s",
                                 route.key, record.event_id, exc)
                continue
            token = _Token(batch, record.event_id, payload, record.time)
            out.append(Record(payload.encode("utf-8"), now, token))
        batch.pending = len(out)
        return batch, out

    # -- settling --------------------------------------------------------------------------

    def _settle(self, settlements: list[Settlement]) -> None:
        now = self.clock()
        failures = 0
        for token, outcome in settlements:
            assert isinstance(token, _Token)
            batch = token.batch
            batch.pending -= 1
            if isinstance(outcome, Delivered):
                batch.delivered += 1
                continue
            failures += 1
            batch.failed.append(Delivery(
                self.route.key, self.route.bus, self.route.rule, self.route.target_id,
                token.event_id, token.payload, token.event_time, now, None))
        if failures:
            self._backoff = min(30.0, max(1.0, self._backoff * 2))
            self._paused_until = time.monotonic() + self._backoff
            logger.warning("Delivery stream writes failed; %d records moved to the target's "
                           "queue for retries; reading pauses %.0f s. target=%s",
                           failures, self._backoff, self.route.key)
        elif settlements:
            self._backoff = 0.0

    async def _commit_done(self) -> int:
        """Commit every leading batch that is final, in order; return how many events it
        covered.

        A commit the store refuses (:func:`~clientevents.store.outage_errors`) keeps its batch,
        and every later one, to be committed again after a back-off: their objects are written
        and are not written again. Until every batch held then is committed nothing more is
        read (the consumer forgot its place at the refusal and reads on from the committed
        offset), so the engine writes what it buffers at once. A :class:`Conflict` (another
        worker moved the group) is raised, unless the batch's refused try did commit (its
        answer was lost: the committed offset covers it).
        """
        if self._refused and time.monotonic() < self._retry_at:
            return 0
        done: list[_Batch] = []
        for batch in self._batches:
            if batch.pending:
                break
            done.append(batch)
            if self._refused and not batch.committed:
                break  # after a refusal: one commit at a time until the store takes them
        if not done:
            return 0
        pending = [(batch, None if batch.committed
                    else self.consumer.submit(batch.fetched, self._writer(batch)))
                   for batch in done]
        refused: BaseException | None = None
        count = 0
        for batch, commit in pending:
            if commit is not None:
                try:
                    await asyncio.to_thread(commit.wait)
                except Conflict:
                    if refused is not None:
                        continue  # it starts where the refused commit before it would end
                    if not batch.refused:
                        raise
                    try:
                        covered = await self._covered(batch)
                    except outage_errors(StoreError) as exc:
                        refused = exc
                        continue
                    if not covered:
                        raise
                except outage_errors(StoreError) as exc:
                    batch.refused = True
                    if refused is None:
                        refused = exc
                    continue
            if refused is not None:
                batch.committed = True  # (hand-off rows) it went through; the earlier did not
                continue
            assert self._batches[0] is batch
            self._batches.popleft()
            count += len(batch.fetched)
        if refused is not None:
            self._refuse("a commit", refused)
            if not self._refused:
                self._refused = True
                # Nothing is read until the held batches are committed: write them out now.
                self._settle(await self.stream.flush(everything=True))
        else:
            self._outage_over()
            if self._refused and not self._batches:
                self._refused = False  # everything held is committed: read on
        return count

    async def _covered(self, batch: _Batch) -> bool:
        """Whether the group's committed offset covers ``batch``."""
        bus = self.route.bus
        offset = await asyncio.to_thread(self.log.offset, self.group, bus)
        return offset >= batch.fetched.last_seq

    def _refuse(self, what: str, exc: BaseException) -> None:
        """The store refused a read or a commit: back off (what the feed holds stays)."""
        backoff = min(OUTAGE_MAX_BACKOFF_SECS,
                      max(OUTAGE_FIRST_BACKOFF_SECS, self._outage_backoff * 2))
        self._outage_backoff = backoff
        self._retry_at = time.monotonic() + backoff
        _THROTTLE.warning(
            f"feed-outage:{self.route.key}", "The store refused %s of the feed; it keeps what "
            "it holds and tries again in %.1f s. target=%s held_batches=%d error=%s",
            what, backoff, self.route.key, len(self._batches), exc)

    def _outage_over(self) -> None:
        if self._outage_backoff:
            self._outage_backoff = 0.0
            logger.warning("The store takes the feed's reads and commits again. target=%s",
                           self.route.key)

    def _writer(self, batch: _Batch) -> Callable[[SqlConnection], None]:
        failed, dead = batch.failed, batch.dead
        counts = SettleCounts(delivered=batch.delivered, dead_lettered=len(dead))
        now = self.clock()
        key = self.route.key

        def write(conn: SqlConnection) -> None:
            if failed:
                SQL_DELIVERY_QUEUE.enqueue(conn, failed)
            if dead:
                SQL_DELIVERY_QUEUE.dead_letter(conn, dead)
            record_settled(conn, key, counts, now)

        return write

    # -- the worker loop -------------------------------------------------------------------

    async def step(self) -> int:
        """Read one batch if there is room, write what is due, commit what is final; return
        how many log events were read (0: caught up, paused, or the store refuses)."""
        read = 0
        settled: list[Settlement] = []
        now = time.monotonic()
        if (self.stream.has_room() and not self._refused and now >= self._paused_until
                and now >= self._retry_at and await self.owns()):
            try:
                got = await asyncio.to_thread(self._read)
            except Conflict:
                raise
            except outage_errors(StoreError) as exc:
                self._refuse("a read", exc)  # nothing was taken from the log
                got = None
            if got is not None:
                batch, records = got
                self._batches.append(batch)
                read = len(batch.fetched)
                settled += await self.stream.put(records)
        due = self.stream.next_flush_at()
        if due is not None and due <= self.stream.clock():
            settled += await self.stream.flush()
        self._settle(settled)
        await self._commit_done()
        return read

    async def finish(self) -> None:
        """Write everything buffered and commit it (at stop). While the store refuses, try
        again for up to :data:`FINISH_RETRY_SECS`; then leave the rest to be fed again."""
        self._settle(await self.stream.flush(everything=True))
        deadline = time.monotonic() + FINISH_RETRY_SECS
        try:
            await self._commit_done()
            while self._refused and self._batches and time.monotonic() < deadline:
                await asyncio.sleep(max(0.01, self._retry_at - time.monotonic()))
                await self._commit_done()
        except Conflict as exc:
            # Another worker moved the group past (part of) what this one held: it reads on
            # from there, and what it had not passed it reads again.
            logger.warning("Feed offset moved by another worker while this one stopped; "
                           "what it held is read again from the committed offset. %s", exc)
            self._batches.clear()
        if self._batches:
            logger.warning("The feed stopped while the store refused its commits; %d events "
                           "will be fed again at the next start (their objects twice). "
                           "target=%s", sum(len(b.fetched) for b in self._batches),
                           self.route.key)

    async def run(self, stop: asyncio.Event) -> None:
        """Feed the stream until ``stop`` is set, then write and commit what it holds."""
        try:
            while not stop.is_set():
                try:
                    busy = await self.step()
                except Conflict as exc:
                    logger.warning("Feed offset moved by another worker; reloading. %s", exc)
                    await self._restart()
                    continue
                except Exception:  # not an outage (step waits those out): start afresh
                    _THROTTLE.error("feed", "Feeding the delivery stream failed; retrying in "
                                    "1 second from the committed offset.", exc_info=True)
                    await _wait(stop, 1.0)
                    with contextlib.suppress(Exception):
                        await self._restart()
                    continue
                if busy == 0:
                    await _wait(stop, self.poll_interval_secs)
            await self.finish()
        finally:
            await self._give_up()
            self.consumer.close()
            await self.stream.store.close()

    async def _restart(self) -> None:
        """Forget what is in flight (it will be read again from the committed offset)."""
        self._settle(await self.stream.flush(everything=True))
        self._batches.clear()
        self._refused = False
        self._retry_at = 0.0
        self.consumer.rewind()


async def _wait(stop: asyncio.Event, secs: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=secs)
    except TimeoutError:
        pass
