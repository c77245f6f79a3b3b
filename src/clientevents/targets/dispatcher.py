"""Dispatchers: one independent worker per configured target, delivering its queue.

Each target gets its own asyncio task running :class:`Dispatcher`'s loop:

1. **fetch**: claim at most ``batch_size`` due deliveries (:func:`~.queue.claim_due`); the
   rest of the backlog stays on disk, so memory stays bounded however far a target falls
   behind;
2. **send**: ``Target.send_batch`` under a timeout (a timeout is a transient failure);
3. **finish**: in one write, remove what was delivered, reschedule transient failures with
   backoff (:mod:`.retry`), dead-letter what is exhausted or permanently refused.

A slow or failing target only slows its own task: a batch in flight holds nothing another
target needs, and targets do blocking I/O in threads. A crash between 1 and 3 loses nothing:
the claimed deliveries become due again when their lease runs out, or as soon as another worker
sees that the claiming worker is gone (:mod:`.leases`): at-least-once. Targets
that write into the same database (:class:`~.base.LocalTarget`: bus, stream) do steps 2 and 3
in one transaction, so their hand-off is exactly once.

Example::

    dispatchers = Dispatchers(db, settings, TargetContext(db, settings, data_dir, publisher,
                                                          streams))
    await dispatchers.run(stop)          # until stop is set
    await dispatchers.drain_once()       # tests: deliver everything due now, once
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clientevents.errors import Conflict, NotFound, StoreError
from clientevents.logthrottle import LogThrottle
from clientevents.store import outage_errors
from clientevents.targets.base import LocalTarget, Ok, Outcome, Permanent, Retry, Target
from clientevents.targets.counters import SettleCounts, record_settled
from clientevents.targets.queue import (
    SQL_DELIVERY_QUEUE,
    ClaimedDelivery,
    DeliveryQueue,
    target_key,
)
from clientevents.targets.registry import TargetFactory, build_target
from clientevents.targets.retry import (
    DEFAULT_BACKOFF,
    Backoff,
    GiveUp,
    RetryLimits,
    next_step,
    outcome_for_error,
)

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.store.port import SqlConnection, StateStore
    from clientevents.targets.base import TargetContext

__all__ = ["DispatchOptions", "Dispatcher", "Dispatchers"]

logger = logging.getLogger("clientevents.targets")
_THROTTLE = LogThrottle(logger)

PREFETCH = 32
"""Deliveries a target with ``max_in_flight`` claims ahead of its free call slots (at most
the dispatcher's ``batch_size``; at least ``max_in_flight``)."""

_MOST_UNSETTLED = 4096
"""Answered deliveries waiting for their settle write beyond which no new call starts."""

SETTLE_FIRST_BACKOFF_SECS = 0.1
SETTLE_MAX_BACKOFF_SECS = 2.0
"""The first and the longest wait between two tries of a settle write the store refused
(:meth:`Dispatcher.settle_write`)."""


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """How dispatchers work; the defaults suit production, tests shrink the times.

    Attributes:
        batch_size: most deliveries one target claims at a time (bounds memory).
        lease_secs: how long a claim hides a delivery; after that an unfinished delivery (its
            worker crashed) is due again. Must exceed ``send_timeout_secs``.
        send_timeout_secs: a batch taking longer counts as a transient ``Timeout``.
        poll_interval_secs: longest an idle dispatcher waits before looking for new work.
        backoff: the retry delay schedule.
        clock: the time source (epoch seconds).
    """

    batch_size: int = 100
    lease_secs: float = 120.0
    send_timeout_secs: float = 60.0
    poll_interval_secs: float = 0.2
    backoff: Backoff = DEFAULT_BACKOFF
    clock: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}.")
        if self.poll_interval_secs <= 0:
            raise ValueError(
                f"poll_interval_secs must be positive, not {self.poll_interval_secs}."
            )
        if self.lease_secs <= self.send_timeout_secs:
            raise ValueError(
                f"lease_secs ({self.lease_secs}) must exceed send_timeout_secs "
                f"({self.send_timeout_secs}), or a slow send would be delivered twice."
            )


