"""Consumer-group bookkeeping of the streams, as SQL over one connection.

Every function takes the connection of the caller's transaction: the ``*_in`` functions change
state and run inside a write (``db.write``/``db.awrite``); the others only read.

A group's state is its ``position`` (the highest record id ever handed to it; new records are
those above it) and its in-flight records in ``stream_pending`` (handed out, not acknowledged,
each with the time it becomes visible again and how often it was handed out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clientevents.store.port import SqlConnection

if TYPE_CHECKING:
    from clientevents.streams.store import StreamRecord

__all__ = ["TRIM_CHUNK", "available", "claim_in", "describe", "start_position", "trim_in"]

TRIM_CHUNK = 50_000
"""Most records one trim deletes (one write stays short)."""


def start_position(conn: SqlConnection, stream: str, start: str | float) -> int:
    """The position a new group starts from: records with greater ids are new to it."""
    if start == "oldest":
        return 0
    last = conn.execute(
        "SELECT coalesce(max(id), 0) FROM stream_records WHERE stream = ?", (stream,)
    ).fetchone()[0]
    if start == "latest":
        return int(last)
    first = conn.execute(
        "SELECT min(id) FROM stream_records WHERE stream = ? AND appended_at >= ?",
        (stream, float(start)),
    ).fetchone()[0]
    return int(last) if first is None else int(first) - 1


def claim_in(
    conn: SqlConnection,
    stream: str,
    group: str,
    *,
    now: float,
    start: str | float,
    limit: int,
    retention_secs: float,
    visibility_secs: float,
) -> list[StreamRecord]:
    """Hand ``group`` up to ``limit`` records: overdue in-flight ones first, then new ones."""
    from clientevents.streams.store import StreamRecord

    # one claimer of a group at a time, in every process (their records must not overlap)
    conn.dialect.lock(conn, f"stream-group:{stream}:{group}")
    row = conn.execute(
        "SELECT position FROM stream_groups WHERE stream = ? AND grp = ?", (stream, group)
    ).fetchone()
    if row is None:
        position = start_position(conn, stream, start)
        conn.execute(
            "INSERT INTO stream_groups (stream, grp, position, created_at) VALUES (?, ?, ?, ?)",
            (stream, group, position, now),
        )
    else:
        position = int(row[0])
    cutoff = now - retention_secs
    visible_at = now + visibility_secs
    records: list[StreamRecord] = []
    overdue = conn.execute(
        "SELECT p.record_id, p.delivery_count, r.payload, r.appended_at "
        "FROM stream_pending p JOIN stream_records r ON r.id = p.record_id "
        "WHERE p.stream = ? AND p.grp = ? AND p.visible_at <= ? AND r.appended_at >= ? "
        "ORDER BY p.record_id LIMIT ?",
        (stream, group, now, cutoff, limit),
    ).fetchall()
    if overdue:
        conn.executemany(
            "UPDATE stream_pending SET delivery_count = delivery_count + 1, visible_at = ? "
            "WHERE stream = ? AND grp = ? AND record_id = ?",
            [(visible_at, stream, group, r[0]) for r in overdue],
        )
        records.extend(StreamRecord(r[0], r[2], r[3], r[1] + 1) for r in overdue)
    room = limit - len(records)
    if room > 0:
        fresh = conn.execute(
            "SELECT id, payload, appended_at FROM stream_records "
            "WHERE stream = ? AND id > ? AND appended_at >= ? ORDER BY id LIMIT ?",
            (stream, position, cutoff, room),
        ).fetchall()
        if fresh:
            conn.executemany(
                "INSERT INTO stream_pending "
                "(stream, grp, record_id, delivery_count, visible_at) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (stream, grp, record_id) DO UPDATE SET delivery_count = 1, "
                "visible_at = excluded.visible_at",
                [(stream, group, r[0], visible_at) for r in fresh],
            )
            conn.execute(
                "UPDATE stream_groups SET position = ? WHERE stream = ? AND grp = ?",
                (fresh[-1][0], stream, group),
            )
            records.extend(StreamRecord(r[0], r[1], r[2], 1) for r in fresh)
    return records


def available(
    conn: SqlConnection, stream: str, group: str, now: float, cutoff: float
) -> bool:
    """Whether a read by ``group`` would return something now (a cheap, read-only check)."""
    row = conn.execute(
        "SELECT position FROM stream_groups WHERE stream = ? AND grp = ?", (stream, group)
    ).fetchone()
    position = 0 if row is None else int(row[0])
    fresh = conn.execute(
        "SELECT 1 FROM stream_records WHERE stream = ? AND id > ? AND appended_at >= ? LIMIT 1",
        (stream, position, cutoff),
    ).fetchone()
    if fresh is not None:
        return True
    overdue = conn.execute(
        "SELECT 1 FROM stream_pending WHERE stream = ? AND grp = ? AND visible_at <= ? LIMIT 1",
        (stream, group, now),
    ).fetchone()
    return overdue is not None


def trim_in(conn: SqlConnection, stream: str, cutoff: float) -> int:
    """Delete records appended before ``cutoff`` (a prefix of the stream); return how many.

    At most :data:`TRIM_CHUNK` records go per call, so the write stays short; in-flight entries
    of deleted records go with them.
    """
    last = conn.execute(
        "SELECT max(id) FROM (SELECT id FROM stream_records WHERE stream = ? AND appended_at < ? "
        "ORDER BY appended_at LIMIT ?) AS oldest",
        (stream, cutoff, TRIM_CHUNK),
    ).fetchone()[0]
    if last is None:
        return 0
    deleted = conn.execute(
        "DELETE FROM stream_records WHERE stream = ? AND id <= ?", (stream, last)
    ).rowcount
    conn.execute(
        "DELETE FROM stream_pending WHERE stream = ? AND record_id <= ?", (stream, last)
    )
    return int(deleted)


def describe(conn: SqlConnection, stream: str) -> list[dict[str, Any]]:
    """Each group of ``stream``: ``group``, ``position``, ``in_flight``, ``lag`` (new records)."""
    rows = conn.execute(
        "SELECT g.grp, g.position, g.created_at, "
        "(SELECT count(*) FROM stream_pending p WHERE p.stream = g.stream AND p.grp = g.grp), "
        "(SELECT count(*) FROM stream_records r WHERE r.stream = g.stream AND r.id > g.position) "
        "FROM stream_groups g WHERE g.stream = ? ORDER BY g.grp",
        (stream,),
    ).fetchall()
    return [
        {"group": r[0], "position": r[1], "created_at": r[2], "in_flight": r[3], "lag": r[4]}
        for r in rows
    ]
