"""The tables of archives and replays, their ARNs, replay states and timestamp text.

Tables (owned by ``archive/``):

- ``archive_events``: the copies an archive keeps, one row per (archive, log ``seq``), with the
  event's id, event time, ingestion time and envelope JSON text.
- ``archives_state``: per archive, when the workers first saw it (``CreationTime``), its bus,
  and its running event count and size in bytes (kept in the same transactions as the rows).
- ``replays``: one row per replay: what to replay (archive, window, rules), its state and its
  durable progress (the cursor ``(cursor_time, cursor_seq)`` of the last replayed event; on an
  archive stream, the minute being read and the last stream sequence read in it). With a
  JetStream log, ``bus_mark`` is the bus stream's last sequence when the replay last committed
  and ``mark_time`` when: what the replay publishes next comes after ``bus_mark``.

Times are epoch seconds (``REAL``) everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from clientevents.store.engine import register_column, register_schema

__all__ = [
    "ACTIVE_STATES",
    "CANCELLED",
    "CANCELLING",
    "COMPLETED",
    "FAILED",
    "REPLAY_STATES",
    "RUNNING",
    "SCHEMA",
    "STARTING",
    "archive_arn",
    "archive_group",
    "bus_arn",
    "format_timestamp",
    "replay_arn",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS archive_events (
    archive TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    time REAL NOT NULL,
    ingested_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (archive, seq)
);
CREATE INDEX IF NOT EXISTS archive_events_time ON archive_events (archive, time, seq);
CREATE INDEX IF NOT EXISTS archive_events_ingested ON archive_events (archive, ingested_at);
CREATE TABLE IF NOT EXISTS archives_state (
    archive TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    created_at REAL NOT NULL,
    event_count INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    last_trimmed_at REAL NULL
);
CREATE TABLE IF NOT EXISTS replays (
    name TEXT PRIMARY KEY,
    archive TEXT NOT NULL,
    bus TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    event_start_time REAL NOT NULL,
    event_end_time REAL NOT NULL,
    rules TEXT NULL,
    state TEXT NOT NULL,
    state_reason TEXT NOT NULL DEFAULT '',
    replay_start_time REAL NOT NULL,
    replay_end_time REAL NULL,
    event_last_replayed_time REAL NULL,
    cursor_time REAL NOT NULL,
    cursor_seq INTEGER NOT NULL DEFAULT 0,
    events_replayed INTEGER NOT NULL DEFAULT 0,
    bus_mark INTEGER NULL,
    mark_time REAL NULL
);
CREATE INDEX IF NOT EXISTS replays_state ON replays (state);
"""

register_schema("archive", SCHEMA)
register_column("replays", "bus_mark", "INTEGER NULL")
register_column("replays", "mark_time", "REAL NULL")

# EventBridge's replay states (DescribeReplay ``State``).
STARTING: Final = "STARTING"
"""Written by StartReplay; the workers have not taken the replay yet."""
RUNNING: Final = "RUNNING"
"""The workers are putting the window's events back on the bus."""
CANCELLING: Final = "CANCELLING"
"""CancelReplay was called; the workers stop it at their next step."""
COMPLETED: Final = "COMPLETED"
"""Every archived event of the window was put back on the bus."""
CANCELLED: Final = "CANCELLED"
"""Stopped by CancelReplay; the events replayed before the cancel stay replayed."""
FAILED: Final = "FAILED"
"""Stopped by an error; ``StateReason`` says which."""

REPLAY_STATES: Final = (STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED, FAILED)
ACTIVE_STATES: Final = (STARTING, RUNNING, CANCELLING)
"""States the workers still act on (EventBridge counts these against its concurrency quota)."""


def archive_group(archive: str) -> str:
    """The log consumer group of an archive: ``archive:<name>``."""
    return f"archive:{archive}"


def archive_arn(region: str, account: str, archive: str) -> str:
    """``arn:aws:events:{region}:{account}:archive/{archive}``."""
    return f"arn:aws:events:{region}:{account}:archive/{archive}"


def replay_arn(region: str, account: str, replay: str) -> str:
    """``arn:aws:events:{region}:{account}:replay/{replay}``."""
    return f"arn:aws:events:{region}:{account}:replay/{replay}"


def bus_arn(region: str, account: str, bus: str) -> str:
    """``arn:aws:events:{region}:{account}:event-bus/{bus}``."""
    return f"arn:aws:events:{region}:{account}:event-bus/{bus}"


def format_timestamp(epoch: float | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``: whole seconds when exact, else milli- or microseconds.

    ``None`` stays ``None`` (a time not reached yet, like ``ReplayEndTime`` while running).
    """
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    micro = moment.microsecond
    if micro == 0:
        spec = "seconds"
    elif micro % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
