"""Buffering targets and their dispatcher: deliveries held in a buffer, settled later.

A :class:`~.base.Target` answers each batch before the next is claimed. A buffering target
(the delivery stream) cannot: it acknowledges a delivery only once the object holding it is
written, up to its buffering interval later, while it keeps taking new deliveries. So its
dispatcher (:class:`BufferedDispatcher`) works differently:

1. **fetch** while the target has room (its memory bound): claim a batch, hand it to
   :meth:`BufferingTarget.accept`;
2. **flush**: ask the target for what its interval made due (:meth:`BufferingTarget.flush_due`);
3. **settle** whatever the target reports, whenever it reports it, in one write per report
   (``Ok`` removes the delivery, ``Retry`` reschedules it with backoff, as for any target).

The claim's lease covers the longest a delivery can wait in the buffer (the target's
``hold_secs``: its interval plus one write, cut off at the send timeout) plus
:data:`LEASE_MARGIN_SECS`, so a held delivery is settled before its lease ends; if the worker
dies, the deliveries it held become due again when their lease runs out, and are written
again (at least once). At stop, everything buffered is written and settled
(:meth:`BufferingTarget.flush_all`).

Several targets may share one buffer (several rules feeding one delivery stream): each has
its own dispatcher and queue; whichever dispatcher triggers a write settles every delivery in
it through the dispatcher that owns it (``BufferingTarget.settlers``).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from clientevents.targets.base import Ok, Outcome, Retry, Target
from clientevents.targets.dispatcher import Dispatcher, DispatchOptions
from clientevents.targets.queue import SQL_DELIVERY_QUEUE, ClaimedDelivery, DeliveryQueue
from clientevents.targets.retry import RetryLimits

if TYPE_CHECKING:
    from clientevents.store.port import SqlConnection, StateStore

__all__ = ["BufferedDispatcher", "BufferingTarget", "Settled"]

logger = logging.getLogger("clientevents.targets")

LEASE_MARGIN_SECS = 10.0
"""Added to a buffering target's ``hold_secs`` for the claim's lease (processing, settling)."""

Settled = list[tuple[ClaimedDelivery, Outcome]]
"""Deliveries whose outcome is final, each with it."""


class BufferingTarget(Target):
    """A target that buffers deliveries and settles them when their buffer is written.

    Attributes:
        hold_secs: the longest a delivery stays in the buffer before it is settled.
        settlers: dispatcher by target key, for targets sharing one buffer (filled by
            :class:`BufferedDispatcher`).
    """

    hold_secs: float = 0.0
    settlers: dict[str, BufferedDispatcher]

    @abc.abstractmethod
    async def accept(self, deliveries: Sequence[ClaimedDelivery]) -> Settled:
        """Take deliveries into the buffer; return those already final."""

    @abc.abstractmethod
    async def flush_due(self) -> Settled:
        """Write what the buffering interval made due; return what became final."""

    @abc.abstractmethod
    async def flush_all(self) -> Settled:
        """Write everything buffered; return what became final."""

    def limit_write_time(self, secs: float) -> None:
        """Cut writes off after ``secs`` (the send timeout); adjusts ``hold_secs``."""
        return None

    @abc.abstractmethod
    def has_room(self) -> bool:
        """Whether the buffer takes more deliveries now."""

    @abc.abstractmethod
    def next_flush_at(self) -> float | None:
        """When :meth:`flush_due` next has work (epoch seconds), ``None`` if never."""

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        """Direct use (tools, tests): buffer the batch, write everything, one outcome each."""
        settled = await self.accept(deliveries)
        settled += await self.flush_all()
        by_id = {d.delivery_id: o for d, o in settled}
        missing = Retry("TargetError", "The buffer did not settle the delivery.")
        return [by_id.get(d.delivery_id, missing) for d in deliveries]


class BufferedDispatcher(Dispatcher):
    """Delivers one target's queue into a :class:`BufferingTarget`."""

    target: BufferingTarget

    def __init__(
        self,
        db: StateStore,
        key: str,
        target: BufferingTarget,
        *,
        limits: RetryLimits,
        keep_dead_letters: bool,
        options: DispatchOptions,
        owner: str | None = None,
        queue: DeliveryQueue = SQL_DELIVERY_QUEUE,
    ) -> None:
        super().__init__(db, key, target, limits=limits, keep_dead_letters=keep_dead_letters,
                         options=options, owner=owner, queue=queue)
        target.limit_write_time(self.send_timeout_secs)
        self.lease_secs = max(self.lease_secs, target.hold_secs + LEASE_MARGIN_SECS)
        target.settlers[key] = self

    async def run(self, stop: asyncio.Event) -> None:
        """Take deliveries while there is room, write what is due, settle; at stop, write
        and settle everything buffered."""
        opts = self.options
        target = self.target
        try:
            while not stop.is_set():
                try:
                    took = 0
                    due = await asyncio.to_thread(self.db.read, self._next_due)
                    now = opts.clock()
                    if target.has_room() and due is not None and due <= now:
                        took = await self._take()
                    await self.settle(await target.flush_due())
                    if took:
                        continue
                    wait = opts.poll_interval_secs
                    flush_at = target.next_flush_at()
                    for moment in (due, flush_at):
                        if moment is not None:
                            wait = min(wait, max(moment - opts.clock(), 0.0))
                    wait = max(wait, min(0.005, opts.poll_interval_secs))
                except Exception:
                    logger.exception("Dispatcher failed; retrying. target=%s", self.key)
                    wait = max(opts.poll_interval_secs, 1.0)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait)
                except TimeoutError:
                    pass
        finally:
            await self.settle(await target.flush_all())

    def _next_due(self, conn: SqlConnection) -> float | None:
        return self.queue.next_due_at(conn, self.key)

    async def _take(self, only_ids: Sequence[int] | None = None) -> int:
        opts = self.options
        batch = await self.db.awrite(
            lambda conn: self.queue.claim_due(conn, self.key, now=opts.clock(),
                                              lease_secs=self.lease_secs, limit=self.batch_size,
                                              only_ids=only_ids, owner=self.owner)
        )
        if not batch:
            return 0
        sendable = await self._drop_overdue(batch)
        if sendable:
            try:
                settled = await self.target.accept(sendable)
            except Exception as exc:
                logger.warning("Buffering target refused a batch. target=%s error=%s",
                               self.key, exc)
                from clientevents.targets.retry import outcome_for_error

                failed = outcome_for_error(exc)
                settled = [(d, failed) for d in sendable]
            await self.settle(settled)
        return len(batch)

    async def process(self, only_ids: Sequence[int] | None = None) -> int:
        """Claim one batch into the buffer. Draining (``only_ids``, from ``drain_once``)
        also writes everything buffered, so the batch is settled when this returns."""
        count = await self._take(only_ids)
        if only_ids is not None:
            await self.settle(await self.target.flush_all())
        return count

    async def settle(self, settled: Settled) -> None:
        """Settle final deliveries, each through the dispatcher owning its queue."""
        if not settled:
            return
        groups: dict[str, tuple[list[ClaimedDelivery], list[Outcome]]] = {}
        for delivery, outcome in settled:
            deliveries, outcomes = groups.setdefault(delivery.target_key, ([], []))
            deliveries.append(delivery)
            outcomes.append(outcome)
        settlers = self.target.settlers

        def write(conn: SqlConnection) -> None:
            for key, (deliveries, outcomes) in groups.items():
                owner = settlers.get(key, self)
                owner._settle(conn, deliveries, outcomes)

        await self.settle_write(write, len(settled))
        failed = [o for _, o in settled if not isinstance(o, Ok)]
        if failed:
            first = failed[0]
            code = getattr(first, "code", "?")
            logger.warning("Deliveries will be retried: their object was not written. "
                           "target=%s count=%d error_code=%s", self.key, len(failed), code)