class Dispatcher:
    """Delivers one target's queue. :class:`Dispatchers` makes one per configured target."""

    def __init__(
        self,
        db: StateStore,
        key: str,
        target: Target,
        *,
        limits: RetryLimits,
        keep_dead_letters: bool,
        options: DispatchOptions,
        owner: str | None = None,
        queue: DeliveryQueue = SQL_DELIVERY_QUEUE,
    ) -> None:
        self.db = db
        self.queue = queue
        self.owner = owner
        self.key = key
        self.target = target
        self.limits = limits
        self.keep_dead_letters = keep_dead_letters
        self.options = options
        self.batch_size = min(options.batch_size, target.max_batch_size or options.batch_size)
        self.send_timeout_secs = target.send_timeout_secs or options.send_timeout_secs
        self.lease_secs = max(options.lease_secs, 2 * self.send_timeout_secs)
        self.admit_wait_secs = 0.0
        self._in_flight = 0
        self._claim_full = False  # the last claim got all it asked for: more may be due

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; finish the batch in flight, then return."""
        if self.target.max_in_flight is not None:
            await self._run_pipelined(stop, max(1, self.target.max_in_flight))
            return
        opts = self.options
        while not stop.is_set():
            try:
                due = await asyncio.to_thread(self.db.read, self._next_due)
                now = opts.clock()
                if due is not None and due <= now and await self.process() > 0:
                    continue
                wait = self._idle_wait(due, now)
            except Exception:
                _THROTTLE.error(f"dispatch:{self.key}", "Dispatcher failed; retrying. target=%s",
                                self.key, exc_info=True)
                wait = max(opts.poll_interval_secs, 1.0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass

    def _idle_wait(self, due: float | None, now: float) -> float:
        """How long to wait before looking again (no work, or the target admitted none)."""
        opts = self.options
        if due is not None and due <= now and self.admit_wait_secs > 0:
            return max(self.admit_wait_secs, 0.001)
        wait = opts.poll_interval_secs
        if due is not None:
            wait = min(wait, max(due - now, 0.0))
        return max(wait, min(0.005, opts.poll_interval_secs))

    async def _run_pipelined(self, stop: asyncio.Event, limit: int) -> None:
        """The loop for targets with ``max_in_flight``: each delivery is a call of its own.

        Three things overlap, so that neither database write waits for a call nor a call for
        a write:

        - **claim ahead**: while calls run, the next deliveries are claimed (one write for up
          to :data:`PREFETCH` of them, or ``limit`` if more) into a local line, so a free
          call slot starts the next call at once; claiming again right away while the last
          claim came back full, and looking at the queue first (a read) only when it did not;
        - **calls**: at most ``limit`` at once, each under ``send_timeout_secs``; a slot is
          free again as soon as the call's outcome is known;
        - **settling**: outcomes gather while a settle write is running and are settled
          together by the next one (deletes, reschedules, dead letters and counters in one
          write). A delivery is deleted only after its call's outcome; until it is settled its
          claim's lease keeps it from other workers.

        A delivery that waited in the line so long that its lease could end during the call
        is not sent (its lease runs out; it is due again). On stop, claiming stops, the calls
        in flight finish and are settled, and the claimed deliveries not yet sent go back to
        the queue unspent (:func:`~.queue.unclaim`).
        """
        opts = self.options
        ahead = max(limit, min(PREFETCH, opts.batch_size))
        stale_after = self.lease_secs - self.send_timeout_secs
        line: collections.deque[tuple[ClaimedDelivery, float]] = collections.deque()
        calls: set[asyncio.Task[None]] = set()
        answered: list[tuple[ClaimedDelivery, Outcome]] = []
        settler: asyncio.Task[None] | None = None
        claimer: asyncio.Task[tuple[list[ClaimedDelivery], float]] | None = None
        look_at = 0.0  # monotonic time of the next look for due deliveries
        self._claim_full = False
        stopping = asyncio.ensure_future(stop.wait())

        async def call(delivery: ClaimedDelivery) -> None:
            try:
                [outcome] = await self._send(self.target, [delivery])
                answered.append((delivery, outcome))
            finally:
                self._in_flight -= 1

        async def settle() -> None:
            while answered:
                batch = answered[:]
                answered.clear()
                try:
                    await self.settle_write(functools.partial(
                        self._settle, batch=[d for d, _ in batch],
                        outcomes=[o for _, o in batch]), len(batch))
                except Exception:
                    # The claims stay; they are due again when the lease runs out.
                    logger.exception("Settling deliveries failed. target=%s count=%d",
                                     self.key, len(batch))

        try:
            while not stop.is_set():
                now = time.monotonic()
                while line and self._in_flight < limit and len(answered) < _MOST_UNSETTLED:
                    delivery, claimed_at = line.popleft()
                    if now - claimed_at > stale_after:
                        self.target.release(1)  # its lease runs out; it is due again
                        continue
                    self._in_flight += 1
                    task = asyncio.create_task(call(delivery))
                    calls.add(task)
                    task.add_done_callback(calls.discard)
                if answered and (settler is None or settler.done()):
                    settler = asyncio.create_task(settle())
                room = limit + ahead - self._in_flight - len(line)
                wants = room >= max(1, ahead // 2)
                if claimer is None and wants and now >= look_at:
                    claimer = asyncio.create_task(self._claim_ahead(room))
                waiters: set[asyncio.Future[Any]] = {stopping, *calls}
                if claimer is not None:
                    waiters.add(claimer)
                if settler is not None and not settler.done():
                    waiters.add(settler)
                # Without a claim running: until the next look if one is wanted, else until
                # a call answers (which makes room) or a settle write ends.
                timeout = (max(look_at - now, 0.0) if claimer is None and wants else None)
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if claimer is not None and claimer.done():
                    look_at = self._claimed(claimer, line)
                    claimer = None
        finally:
            stopping.cancel()
            if claimer is not None:
                await asyncio.wait({claimer})
                self._claimed(claimer, line)
            if calls:
                await asyncio.gather(*calls, return_exceptions=True)
            if settler is not None:
                await asyncio.gather(settler, return_exceptions=True)
            await settle()
            if line:
                await self._unclaim([d for d, _ in line])

    async def _claim_ahead(self, want: int) -> tuple[list[ClaimedDelivery], float]:
        """Claim up to ``want`` deliveries; ``(claimed, seconds to wait if none)``."""
        opts = self.options
        if not self._claim_full:
            due = await asyncio.to_thread(self.db.read, self._next_due)
            now = opts.clock()
            if due is None or due > now:
                return [], self._idle_wait(due, now)
        claimed, batch = await self._claim(None, want)
        self._claim_full = claimed >= want
        if claimed == 0:
            now = opts.clock()
            return [], self._idle_wait(now if self.admit_wait_secs > 0 else None, now)
        return batch, 0.0

    def _claimed(
        self,
        claimer: asyncio.Task[tuple[list[ClaimedDelivery], float]],
        line: collections.deque[tuple[ClaimedDelivery, float]],
    ) -> float:
        """Put a finished claim's deliveries in ``line``; the monotonic time to look again."""
        now = time.monotonic()
        try:
            batch, wait = claimer.result()
        except Exception:
            self._claim_full = False
            _THROTTLE.error(f"dispatch:{self.key}", "Dispatcher failed; retrying. target=%s",
                            self.key, exc_info=True)
            return now + max(self.options.poll_interval_secs, 1.0)
        line.extend((d, now) for d in batch)
        return now + wait

    async def _unclaim(self, deliveries: list[ClaimedDelivery]) -> None:
        """Give claimed deliveries that were not sent back to the queue (stopping)."""
        self.target.release(len(deliveries))
        now = self.options.clock()
        try:
            await self.db.awrite(lambda conn: self.queue.unclaim(conn, deliveries, now=now))
        except Exception:
            logger.exception("Returning unsent deliveries failed; their leases run out. "
                             "target=%s count=%d", self.key, len(deliveries))

    def _next_due(self, conn: SqlConnection) -> float | None:
        return self.queue.next_due_at(conn, self.key)

    async def process(self, only_ids: Sequence[int] | None = None) -> int:
        """Claim one batch of due deliveries, send it and settle it; return how many."""
        claimed, sendable = await self._claim(only_ids, self.batch_size)
        if sendable:
            await self._send_and_settle(sendable)
        return claimed

    async def _claim(
        self, only_ids: Sequence[int] | None, limit: int
    ) -> tuple[int, list[ClaimedDelivery]]:
        """Claim what the target admits (at most ``limit``); ``(claimed, to send)``."""
        opts = self.options
        grant = await self.target.admit(limit)
        self.admit_wait_secs = grant.retry_after_secs if grant.count <= 0 else 0.0
        if grant.count <= 0:
            return 0, []
        try:
            batch = await self.db.awrite(
                lambda conn: self.queue.claim_due(
                    conn,
                    self.key,
                    now=opts.clock(),
                    lease_secs=self.lease_secs,
                    limit=min(limit, grant.count),
                    only_ids=only_ids,
                    owner=self.owner,
                )
            )
            sendable = await self._drop_overdue(batch) if batch else []
        except BaseException:
            self.target.release(grant.count)
            raise
        self.target.release(grant.count - len(sendable))
        return len(batch), sendable

    async def _drop_overdue(self, batch: list[ClaimedDelivery]) -> list[ClaimedDelivery]:
        """Retire deliveries past a limit before sending (their earlier attempt was cut off)."""
        now = self.options.clock()
        overdue: list[tuple[ClaimedDelivery, Retry, GiveUp]] = []
        sendable: list[ClaimedDelivery] = []
        for d in batch:
            if d.attempt == 1:
                sendable.append(d)  # the first attempt is always made
                continue
            code = d.last_error_code or "Interrupted"
            message = d.last_error_message or (
                "An earlier attempt did not finish (the worker stopped while delivering)."
            )
            if d.attempt - 1 > self.limits.maximum_retry_attempts:
                overdue.append((d, Retry(code, message), GiveUp("MaximumRetryAttempts")))
            elif now - d.enqueued_at > self.limits.maximum_event_age_secs:
                overdue.append((d, Retry(code, message), GiveUp("MaximumEventAgeInSeconds")))
            else:
                sendable.append(d)
        if overdue:
            await self.db.awrite(lambda conn: self._retire_all(conn, overdue, now))
        return sendable

    def _retire_all(
        self,
        conn: SqlConnection,
        items: Sequence[tuple[ClaimedDelivery, Retry, GiveUp]],
        now: float,
    ) -> None:
        counts = SettleCounts()
        for d, outcome, give_up in items:
            if self.queue.retire(
                conn,
                d,
                error_code=outcome.code,
                error_message=outcome.message,
                exhausted=give_up.exhausted,
                now=now,
                keep=self.keep_dead_letters,
            ):
                counts.given_up(self.keep_dead_letters)
                counts.failed(outcome.code, outcome.message)
        record_settled(conn, self.key, counts, now)
        self._log_retired([(d, o, g.exhausted) for d, o, g in items])

    async def _send_and_settle(self, batch: list[ClaimedDelivery]) -> None:
        target = self.target
        if isinstance(target, LocalTarget):
            try:
                await self.db.awrite(lambda conn: self._write_and_settle(conn, target, batch))
                return
            except Exception as exc:
                failed = outcome_for_error(exc)
                logger.warning(
                    "Target write failed. target=%s count=%d error=%s",
                    self.key, len(batch), exc,
                )
                outcomes: list[Outcome] = [failed] * len(batch)
        else:
            outcomes = await self._send(target, batch)
        await self.settle_write(lambda conn: self._settle(conn, batch, outcomes), len(batch))

    async def settle_write(self, write: Callable[[SqlConnection], Any], count: int) -> None:
        """Commit a settle ``write`` (deleting, rescheduling or dead-lettering ``count``
        answered deliveries). While the store cannot write (it is unreachable, its disk is
        full), try again with a back-off from :data:`SETTLE_FIRST_BACKOFF_SECS` to
        :data:`SETTLE_MAX_BACKOFF_SECS`, for at most one lease: the outcome is recorded as soon
        as the store is back instead of the deliveries waiting out their lease and being
        sent again. Repeating is safe: each statement of a settle, and each count it adds,
        applies only while the claim it names is held, so a write that did commit before its
        answer was lost changes nothing the second time, and neither does one whose claim
        another worker took after the lease. Other errors, and the refusal after one lease,
        are raised."""
        deadline = time.monotonic() + self.lease_secs
        backoff = SETTLE_FIRST_BACKOFF_SECS
        failures = 0
        while True:
            try:
                await self.db.awrite(write)
            except outage_errors(StoreError) as exc:
                if isinstance(exc, Conflict | NotFound) or time.monotonic() + backoff > deadline:
                    raise
                failures += 1
                _THROTTLE.warning(
                    f"settle:{self.key}", "Settling deliveries failed: the store cannot write; "
                    "retrying until it can. target=%s count=%d error=%s", self.key, count, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, SETTLE_MAX_BACKOFF_SECS)
                continue
            if failures:
                logger.warning("Deliveries settled once the store wrote again. target=%s "
                               "count=%d tries=%d", self.key, count, failures + 1)
            return

    async def _send(self, target: Target, batch: list[ClaimedDelivery]) -> list[Outcome]:
        try:
            outcomes = await asyncio.wait_for(
                target.send_batch(batch), timeout=self.send_timeout_secs
            )
        except TimeoutError:
            timeout = Retry(
                "Timeout",
                f"The target did not finish the batch in {self.send_timeout_secs} s.",
            )
            return [timeout] * len(batch)
        except Exception as exc:
            return [outcome_for_error(exc)] * len(batch)
        return self._checked(outcomes, len(batch))

    def _checked(self, outcomes: Any, expected: int) -> list[Outcome]:
        if not isinstance(outcomes, list) or len(outcomes) != expected:
            count = len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__
            logger.error(
                "Target answered with the wrong number of outcomes; retrying the batch. "
                "target=%s expected=%d got=%s", self.key, expected, count,
            )
            wrong = Retry("TargetError", f"The target returned {count} outcomes for {expected}.")
            return [wrong] * expected
        return outcomes

    def _write_and_settle(
        self, conn: SqlConnection, target: LocalTarget, batch: list[ClaimedDelivery]
    ) -> None:
        held = self.queue.still_claimed(conn, batch)
        live = [d for d in batch if d.delivery_id in held]
        if live:
            outcomes = self._checked(target.write_in(conn, live), len(live))
            self._settle(conn, live, outcomes)

    def _settle(
        self, conn: SqlConnection, batch: Sequence[ClaimedDelivery], outcomes: list[Outcome]
    ) -> None:
        now = self.options.clock()
        retired: list[tuple[ClaimedDelivery, Retry | Permanent, str]] = []
        counts = SettleCounts()
        for d, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Ok):
                if self.queue.complete(conn, d):
                    counts.delivered += 1
                continue
            # Counted only when the claim is still held, as a delivery is: a settle repeated
            # after its commit's answer was lost counts nothing twice.
            if isinstance(outcome, Permanent):
                if self.queue.retire(conn, d, error_code=outcome.code,
                                     error_message=outcome.message, exhausted="Permanent",
                                     now=now, keep=self.keep_dead_letters):
                    counts.failed(outcome.code, outcome.message)
                    retired.append((d, outcome, "Permanent"))
            else:
                step = next_step(
                    self.limits,
                    self.options.backoff,
                    attempt=d.attempt,
                    enqueued_at=d.enqueued_at,
                    now=now,
                    after_secs=outcome.after_secs,
                )
                if isinstance(step, GiveUp):
                    if self.queue.retire(conn, d, error_code=outcome.code,
                                         error_message=outcome.message,
                                         exhausted=step.exhausted, now=now,
                                         keep=self.keep_dead_letters):
                        counts.failed(outcome.code, outcome.message)
                        retired.append((d, outcome, step.exhausted))
                elif self.queue.reschedule(conn, d, due_at=step.due_at,
                                           error_code=outcome.code,
                                           error_message=outcome.message):
                    counts.failed(outcome.code, outcome.message)
                    counts.retried += 1
        for _ in retired:
            counts.given_up(self.keep_dead_letters)
        record_settled(conn, self.key, counts, now)
        if retired:
            self._log_retired(retired)

    def _log_retired(
        self, retired: Sequence[tuple[ClaimedDelivery, Retry | Permanent, str]]
    ) -> None:
        _, first, exhausted = retired[0]
        code = first.code
        if self.keep_dead_letters:
            logger.warning(
                "Deliveries dead-lettered. target=%s count=%d exhausted=%s error_code=%s",
                self.key, len(retired), exhausted, code,
            )
        else:
            logger.error(
                "Deliveries dropped: the target keeps no dead letters. "
                "target=%s count=%d exhausted=%s error_code=%s",
                self.key, len(retired), exhausted, code,
            )


