"""What a target is: the interface every kind of target implements, and its outcomes.

A target takes batches of deliveries and says, for each delivery, how it went:

- :class:`Ok`: the target has it (durably, for the targets where that means something). The
  dispatcher then removes the delivery from the queue.
- :class:`Retry`: a transient failure (timeout, connection refused, HTTP 429 or 5xx, a full
  disk). The dispatcher retries it with backoff, within the target's retry policy; ``after_secs``
  asks for a particular delay (an HTTP ``Retry-After``).
- :class:`Permanent`: retrying cannot help (HTTP 4xx other than 429, a payload the target cannot
  accept). The dispatcher dead-letters the delivery at once.

A target may also raise instead of answering: :class:`~clientevents.errors.RetryableDeliveryError`
and :class:`~clientevents.errors.PermanentDeliveryError` apply to the whole batch, and so do
timeouts and connection errors (retried). See :func:`clientevents.targets.retry.outcome_for_error`.

Two base classes:

- :class:`Target` for targets that talk to something outside the database (files, HTTP).
- :class:`LocalTarget` for targets that write into the same database (another bus, a stream):
  their write happens in the same transaction that removes the deliveries from the queue, so the
  hand-off is exactly once.

Example, a target that prints::

    class PrintTarget(Target):
        kind = "print"

        async def send_batch(self, deliveries):
            for d in deliveries:
                print(d.payload)
            return [Ok() for _ in deliveries]

    TARGET_TYPES["print"] = lambda cfg, ctx: PrintTarget()
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from clientevents.ratelimit.window import Grant
from clientevents.targets.queue import ClaimedDelivery

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.store.port import SqlConnection, StateStore
    from clientevents.streams.port import StreamsPort

__all__ = [
    "LocalTarget",
    "Ok",
    "Outcome",
    "Permanent",
    "PublisherLike",
    "Retry",
    "Target",
    "TargetContext",
]


@dataclass(frozen=True, slots=True)
class Ok:
    """The target has the delivery."""


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: try again later.

    Attributes:
        code: a short error code (``Timeout``, ``ConnectionError``, ``HTTP503``).
        message: what happened, one sentence.
        after_secs: wait at least this long before the next attempt (``None``: the backoff).
    """

    code: str
    message: str
    after_secs: float | None = None


@dataclass(frozen=True, slots=True)
class Permanent:
    """A failure retrying cannot fix: dead-letter at once."""

    code: str
    message: str


Outcome = Ok | Retry | Permanent
"""How one delivery went."""


class PublisherLike(Protocol):
    """What targets need from the :class:`~clientevents.events.publisher.Publisher`."""

    async def put_events_async(self, entries: list[dict[str, Any]]) -> dict[str, Any]: ...

    def append_in(
        self, conn: SqlConnection, entries: list[dict[str, Any]]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class TargetContext:
    """What a target factory may use to build a target.

    Attributes:
        db: the shared database.
        settings: the whole configuration.
        data_dir: where relative target paths resolve.
        publisher: puts events on buses (the ``bus`` target); ``None`` where no bus is needed.
        streams: the named streams (the ``stream`` target); ``None`` where none is needed.
        shared: objects the targets of one process share, by a key of the factory's choosing
            (the targets of one delivery stream share its engine and buffers; an API
            destination's HTTP client and call limiter serve every rule target that calls it).
    """

    db: StateStore
    settings: Settings
    data_dir: Path
    publisher: PublisherLike | None = None
    streams: StreamsPort | None = None
    shared: dict[str, Any] = field(default_factory=dict)


class Target(abc.ABC):
    """A destination for deliveries. One instance serves one configured target.

    A dispatcher calls :meth:`send_batch` with at most one batch in flight per target (unless
    the target sets :attr:`max_in_flight`), so an implementation needs no locking of its own.
    Blocking work (file or socket I/O without an
    async API) belongs in a thread (``asyncio.to_thread``) so it never stalls other targets.
    """

    kind: ClassVar[str] = ""
    """The configuration ``type`` this class implements."""

    max_batch_size: int | None = None
    """Most deliveries per ``send_batch`` call; ``None``: the dispatcher's ``batch_size``.
    A rate-limited target sets it so that a batch fits in its send timeout."""

    send_timeout_secs: float | None = None
    """How long a batch may take; ``None``: the dispatcher's ``send_timeout_secs``. The claim's
    lease is stretched to at least twice this."""

    max_in_flight: int | None = None
    """Most deliveries in flight at once; ``None``: one batch at a time. A target that sends
    each delivery on its own (an HTTP call each) sets it: the dispatcher then calls
    ``send_batch`` with one delivery at a time, up to this many at once, claims ahead of its
    free slots and settles answered deliveries together (``Dispatcher._run_pipelined``)."""

    async def admit(self, want: int) -> Grant:
        """How many of ``want`` deliveries the dispatcher may claim now.

        A target with a rate limit, or one that cannot send at the moment (its connection is
        not authorized), grants fewer, or none with the time to wait: the rest stays in the
        durable queue and spends no attempt. Granted capacity the dispatcher does not use comes
        back through :meth:`release`. The default grants everything.
        """
        return Grant(want)

    def release(self, count: int) -> None:  # noqa: B027 - optional hook with a default
        """``count`` of the deliveries :meth:`admit` granted were not sent (not claimed, or
        retired before sending)."""

    @abc.abstractmethod
    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        """Deliver a batch; return one outcome per delivery, in the same order.

        Partial success is fine: each delivery has its own outcome. Raising applies one outcome
        to the whole batch (see the module docstring).
        """

    async def close(self) -> None:  # noqa: B027 - optional hook with a default
        """Release resources (files, connections). Called once when the dispatcher stops."""


class LocalTarget(Target):
    """A target whose destination lives in the shared database.

    Implement :meth:`write_in`; the dispatcher runs it inside the same write transaction that
    settles the batch, so a delivery is removed from the queue exactly when its effect is
    written. :meth:`send_batch` is provided for direct use (tests, tools).
    """

    def __init__(self, db: StateStore) -> None:
        self.db = db

    @abc.abstractmethod
    def write_in(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]
    ) -> list[Outcome]:
        """Write the batch with ``conn`` (inside a write; never commit); one outcome each.

        Must be quick: it runs on the database's writer thread. A raised exception rolls back
        this write and counts as a transient failure of the whole batch.
        """

    async def send_batch(self, deliveries: Sequence[ClaimedDelivery]) -> list[Outcome]:
        batch = list(deliveries)
        return await self.db.awrite(lambda conn: self.write_in(conn, batch))
