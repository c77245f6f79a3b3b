"""Durable delivery counters per target, and the delivery state the admin API shows.

The dispatchers settle each batch in one write (:mod:`.dispatcher`); in that same write they add
the batch's outcomes to one row of ``delivery_counters`` per target: one upsert per batch, never
one per event. The counters therefore survive restarts, and every process that opens the
database (the gateway's admin API, the command line) reads the totals the worker processes made.

``delivery_counters``
    ``delivered`` (the target took it), ``retried`` (a transient failure rescheduled it),
    ``dead_lettered`` (a limit ran out or the target refused it for good, kept in the
    dead-letter queue) and ``dropped`` (the same, for a target that keeps no dead letters);
    the last error (code, message, time) and the time of the last success.

:func:`delivery_state` joins them with what waits in ``deliveries`` (pending, retrying = has
failed at least once, the oldest) and ``dead_letters`` (how many now), per target key.

Example::

    db.write(lambda conn: record_settled(conn, "bus/rule/t1", SettleCounts(delivered=3), now))
    db.read(delivery_state)["bus/rule/t1"].delivered     # 3
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final

from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, execute_late

__all__ = ["COUNTERS_SCHEMA", "DeliveryState", "SettleCounts", "delivery_state", "record_settled"]

COUNTERS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS delivery_counters (
    target_key TEXT PRIMARY KEY,
    delivered INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    last_delivered_at REAL,
    last_error_code TEXT,
    last_error_message TEXT,
    last_error_at REAL
);
"""

register_schema("targets.counters", COUNTERS_SCHEMA)


@dataclass(slots=True)
class SettleCounts:
    """The outcomes of one settled batch of one target.

    Attributes:
        delivered: deliveries the target took.
        retried: deliveries rescheduled after a transient failure.
        dead_lettered: deliveries moved to the dead-letter queue.
        dropped: deliveries given up on by a target that keeps no dead letters.
        error_code: the last failure's code in the batch (``None``: no failure).
        error_message: its message.
    """

    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    error_code: str | None = None
    error_message: str | None = None

    def failed(self, code: str, message: str) -> None:
        """Remember ``code`` and ``message`` as the batch's last error."""
        self.error_code = code
        self.error_message = message

    def given_up(self, kept: bool) -> None:
        """Count one delivery given up on: dead-lettered when ``kept``, else dropped."""
        if kept:
            self.dead_lettered += 1
        else:
            self.dropped += 1

    @property
    def empty(self) -> bool:
        return not (self.delivered or self.retried or self.dead_lettered or self.dropped)


_UPSERT: Final = (
    "INSERT INTO delivery_counters (target_key, delivered, retried, dead_lettered, dropped, "
    "last_delivered_at, last_error_code, last_error_message, last_error_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (target_key) DO UPDATE SET "
    "delivered = delivery_counters.delivered + excluded.delivered, "
    "retried = delivery_counters.retried + excluded.retried, "
    "dead_lettered = delivery_counters.dead_lettered + excluded.dead_lettered, "
    "dropped = delivery_counters.dropped + excluded.dropped, "
    "last_delivered_at = "
    "coalesce(excluded.last_delivered_at, delivery_counters.last_delivered_at), "
    "last_error_code = coalesce(excluded.last_error_code, delivery_counters.last_error_code), "
    "last_error_message = "
    "coalesce(excluded.last_error_message, delivery_counters.last_error_message), "
    "last_error_at = coalesce(excluded.last_error_at, delivery_counters.last_error_at)"
)


def record_settled(conn: SqlConnection, key: str, counts: SettleCounts, now: float) -> None:
    """Add one batch's outcomes to target ``key``'s counters; call inside the settle write.

    Every process settling ``key`` updates its one row, so the upsert is deferred to the end of
    the write's group (:func:`~clientevents.store.port.execute_late`): processes lock counter
    rows in one order, and only until their commit."""
    if counts.empty:
        return
    failed = counts.error_code is not None
    params = (
        key, counts.delivered, counts.retried, counts.dead_lettered, counts.dropped,
        now if counts.delivered else None,
        counts.error_code, (counts.error_message or "")[:2000] if failed else None,
        now if failed else None,
    )
    execute_late(conn, ("delivery_counters", key), _UPSERT, params)


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What one target's deliveries look like now (counters are totals since the first)."""

    target_key: str
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    pending: int = 0
    retrying: int = 0
    oldest_enqueued_at: float | None = None
    dead_letters: int = 0
    last_delivered_at: float | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    last_error_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (times are epoch seconds)."""
        return asdict(self)


def delivery_state(conn: SqlConnection) -> dict[str, DeliveryState]:
    """Every target key that has counters, waiting deliveries or dead letters."""
    merged: dict[str, dict[str, Any]] = {}
    for row in conn.execute(
        "SELECT target_key, delivered, retried, dead_lettered, dropped, last_delivered_at, "
        "last_error_code, last_error_message, last_error_at FROM delivery_counters"
    ):
        merged.setdefault(row[0], {}).update(
            delivered=row[1], retried=row[2], dead_lettered=row[3], dropped=row[4],
            last_delivered_at=row[5], last_error_code=row[6], last_error_message=row[7],
            last_error_at=row[8],
        )
    for key, pending, retrying, oldest in conn.execute(
        "SELECT target_key, count(*), "
        "sum(CASE WHEN last_error_code IS NOT NULL THEN 1 ELSE 0 END), min(enqueued_at) "
        "FROM deliveries GROUP BY target_key"
    ):
        merged.setdefault(key, {}).update(
            pending=pending, retrying=retrying or 0, oldest_enqueued_at=oldest
        )
    for key, count in conn.execute(
        "SELECT target_key, count(*) FROM dead_letters GROUP BY target_key"
    ):
        merged.setdefault(key, {})["dead_letters"] = count
    return {key: DeliveryState(key, **fields) for key, fields in sorted(merged.items())}