def _dispatcher_class(target: Target) -> type[Dispatcher]:
    """:class:`Dispatcher`, or the buffered dispatcher for a buffering target."""
    from clientevents.targets.buffered import BufferedDispatcher, BufferingTarget

    return BufferedDispatcher if isinstance(target, BufferingTarget) else Dispatcher


class Dispatchers:
    """All dispatchers of a configuration: one per target of every rule.

    Args:
        db: the shared database.
        settings: the configuration; every target of every rule gets a dispatcher (a disabled
            rule's targets too, so their queues drain).
        context: what target factories use.
        options: batch size, lease, timeouts and backoff (:class:`DispatchOptions`).
        registry: target factories by type; the built-in :data:`~.registry.TARGET_TYPES` by
            default (tests pass their own to plug in a test target).
        owner: this worker's id in the worker registry (:mod:`.leases`), recorded with each
            claim so that the leases end at once if the worker dies.
        queue: the delivery queue (:class:`~.queue.DeliveryQueue`); the state store's tables
            by default.

    Raises:
        ConfigError: a target could not be built.
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings,
        context: TargetContext,
        *,
        options: DispatchOptions | None = None,
        registry: Mapping[str, TargetFactory] | None = None,
        owner: str | None = None,
        queue: DeliveryQueue = SQL_DELIVERY_QUEUE,
    ) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings
        self.options = options or DispatchOptions()
        self.dispatchers: dict[str, Dispatcher] = {}
        for i, rule in enumerate(settings.rules):
            for j, cfg in enumerate(rule.targets):
                key = target_key(rule.bus, rule.name, cfg.id)
                target = build_target(
                    cfg, context, registry=registry, where=f"rules[{i}].targets[{j}]"
                )
                self.dispatchers[key] = _dispatcher_class(target)(
                    db,
                    key,
                    target,
                    limits=RetryLimits(
                        maximum_event_age_secs=cfg.retry_policy.maximum_event_age_secs,
                        maximum_retry_attempts=cfg.retry_policy.maximum_retry_attempts,
                    ),
                    keep_dead_letters=cfg.dead_letter,
                    options=self.options,
                    owner=owner,
                    queue=queue,
                )

    @property
    def targets(self) -> dict[str, Target]:
        """The running targets by target key."""
        return {key: d.target for key, d in self.dispatchers.items()}

    async def run(self, stop: asyncio.Event) -> None:
        """Run every dispatcher until ``stop`` is set, then close the targets."""
        self._warn_orphans()
        tasks = [
            asyncio.create_task(d.run(stop), name=f"dispatcher:{key}")
            for key, d in self.dispatchers.items()
        ]
        try:
            await stop.wait()
            slowest = max((d.send_timeout_secs for d in self.dispatchers.values()), default=0.0)
            grace = slowest + 5.0
            _, pending = await asyncio.wait(tasks, timeout=grace) if tasks else (set(), set())
            for task in pending:
                task.cancel()  # its claims expire with their lease: nothing is lost
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await self.close()

    async def drain_once(self) -> int:
        """Deliver every delivery that is due now, each once; return how many were processed.

        Retries scheduled during the call wait for the next call (or for :meth:`run`).
        """
        counts = await asyncio.gather(*(self._drain(d) for d in self.dispatchers.values()))
        return sum(counts)

    async def _drain(self, dispatcher: Dispatcher) -> int:
        now = self.options.clock()
        ids = await asyncio.to_thread(
            self.db.read, lambda conn: dispatcher.queue.due_ids(conn, dispatcher.key, now)
        )
        size = dispatcher.batch_size
        done = 0
        for start in range(0, len(ids), size):
            processed = await dispatcher.process(only_ids=ids[start : start + size])
            if processed == 0 and dispatcher.admit_wait_secs > 0:
                break  # the target admits nothing now (rate limit, connection): next time
            done += processed
        return done

    async def close(self) -> None:
        """Close every target (files, connections)."""
        for d in self.dispatchers.values():
            try:
                await d.target.close()
            except Exception:
                logger.exception("Closing a target failed. target=%s", d.key)

    def _warn_orphans(self) -> None:
        depths = self.db.read(self.queue.queue_depths)
        for key, count in sorted(depths.items()):
            if key not in self.dispatchers:
                logger.warning(
                    "Deliveries wait for a target that is no longer configured; they stay "
                    "queued until it is configured again. target=%s count=%d", key, count,
                )
