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

Example::

    db.write(lambda conn: enqueue(conn, [Delivery(target_key("bus", "rule", "t1"), "bus",
                                                  "rule", "t1", event_id, payload,
                                                  event_time, time.time())]))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from clientevents.store.engine import register_schema
from clientevents.store.migrations import register_migrations
from clientevents.store.port import SqlConnection

__all__ = [
    "EXHAUSTED_VALUES",
    "SCHEMA",
    "ClaimedDelivery",
    "DeadLetter",
    "Delivery",
    "Exhausted",
    "claim_due",
    "complete",
    "dead_letter",
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
    """Add deliveries to their targets' queues, due at once; call inside a write.

    Args:
        conn: the connection of the write transaction (``db.write``/``db.awrite``).
        deliveries: what to add; each goes to the queue named by its ``target_key``.
    """
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


def dead_letter(conn: SqlConnection, items: Sequence[DeadLetter] | DeadLetter) -> None:
    """Add entries to the dead-letter queue; call inside a write.

    The caller decides whether the target keeps dead letters (its ``dead_letter`` switch);
    this function always writes.

    Args:
        conn: the connection of the write transaction.
        items: one entry or a sequence of them.

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
    """Claim at most ``limit`` due deliveries of one target, oldest due first; inside a write.

    Claiming counts an attempt (so a delivery that crashes its worker every time still runs
    out of attempts), hides the rows for ``lease_secs`` and gives them a new claim number.

    Args:
        only_ids: restrict the claim to these row ids (used to drain a snapshot once).
        owner: the claiming worker's id (:class:`~.leases.WorkerRegistry`), recorded so its
            leases can be ended early if it dies.
    """
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
    """When the next delivery of one target is due (claimed ones: when their lease ends)."""
    row = conn.execute(
        "SELECT min(due_at) FROM deliveries WHERE target_key = ?", (key,)
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def due_ids(conn: SqlConnection, key: str, now: float) -> list[int]:
    """The ids of one target's deliveries due at ``now``."""
    rows = conn.execute(
        "SELECT id FROM deliveries WHERE target_key = ? AND due_at <= ? ORDER BY due_at, id",
        (key, now),
    ).fetchall()
    return [row[0] for row in rows]


def still_claimed(conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]) -> set[int]:
    """The delivery ids whose claim these objects still hold (nobody re-claimed them)."""
    held: set[int] = set()
    for d in deliveries:
        row = conn.execute(
            "SELECT 1 FROM deliveries WHERE id = ? AND claim = ?", (d.delivery_id, d.claim)
        ).fetchone()
        if row is not None:
            held.add(d.delivery_id)
    return held


def complete(conn: SqlConnection, delivery: ClaimedDelivery) -> bool:
    """Remove a delivered row; ``False`` when the claim was lost (another worker has it)."""
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
    """Make a failed delivery due again at ``due_at``; ``False`` when the claim was lost.

    The claim ends (its number moves on), so the same call repeated (a settle tried again
    after its commit's answer was lost) changes nothing and returns ``False``."""
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
    """Take a failed delivery off its queue: into the dead-letter queue when ``keep``.

    Returns ``False`` (and changes nothing) when the claim was lost.
    """
    if not complete(conn, delivery):
        return False
    if keep:
        dead_letter(
            conn,
            DeadLetter(
                target_key=delivery.target_key,
                bus=delivery.bus,
                rule=delivery.rule,
                target_id=delivery.target_id,
                event_id=delivery.event_id,
                payload=delivery.payload,
                error_code=error_code,
                error_message=error_message,
                attempts=delivery.attempt,
                exhausted=exhausted,
                event_time=delivery.event_time,
                failed_at=now,
                attributes=delivery.attributes,
            ),
        )
    return True


def unclaim(
    conn: SqlConnection, deliveries: Sequence[ClaimedDelivery], *, now: float
) -> int:
    """Give back claimed deliveries that were never sent: due at ``now``, the attempt the
    claim counted taken back; in a write. Returns how many were still held by these claims.
    """
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
    """End the leases the given workers hold: their deliveries are due at ``now``; in a write.

    The claim numbers stay, so an answer from a worker thought gone but still running is
    ignored when it comes (its delivery may then be made twice: at least once). Returns how
    many deliveries were released.
    """
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
    """How many deliveries wait per target key (claimed ones included)."""
    rows = conn.execute(
        "SELECT target_key, count(*) FROM deliveries GROUP BY target_key"
    ).fetchall()
    return {row[0]: row[1] for row in rows}
