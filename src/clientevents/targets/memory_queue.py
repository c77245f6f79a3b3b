"""The delivery queue in memory: one process, for tests and the proof that the seam holds.

:class:`MemoryDeliveryQueue` implements :class:`~clientevents.targets.queue.DeliveryQueue` with
dictionaries under a lock. It takes the ``conn`` of every operation and ignores it: it has no
transactions, so an operation is visible at once and a caller's write that fails afterwards does
not take it back (the state-store implementation, :data:`~.queue.SQL_DELIVERY_QUEUE`, is the one
whose changes commit and roll back with the caller's write). Everything else in the port's
contract holds: exclusive claims, leases, claim numbers, retire into dead letters.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from clientevents.store.port import SqlConnection
from clientevents.targets.queue import (
    ClaimedDelivery,
    DeadLetter,
    Delivery,
    Exhausted,
    checked_dead_letters,
    retired_dead_letter,
)

__all__ = ["MemoryDeliveryQueue"]


@dataclass(slots=True)
class _Row:
    delivery: Delivery
    due_at: float
    attempts: int = 0
    claim: int = 0
    claimed_by: str | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None


class MemoryDeliveryQueue:
    """Deliveries and dead letters in this process's memory (lost when it ends). The port
    (:class:`~clientevents.targets.queue.DeliveryQueue`) documents its methods."""

    def __init__(self) -> None:
        self._rows: dict[int, _Row] = {}
        self._dead: list[DeadLetter] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def enqueue(self, conn: SqlConnection, deliveries: Sequence[Delivery]) -> None:
        with self._lock:
            for d in deliveries:
                self._rows[self._next_id] = _Row(d, due_at=d.enqueued_at)
                self._next_id += 1

    def dead_letter(self, conn: SqlConnection, items: Sequence[DeadLetter] | DeadLetter) -> None:
        batch = checked_dead_letters(items)
        with self._lock:
            self._dead.extend(batch)

    def _due(self, key: str, now: float) -> list[tuple[int, _Row]]:
        due = [(i, r) for i, r in self._rows.items()
               if r.delivery.target_key == key and r.due_at <= now]
        due.sort(key=lambda item: (item[1].due_at, item[0]))
        return due

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
        wanted = None if only_ids is None else set(only_ids)
        claimed: list[ClaimedDelivery] = []
        with self._lock:
            for row_id, row in self._due(key, now):
                if len(claimed) >= limit:
                    break
                if wanted is not None and row_id not in wanted:
                    continue
                row.attempts += 1
                row.claim += 1
                row.due_at = now + lease_secs
                row.claimed_by = owner
                d = row.delivery
                claimed.append(ClaimedDelivery(
                    target_key=d.target_key, bus=d.bus, rule=d.rule, target_id=d.target_id,
                    event_id=d.event_id, payload=d.payload, event_time=d.event_time,
                    enqueued_at=d.enqueued_at, attributes=d.attributes, delivery_id=row_id,
                    attempt=row.attempts, claim=row.claim, last_error_code=row.last_error_code,
                    last_error_message=row.last_error_message,
                ))
        return claimed

    def next_due_at(self, conn: SqlConnection, key: str) -> float | None:
        with self._lock:
            times = [r.due_at for r in self._rows.values() if r.delivery.target_key == key]
        return min(times) if times else None

    def due_ids(self, conn: SqlConnection, key: str, now: float) -> list[int]:
        with self._lock:
            return [row_id for row_id, _ in self._due(key, now)]

    def _held(self, delivery: ClaimedDelivery) -> _Row | None:
        row = self._rows.get(delivery.delivery_id)
        return row if row is not None and row.claim == delivery.claim else None

    def still_claimed(self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery]) -> set[int]:
        with self._lock:
            return {d.delivery_id for d in deliveries if self._held(d) is not None}

    def complete(self, conn: SqlConnection, delivery: ClaimedDelivery) -> bool:
        with self._lock:
            if self._held(delivery) is None:
                return False
            del self._rows[delivery.delivery_id]
            return True

    def reschedule(
        self,
        conn: SqlConnection,
        delivery: ClaimedDelivery,
        *,
        due_at: float,
        error_code: str,
        error_message: str,
    ) -> bool:
        with self._lock:
            row = self._held(delivery)
            if row is None:
                return False
            row.due_at = due_at
            row.last_error_code = error_code
            row.last_error_message = error_message
            row.claimed_by = None
            row.claim += 1  # the claim ends: the same call repeated changes nothing
            return True

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
        if not self.complete(conn, delivery):
            return False
        if keep:
            self.dead_letter(conn, retired_dead_letter(
                delivery, error_code=error_code, error_message=error_message,
                exhausted=exhausted, now=now))
        return True

    def unclaim(
        self, conn: SqlConnection, deliveries: Sequence[ClaimedDelivery], *, now: float
    ) -> int:
        returned = 0
        with self._lock:
            for d in deliveries:
                row = self._held(d)
                if row is not None:
                    row.attempts -= 1
                    row.due_at = now
                    row.claimed_by = None
                    returned += 1
        return returned

    def release_claims(self, conn: SqlConnection, owners: Sequence[str], *, now: float) -> int:
        gone = set(owners)
        released = 0
        with self._lock:
            for row in self._rows.values():
                if row.claimed_by in gone and row.due_at > now:
                    row.due_at = now
                    row.claimed_by = None
                    released += 1
        return released

    def queue_depths(self, conn: SqlConnection) -> dict[str, int]:
        depths: dict[str, int] = {}
        with self._lock:
            for row in self._rows.values():
                key = row.delivery.target_key
                depths[key] = depths.get(key, 0) + 1
        return depths

    def dead_letters(self, conn: SqlConnection, key: str | None = None) -> list[DeadLetter]:
        with self._lock:
            return [d for d in self._dead if key is None or d.target_key == key]
