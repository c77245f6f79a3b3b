"""The durable delivery queue: one logical queue per target, and the dead-letter queue.

Two tables in the shared database, owned by this module:

``deliveries``
    One row per (event, target) still to deliver. A row is *due* when ``due_at <= now``.
    A dispatcher *claims* due rows by moving ``due_at`` forward by a lease and bumping
    ``claim``; the claim is a promise, not a lock: if the dispatcher dies, the row simply
    becomes due again when the lease runs out, and the next claim gets a new ``claim``
    number, so a late answer from the first dispatcher no longer matches and is ignored.
    ``claimed_by`` names the worker holding the lease (:mod:`.leases`): when that worker is
    known to be gone, its leases are ended early (:func:`release_claims`) instead of running out.
    A row leaves the table only when its target reported ``Ok`` (deleted), or when it is
    moved to ``dead_letters`` (exhausted, permanent failure), in one transaction.

``dead_letters``
    Deliveries that could not be made, with the reason: error code and message, attempts
    made, and which limit ran out (:data:`EXHAUSTED_VALUES`).

Both carry ``attributes``: what a target needs besides the payload, computed from the event
when it was routed (JSON object text, or NULL); an API destination's HTTP parameters taken from
the event, for instance. Like the payload, they travel with the delivery through retries, the
dead-letter queue and redrives.

The router calls :func:`enqueue` and :func:`dead_letter` inside its own write transaction, so
an event leaves the router's input only in the transaction where its deliveries exist.

The port is :class:`DeliveryQueue`: components reach the queue through it (the dispatchers take
one, :data:`SQL_DELIVERY_QUEUE` by default), and its contract is held by every implementation in
``tests/conformance/test_delivery_queue.py``. :class:`SqlDeliveryQueue` is this module's tables
on any state store (SQLite, PostgreSQL through the dialect); the module-level functions are the
same operations.

Example::

    db.write(lambda conn: enqueue(conn, [Delivery(target_key("bus", "rule", "t1"), "bus",
                                                  "rule", "t1", event_id, payload,
                                                  event_time, time.time())]))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, runtime_checkable

from clientevents.store.engine import register_schema
from clientevents.store.migrations import register_migrations
from clientevents.store.port import SqlConnection

__all__ = [
    "EXHAUSTED_VALUES",
    "SCHEMA",
    "SQL_DELIVERY_QUEUE",
    "ClaimedDelivery",
    "DeadLetter",
    "Delivery",
    "DeliveryQueue",
    "Exhausted",
    "SqlDeliveryQueue",
    "claim_due",
    "complete",
    "dead_letter",
    "dead_letters",
    "due_ids",
    "enqueue",
    "next_due_at",
    "queue_depths",
    "release_claims",
    "reschedule",
    "retire",
    "split_target_key",
    "still_claimed",
    "target_key",
    "unclaim",
]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_key TEXT NOT NULL,
    bus TEXT NOT NULL,
    rule TEXT NOT NULL,
    target_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    event_time REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL NOT NULL,
    claim INTEGER NOT NULL DEFAULT 0,
    last_error_code TEXT,
    last_error_message TEXT,
    attributes TEXT,
    claimed_by TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (target_key, due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_key TEXT NOT NULL,
    bus TEXT NOT NULL,
    rule TEXT NOT NULL,
    target_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    error_code TEXT NOT NULL,
    error_message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    exhausted TEXT NOT NULL,
    event_time REAL NOT NULL,
    failed_at REAL NOT NULL,
    attributes TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_target ON dead_letters (bus, rule, target_id);
"""

register_schema("targets.queue", SCHEMA)
# Columns added after the first release (SCHEMA declares them for new databases).
register_migrations("targets.queue", [
    (1, "ALTER TABLE deliveries ADD COLUMN attributes TEXT;"),
    (2, "ALTER TABLE dead_letters ADD COLUMN attributes TEXT;"),
    (3, "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;"),  # the lease owner (leases.py)
])


Exhausted = Literal[
    "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "Permanent", "TransformError"
]
"""Why a delivery was dead-lettered: a retry limit ran out, the target refused it for good, or
its input could not be rendered."""

EXHAUSTED_VALUES: Final[tuple[str, ...]] = (
    "MaximumRetryAttempts",
    "MaximumEventAgeInSeconds",
    "Permanent",
    "TransformError",
)


