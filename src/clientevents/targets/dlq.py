"""The dead-letter queue's API: list, inspect, redrive and purge what could not be delivered.

Entries arrive from the dispatchers (retries exhausted, permanent failures) and from the router
(``TransformError``: the target input could not be rendered). Each entry keeps the payload, the
rule and target, the last error code and message, the attempts made and the reason
(``exhausted``: ``MaximumRetryAttempts``, ``MaximumEventAgeInSeconds``, ``Permanent`` or
``TransformError``).

*Redrive* puts entries back on their targets' queues as fresh deliveries (attempt 1, the
maximum event age counting from the redrive) and removes them from the dead-letter queue, in one
transaction. Two kinds of entries stay where they are unless asked for explicitly:

- ``TransformError`` entries (``include_transform_errors=True``): their payload is what the
  router had (the event), not a rendered target input, so redriving one delivers the event
  unshaped;
- entries of targets the configuration no longer has (when the queue knows the configuration):
  no dispatcher would ever deliver them.

The methods are synchronous (they run one short transaction each); from asyncio code call them
through ``asyncio.to_thread``.

Example::

    dlq = DeadLetterQueue(db, settings)
    for entry in dlq.list(rule="to_lake", limit=20):
        print(entry.id, entry.error_code, entry.attempts)
    dlq.redrive([entry.id])
    dlq.purge()                       # everything
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from clientevents.targets.queue import SCHEMA, target_key

if TYPE_CHECKING:
    from clientevents.config.model import Settings
    from clientevents.store.port import SqlConnection, StateStore

__all__ = ["DeadLetterEntry", "DeadLetterQueue", "RedriveResult"]

_COLUMNS = (
    "id, target_key, bus, rule, target_id, event_id, payload, error_code, error_message, "
    "attempts, exhausted, event_time, failed_at, attributes"
)

_CHUNK = 500  # ids per statement (bound values stay far below either engine's limit)


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One dead-lettered delivery (a row of ``dead_letters``)."""

    id: int
    target_key: str
    bus: str
    rule: str
    target_id: str
    event_id: str
    payload: str
    error_code: str
    error_message: str
    attempts: int
    exhausted: str
    event_time: float
    failed_at: float
    attributes: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (times stay epoch seconds)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RedriveResult:
    """What a redrive did.

    Attributes:
        redriven: ids of the entries put back on their queues (and removed here).
        skipped: ids left in place, with the reason for each.
    """

    redriven: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Filter:
    ids: Sequence[int] | None
    bus: str | None
    rule: str | None
    target: str | None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.ids is not None:
            wanted = [int(i) for i in self.ids]
            clauses.append(f"id IN ({','.join('?' * len(wanted))})" if wanted else "0 = 1")
            params.extend(wanted)
        for column, value in (("bus", self.bus), ("rule", self.rule)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.target is not None:
            clauses.append("target_key = ?" if "/" in self.target else "target_id = ?")
            params.append(self.target)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _entry(row: Sequence[Any]) -> DeadLetterEntry:
    return DeadLetterEntry(*row)


class DeadLetterQueue:
    """The dead-letter queue in a database.

    Args:
        db: the shared database.
        settings: the configuration, when known: redrive then leaves alone the entries of
            targets it does not have.
        clock: the time source for redriven deliveries.

    Filters (every method): ``bus``, ``rule``, and ``target`` (a target id, or a whole target
    key ``bus/rule/target``).
    """

    def __init__(
        self,
        db: StateStore,
        settings: Settings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.clock = clock
        self.configured: frozenset[str] | None = None
        if settings is not None:
            self.configured = frozenset(
                target_key(rule.bus, rule.name, t.id)
                for rule in settings.rules
                for t in rule.targets
            )
        db.ensure_schema(SCHEMA)

    def list(
        self,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[DeadLetterEntry]:
        """Entries oldest first, at most ``limit``, with ids above ``after_id`` (paging)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}.")
        where, params = _Filter(None, bus, rule, target).where()
        where += (" AND " if where else " WHERE ") + "id > ?"
        sql = f"SELECT {_COLUMNS} FROM dead_letters{where} ORDER BY id LIMIT ?"
        rows = self.db.read(lambda conn: conn.execute(sql, [*params, after_id, limit]).fetchall())
        return [_entry(row) for row in rows]

    def count(
        self, *, bus: str | None = None, rule: str | None = None, target: str | None = None
    ) -> int:
        """How many entries match the filters."""
        where, params = _Filter(None, bus, rule, target).where()
        sql = f"SELECT count(*) FROM dead_letters{where}"
        return int(self.db.read(lambda conn: conn.execute(sql, params).fetchone()[0]))

    def get(self, entry_id: int) -> DeadLetterEntry | None:
        """One entry by id, or ``None``."""
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE id = ?"
        row = self.db.read(lambda conn: conn.execute(sql, (entry_id,)).fetchone())
        return None if row is None else _entry(row)

    def redrive(
        self,
        ids: Iterable[int] | None = None,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
        include_transform_errors: bool = False,
    ) -> RedriveResult:
        """Put entries back on their queues as fresh deliveries, in one transaction.

        Args:
            ids: the entries to redrive; ``None`` means every entry matching the filters.
            include_transform_errors: redrive ``TransformError`` entries too (their payload is
                the unshaped event).
        """
        chosen = None if ids is None else sorted(set(ids))
        flt = _Filter(chosen, bus, rule, target)
        return self.db.write(
            lambda conn: self._redrive_in(conn, flt, chosen, include_transform_errors)
        )

    def _redrive_in(
        self,
        conn: SqlConnection,
        flt: _Filter,
        chosen: Sequence[int] | None,
        include_transform_errors: bool,
    ) -> RedriveResult:
        where, params = flt.where()
        rows = conn.execute(
            f"SELECT id, target_key, exhausted FROM dead_letters{where} ORDER BY id", params
        ).fetchall()
        skipped: dict[int, str] = {}
        if chosen is not None:
            found = {row[0] for row in rows}
            for missing in chosen:
                if missing not in found:
                    skipped[missing] = "no such entry (or it does not match the filters)"
        take: list[int] = []
        for entry_id, key, exhausted in rows:
            if exhausted == "TransformError" and not include_transform_errors:
                skipped[entry_id] = (
                    "TransformError entry: its payload is the unshaped event; "
                    "pass include_transform_errors to redrive it anyway"
                )
            elif self.configured is not None and key not in self.configured:
                skipped[entry_id] = f"target {key!r} is not in the configuration"
            else:
                take.append(entry_id)
        if take:
            now = self.clock()
            for start in range(0, len(take), _CHUNK):
                chunk = take[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    "INSERT INTO deliveries (target_key, bus, rule, target_id, event_id, "
                    "payload, event_time, enqueued_at, due_at, attributes) "
                    "SELECT target_key, bus, rule, target_id, event_id, payload, event_time, "
                    f"?, ?, attributes FROM dead_letters WHERE id IN ({marks}) ORDER BY id",
                    (now, now, *chunk),
                )
                conn.execute(f"DELETE FROM dead_letters WHERE id IN ({marks})", chunk)
        return RedriveResult(redriven=take, skipped=dict(sorted(skipped.items())))

    def purge(
        self,
        ids: Iterable[int] | None = None,
        *,
        bus: str | None = None,
        rule: str | None = None,
        target: str | None = None,
    ) -> int:
        """Delete entries for good; ``ids=None`` deletes every entry matching the filters.

        Returns:
            How many entries were deleted.
        """
        chosen = None if ids is None else sorted(set(ids))
        where, params = _Filter(chosen, bus, rule, target).where()
        sql = f"DELETE FROM dead_letters{where}"
        return int(self.db.write(lambda conn: conn.execute(sql, params).rowcount))
