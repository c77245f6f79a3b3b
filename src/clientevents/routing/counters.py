"""Matched events per rule and minute, counted by the router in its own write.

The router counts, per batch, how many events each rule matched and adds the counts to
``rule_match_counts`` in the same write transaction as the batch's deliveries and offset: one
upsert per matched rule per batch, never one per event. A batch routed again after a crash was
not committed, so it is not counted twice. Rows older than :data:`KEEP_MINUTES` are trimmed in
the same write (an index range delete that usually finds nothing).

Example::

    db.write(lambda conn: record_matches(conn, "bus", {"to_lake": 12}, minute=29_000_000))
    db.read(lambda conn: matches_per_minute(conn, "bus", since_minute=28_999_990))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection, execute_late

__all__ = ["KEEP_MINUTES", "MATCH_COUNTS_SCHEMA", "matches_per_minute", "record_matches"]

KEEP_MINUTES: Final = 24 * 60
"""How many minutes of counts are kept (a day)."""

MATCH_COUNTS_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS rule_match_counts (
    bus TEXT NOT NULL,
    minute INTEGER NOT NULL,
    rule TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (bus, minute, rule)
) WITHOUT ROWID;
"""

register_schema("routing.counters", MATCH_COUNTS_SCHEMA)

_UPSERT: Final = (
    "INSERT INTO rule_match_counts (bus, minute, rule, events) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (bus, minute, rule) DO UPDATE SET "
    "events = rule_match_counts.events + excluded.events"
)


def record_matches(
    conn: SqlConnection, bus: str, counts: Mapping[str, int], *, minute: int
) -> None:
    """Add ``counts`` (rule -> matched events) to ``bus``'s ``minute``; inside a write.

    The statements are deferred to the end of the write's group, in one order in every process
    (:func:`~clientevents.store.port.execute_late`): several routers may count the same rows."""
    if not counts:
        return
    execute_late(
        conn, ("rule_match_counts", bus, ""),
        "DELETE FROM rule_match_counts WHERE bus = ? AND minute < ?", (bus, minute - KEEP_MINUTES),
    )
    for rule, n in counts.items():
        if n:
            execute_late(conn, ("rule_match_counts", bus, f"{minute:012d}", rule), _UPSERT,
                         (bus, minute, rule, n))


def matches_per_minute(
    conn: SqlConnection, bus: str, *, since_minute: int
) -> dict[str, dict[int, int]]:
    """``{rule: {minute: events}}`` of ``bus`` from ``since_minute`` on (epoch minutes)."""
    found: dict[str, dict[int, int]] = {}
    for minute, rule, events in conn.execute(
        "SELECT minute, rule, events FROM rule_match_counts WHERE bus = ? AND minute >= ?",
        (bus, since_minute),
    ):
        found.setdefault(rule, {})[int(minute)] = int(events)
    return found