def target_key(bus: str, rule: str, target_id: str) -> str:
    """The queue name of one target: ``"<bus>/<rule>/<target id>"``."""
    return f"{bus}/{rule}/{target_id}"


def split_target_key(key: str) -> tuple[str, str, str]:
    """The ``(bus, rule, target_id)`` of a target key.

    Raises:
        ValueError: ``key`` does not have the ``bus/rule/target`` form.
    """
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"Target key {key!r} is not of the form '<bus>/<rule>/<target id>'."
        )
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event rendered for one target, waiting in that target's queue.

    Attributes:
        target_key: ``"<bus>/<rule>/<target id>"`` (:func:`target_key`).
        bus: the bus the event was put on.
        rule: the rule that matched it.
        target_id: the target's id within the rule.
        event_id: the event's id (receivers de-duplicate on it).
        payload: the rendered target input (text).
        event_time: the event's ``time``, epoch seconds.
        enqueued_at: when the delivery was enqueued, epoch seconds; the retry policy's
            maximum event age counts from here.
        attributes: target-specific values computed from the event at routing time (JSON
            object text), or ``None``.
    """

    target_key: str
    bus: str
    rule: str
    target_id: str
    event_id: str
    payload: str
    event_time: float
    enqueued_at: float = field(default_factory=time.time)
    attributes: str | None = None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery(Delivery):
    """A delivery a dispatcher has claimed, as a target's ``send_batch`` receives it.

    Attributes:
        delivery_id: the row id in the queue (stable across retries).
        attempt: which attempt this is, 1 for the first.
        claim: the claim number this dispatcher holds (internal).
        last_error_code: the error of the previous attempt, if any.
        last_error_message: its message.
    """

    delivery_id: int = 0
    attempt: int = 1
    claim: int = 0
    last_error_code: str | None = None
    last_error_message: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery that will not be made, with the reason.

    Attributes:
        attempts: delivery attempts made (0 for a ``TransformError``, which never reached
            the target); the retries are ``attempts - 1``.
        exhausted: which limit ran out, or why there was no retry (:data:`Exhausted`).
        failed_at: when it was dead-lettered, epoch seconds.
    """

    target_key: str
    bus: str
    rule: str
    target_id: str
    event_id: str
    payload: str
    error_code: str
    error_message: str
    attempts: int
    exhausted: Exhausted
    event_time: float
    failed_at: float = field(default_factory=time.time)
    attributes: str | None = None


_INSERT_DELIVERY: Final = (
    "INSERT INTO deliveries (target_key, bus, rule, target_id, event_id, payload, event_time, "
    "enqueued_at, due_at, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_INSERT_DEAD_LETTER: Final = (
    "INSERT INTO dead_letters (target_key, bus, rule, target_id, event_id, payload, error_code, "
    "error_message, attempts, exhausted, event_time, failed_at, attributes) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def enqueue(conn: SqlConnection, deliveries: Sequence[Delivery]) -> None:
    """:meth:`DeliveryQueue.enqueue` on this module's tables."""
    if not deliveries:
        return
    conn.executemany(
        _INSERT_DELIVERY,
        [
            (
                d.target_key,
                d.bus,
                d.rule,
                d.target_id,
                d.event_id,
                d.payload,
                d.event_time,
                d.enqueued_at,
                d.enqueued_at,
                d.attributes,
            )
            for d in deliveries
        ],
    )


def checked_dead_letters(items: Sequence[DeadLetter] | DeadLetter) -> list[DeadLetter]:
    """``items`` as a list, each entry's ``exhausted`` checked (implementations of
    :meth:`DeliveryQueue.dead_letter`).

    Raises:
        ValueError: an entry's ``exhausted`` is not one of :data:`EXHAUSTED_VALUES`.
    """
    batch = [items] if isinstance(items, DeadLetter) else list(items)
    for item in batch:
        if item.exhausted not in EXHAUSTED_VALUES:
            raise ValueError(
                f"Dead letter for {item.target_key!r} has exhausted={item.exhausted!r}; "
                f"use one of {', '.join(EXHAUSTED_VALUES)}."
            )
    return batch


def retired_dead_letter(
    delivery: ClaimedDelivery, *, error_code: str, error_message: str, exhausted: Exhausted,
    now: float,
) -> DeadLetter:
    """The dead letter of a retired delivery (implementations of :meth:`DeliveryQueue.retire`)."""
    return DeadLetter(
        target_key=delivery.target_key, bus=delivery.bus, rule=delivery.rule,
        target_id=delivery.target_id, event_id=delivery.event_id, payload=delivery.payload,
        error_code=error_code, error_message=error_message, attempts=delivery.attempt,
        exhausted=exhausted, event_time=delivery.event_time, failed_at=now,
        attributes=delivery.attributes,
    )


def dead_letter(conn: SqlConnection, items: Sequence[DeadLetter] | DeadLetter) -> None:
    """:meth:`DeliveryQueue.dead_letter` on this module's tables."""
    batch = checked_dead_letters(items)
    conn.executemany(
        _INSERT_DEAD_LETTER,
        [
            (
                d.target_key,
                d.bus,
                d.rule,
                d.target_id,
                d.event_id,
                d.payload,
                d.error_code,
                d.error_message,
                d.attempts,
                d.exhausted,
                d.event_time,
                d.failed_at,
                d.attributes,
            )
            for d in batch
        ],
    )


# -- the dispatcher's side: claim, then settle each claimed delivery -------------------------

_CLAIM_COLUMNS: Final = (
    "id, target_key, bus, rule, target_id, event_id, payload, event_time, enqueued_at, "
    "attempts, claim, last_error_code, last_error_message, attributes"
)


def claim_due(
    conn: SqlConnection,
    key: str,
    *,
    now: float,
    lease_secs: float,
    limit: int,
    only_ids: Sequence[int] | None = None,
    owner: str | None = None,
) -> list[ClaimedDelivery]:
    """:meth:`DeliveryQueue.claim_due` on this module's tables."""
    if only_ids is not None:
        if not only_ids:
            return []
        marks = ",".join("?" * len(only_ids))
        sql = (
            f"SELECT {_CLAIM_COLUMNS} FROM deliveries WHERE target_key = ? AND due_at <= ? "
            f"AND id IN ({marks}) ORDER BY due_at, id LIMIT ?{conn.dialect.skip_locked}"
        )
        params: tuple[object, ...] = (key, now, *only_ids, limit)
    else:
        sql = (
            f"SELECT {_CLAIM_COLUMNS} FROM deliveries WHERE target_key = ? AND due_at <= ? "
            f"ORDER BY due_at, id LIMIT ?{conn.dialect.skip_locked}"
        )
        params = (key, now, limit)
    rows = conn.execute(sql, params).fetchall()
    if not rows:
        return []
    lease_end = now + lease_secs
    conn.executemany(
        "UPDATE deliveries SET attempts = attempts + 1, claim = claim + 1, due_at = ?, "
        "claimed_by = ? WHERE id = ?",
        [(lease_end, owner, row[0]) for row in rows],
    )
    return [
        ClaimedDelivery(
            target_key=row[1],
            bus=row[2],
            rule=row[3],
            target_id=row[4],
            event_id=row[5],
            payload=row[6],
            event_time=row[7],
            enqueued_at=row[8],
            delivery_id=row[0],
            attempt=row[9] + 1,
            claim=row[10] + 1,
            last_error_code=row[11],
            last_error_message=row[12],
            attributes=row[13],
        )
        for row in rows
    ]


def next_due_at(conn: SqlConnection, key: str) -> float | None:
    """:meth:`DeliveryQueue.next_due_at` on this module's tables."""
    row = conn.execute(
        "SELECT min(due_at) FROM deliveries WHERE target_key = ?", (key,)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def due_ids(conn: SqlConnection, key: str, now: float) -> list[int]:
    """:meth:`DeliveryQueue.due_ids` on this module's tables."""
    rows = conn.execute(
        "SELECT id FROM deliveries WHERE target_key = ? AND due_at <= ? ORDER BY due_at, id",
        (key, now),
    ).fetchall()
    return [row[0] for row in rows]


def still_claimed(conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]) -> set[int]:
    """:meth:`DeliveryQueue.still_claimed` on this module's tables."""
    held: set[int] = set()
    for d in deliveries:
        row = conn.execute(
            "SELECT 1 FROM deliveries WHERE id = ? AND claim = ?", (d.delivery_id, d.claim)
        ).fetchone()
        if row is not None:
            held.add(d.delivery_id)
    return held


def complete(conn: SqlConnection, delivery: ClaimedDelivery) -> bool:
    """:meth:`DeliveryQueue.complete` on this module's tables."""
    cur = conn.execute(
        "DELETE FROM deliveries WHERE id = ? AND claim = ?", (delivery.delivery_id, delivery.claim)
    )
    return cur.rowcount == 1


def reschedule(
    conn: SqlConnection,
    delivery: ClaimedDelivery,
    *,
    due_at: float,
    error_code: str,
    error_message: str,
) -> bool:
    """:meth:`DeliveryQueue.reschedule` on this module's tables."""
    cur = conn.execute(
        "UPDATE deliveries SET due_at = ?, last_error_code = ?, last_error_message = ?, "
        "claimed_by = NULL, claim = claim + 1 WHERE id = ? AND claim = ?",
        (due_at, error_code, error_message, delivery.delivery_id, delivery.claim),
    )
    return cur.rowcount == 1


def retire(
    conn: SqlConnection,
    delivery: ClaimedDelivery,
    *,
    error_code: str,
    error_message: str,
    exhausted: Exhausted,
    now: float,
    keep: bool,
) -> bool:
    """:meth:`DeliveryQueue.retire` on this module's tables."""
    if not complete(conn, delivery):
        return False
    if keep:
        dead_letter(conn, retired_dead_letter(delivery, error_code=error_code,
                                              error_message=error_message,
                                              exhausted=exhausted, now=now))
    return True


def unclaim(
    conn: SqlConnection, deliveries: Sequence[ClaimedDelivery], *, now: float
) -> int:
    """:meth:`DeliveryQueue.unclaim` on this module's tables."""
    returned = 0
    for d in deliveries:
        cur = conn.execute(
            "UPDATE deliveries SET attempts = attempts - 1, due_at = ?, claimed_by = NULL "
            "WHERE id = ? AND claim = ?",
            (now, d.delivery_id, d.claim),
        )
        returned += cur.rowcount
    return returned


def release_claims(conn: SqlConnection, owners: Sequence[str], *, now: float) -> int:
    """:meth:`DeliveryQueue.release_claims` on this module's tables."""
    released = 0
    for owner in owners:
        cur = conn.execute(
            "UPDATE deliveries SET due_at = ?, claimed_by = NULL "
            "WHERE claimed_by = ? AND due_at > ?",
            (now, owner, now),
        )
        released += cur.rowcount
    return released


def queue_depths(conn: SqlConnection) -> dict[str, int]:
    """:meth:`DeliveryQueue.queue_depths` on this module's tables."""
    rows = conn.execute(
        "SELECT target_key, count(*) FROM deliveries GROUP BY target_key"
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def dead_letters(conn: SqlConnection, key: str | None = None) -> list[DeadLetter]:
    """:meth:`DeliveryQueue.dead_letters` on this module's tables."""
    sql = (
        "SELECT target_key, bus, rule, target_id, event_id, payload, error_code, error_message, "
        "attempts, exhausted, event_time, failed_at, attributes FROM dead_letters"
    )
    params: tuple[object, ...] = ()
    if key is not None:
        sql += " WHERE target_key = ?"
        params = (key,)
    rows = conn.execute(sql + " ORDER BY id", params).fetchall()
    return [
        DeadLetter(
            target_key=r[0], bus=r[1], rule=r[2], target_id=r[3], event_id=r[4], payload=r[5],
            error_code=r[6], error_message=r[7], attempts=int(r[8]), exhausted=r[9],
            event_time=float(r[10]), failed_at=float(r[11]), attributes=r[12],
        )
        for r in rows
    ]


# -- the port -----------------------------------------------------------------------------------


@runtime_checkable
class DeliveryQueue(Protocol):
    """The delivery-queue port: one logical queue per target key, and the dead-letter queue.

    Every operation takes ``conn``, the connection of a state-store transaction
    (:class:`~clientevents.store.port.StateStore`): changes happen in the caller's write
    (``db.write``/``db.awrite``), reads in a read or a write. That is what makes hand-offs exact:
    the router enqueues in the write that moves its offset in the event log, so a delivery exists
    exactly when its event has left the router's input, and a write that fails (rolls back)
    enqueues nothing. A target writing into the same database settles in the write that
    delivers.

    The contract, held by every implementation (``tests/conformance/test_delivery_queue.py``):

    - **Enqueue** adds each delivery to the queue of its ``target_key``, due at its
      ``enqueued_at``; it does not de-duplicate (the same event enqueued twice is two
      deliveries): exactly-once hand-off comes from the caller's transaction, and receivers
      de-duplicate on ``event_id`` since delivery is at least once.
    - **Claim** (:meth:`claim_due`) hands out at most ``limit`` due deliveries of one target,
      oldest due first, counts an attempt, hides them for ``lease_secs`` and gives each a new
      claim number. Claims are exclusive across transactions, connections and processes: two
      claimers never hold the same delivery at once.
    - **Leases expire**: a claimed delivery not settled within its lease is due again, and the
      next claim gets a new claim number; the first claimer can then no longer settle it
      (:meth:`complete`, :meth:`reschedule`, :meth:`retire` and :meth:`unclaim` answer
      ``False``/``0`` and change nothing; :meth:`still_claimed` leaves it out).
    - **Settle**: :meth:`complete` removes a delivered one; :meth:`reschedule` makes a failed
      one due at ``due_at`` with its error recorded (seen by the next claim); :meth:`retire`
      removes it and, when ``keep``, adds a dead letter with its payload, attributes, attempts
      and reason; :meth:`unclaim` gives back claimed deliveries never sent (due now, the attempt
      taken back).
    - **Dead workers**: :meth:`release_claims` ends the leases held by the given owners (due
      now, claim numbers kept).
    - **Inspection**: :meth:`next_due_at` (the earliest due time of a target, lease ends
      included), :meth:`due_ids`, :meth:`queue_depths` (claimed deliveries included),
      :meth:`dead_letters` (oldest first).
    """

    def enqueue(self, conn: SqlConnection, deliveries: Sequence[Delivery]) -> None:
        """Add deliveries to their targets' queues, due at once; call inside a write.

        Args:
            conn: the connection of the write transaction (``db.write``/``db.awrite``).
            deliveries: what to add; each goes to the queue named by its ``target_key``.
        """
        ...

    def dead_letter(self, conn: SqlConnection, items: Sequence[DeadLetter] | DeadLetter) -> None:
        """Add entries to the dead-letter queue; call inside a write.

        The caller decides whether the target keeps dead letters (its ``dead_letter`` switch);
        this always writes.

        Args:
            conn: the connection of the write transaction.
            items: one entry or a sequence of them.

        Raises:
            ValueError: an entry's ``exhausted`` is not one of :data:`EXHAUSTED_VALUES`.
        """
        ...

    def claim_due(
        self,
        conn: SqlConnection,
        key: str,
        *,
        now: float,
        lease_secs: float,
        limit: int,
        only_ids: Sequence[int] | None = None,
        owner: str | None = None,
    ) -> list[ClaimedDelivery]:
        """Claim at most ``limit`` due deliveries of one target, oldest due first; inside a
        write.

        Claiming counts an attempt (so a delivery that crashes its worker every time still runs
        out of attempts), hides the deliveries for ``lease_secs`` and gives them a new claim
        number.

        Args:
            only_ids: restrict the claim to these delivery ids (used to drain a snapshot once).
            owner: the claiming worker's id (:class:`~.leases.WorkerRegistry`), recorded so its
                leases can be ended early if it dies.
        """
        ...

    def next_due_at(self, conn: SqlConnection, key: str) -> float | None:
        """When the next delivery of one target is due (claimed ones: when their lease ends)."""
        ...

    def due_ids(self, conn: SqlConnection, key: str, now: float) -> list[int]:
        """The ids of one target's deliveries due at ``now``, in claim order."""
        ...

    def still_claimed(self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]) -> set[int]:
        """The delivery ids whose claim these objects still hold (nobody re-claimed them)."""
        ...

    def complete(self, conn: SqlConnection, delivery: ClaimedDelivery) -> bool:
        """Remove a delivered one; ``False`` when the claim was lost (another worker has it)."""
        ...

    def reschedule(
        self,
        conn: SqlConnection,
        delivery: ClaimedDelivery,
        *,
        due_at: float,
        error_code: str,
        error_message: str,
    ) -> bool:
        """Make a failed delivery due at ``due_at``; ``False`` when the claim was lost. The
        claim ends, so the same call repeated (a settle tried again after its commit's answer
        was lost) changes nothing and returns ``False``."""
        ...

    def retire(
        self,
        conn: SqlConnection,
        delivery: ClaimedDelivery,
        *,
        error_code: str,
        error_message: str,
        exhausted: Exhausted,
        now: float,
        keep: bool,
    ) -> bool:
        """Take a failed delivery off its queue: into the dead-letter queue when ``keep``.

        Returns ``False`` (and changes nothing) when the claim was lost.
        """
        ...

    def unclaim(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery], *, now: float
    ) -> int:
        """Give back claimed deliveries that were never sent: due at ``now``, the attempt the
        claim counted taken back; in a write. Returns how many were still held by these claims.
        """
        ...

    def release_claims(self, conn: SqlConnection, owners: Sequence[str], *, now: float) -> int:
        """End the leases the given workers hold: their deliveries are due at ``now``; in a
        write.

        The claim numbers stay, so an answer from a worker thought gone but still running is
        ignored when it comes (its delivery may then be made twice: at least once). Returns how
        many deliveries were released.
        """
        ...

    def queue_depths(self, conn: SqlConnection) -> dict[str, int]:
        """How many deliveries wait per target key (claimed ones included)."""
        ...

    def dead_letters(self, conn: SqlConnection, key: str | None = None) -> list[DeadLetter]:
        """The dead letters of one target key (every one when ``None``), oldest first."""
        ...


class SqlDeliveryQueue:
    """The delivery queue as this module's tables (``deliveries``, ``dead_letters``) in the
    state store: SQLite or PostgreSQL, through the connection's dialect. Stateless: one
    instance (:data:`SQL_DELIVERY_QUEUE`) serves every store. Its methods are the module's
    functions; the port (:class:`DeliveryQueue`) documents them."""

    def enqueue(self, conn: SqlConnection, deliveries: Sequence[Delivery]) -> None:
        enqueue(conn, deliveries)

    def dead_letter(self, conn: SqlConnection, items: Sequence[DeadLetter] | DeadLetter) -> None:
        dead_letter(conn, items)

    def claim_due(
        self,
        conn: SqlConnection,
        key: str,
        *,
        now: float,
        lease_secs: float,
        limit: int,
        only_ids: Sequence[int] | None = None,
        owner: str | None = None,
    ) -> list[ClaimedDelivery]:
        return claim_due(conn, key, now=now, lease_secs=lease_secs, limit=limit,
                         only_ids=only_ids, owner=owner)

    def next_due_at(self, conn: SqlConnection, key: str) -> float | None:
        return next_due_at(conn, key)

    def due_ids(self, conn: SqlConnection, key: str, now: float) -> list[int]:
        return due_ids(conn, key, now)

    def still_claimed(self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]) -> set[int]:
        return still_claimed(conn, deliveries)

    def complete(self, conn: SqlConnection, delivery: ClaimedDelivery) -> bool:
        return complete(conn, delivery)

    def reschedule(
        self,
        conn: SqlConnection,
        delivery: ClaimedDelivery,
        *,
        due_at: float,
        error_code: str,
        error_message: str,
    ) -> bool:
        return reschedule(conn, delivery, due_at=due_at, error_code=error_code,
                          error_message=error_message)

    def retire(
        self,
        conn: SqlConnection,
        delivery: ClaimedDelivery,
        *,
        error_code: str,
        error_message: str,
        exhausted: Exhausted,
        now: float,
        keep: bool,
    ) -> bool:
        return retire(conn, delivery, error_code=error_code, error_message=error_message,
                      exhausted=exhausted, now=now, keep=keep)

    def unclaim(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery], *, now: float
    ) -> int:
        return unclaim(conn, deliveries, now=now)

    def release_claims(self, conn: SqlConnection, owners: Sequence[str], *, now: float) -> int:
        return release_claims(conn, owners, now=now)

    def queue_depths(self, conn: SqlConnection) -> dict[str, int]:
        return queue_depths(conn)

    def dead_letters(self, conn: SqlConnection, key: str | None = None) -> list[DeadLetter]:
        return dead_letters(conn, key)


SQL_DELIVERY_QUEUE: Final[DeliveryQueue] = SqlDeliveryQueue()
"""The delivery queue of the state store (the default of every component)."""
