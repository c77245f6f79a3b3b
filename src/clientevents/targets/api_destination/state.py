"""Connection states, as the workers last saw them: table ``connection_states`` (owned here).

A connection is ``AUTHORIZED`` when its credentials resolve (and, for OAuth, when the token
endpoint gave a token); ``DEAUTHORIZED`` with the reason when they do not (a secret is missing,
the OAuth endpoint refused the client); ``AUTHORIZING`` while a token is being fetched or the
token endpoint cannot be reached. Deliveries of a connection that is not ``AUTHORIZED`` wait in
their queues (nothing is claimed, no attempt is spent) and go out once it is again.

The workers write a row when a state changes; ``clientevents connections list|describe`` read
them. Reasons are redacted before they are written.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from clientevents.store.engine import register_schema

if TYPE_CHECKING:
    from clientevents.store.port import SqlConnection, StateStore

__all__ = ["AUTHORIZED", "AUTHORIZING", "DEAUTHORIZED", "SCHEMA", "ConnectionState",
           "read_states", "record_state"]

AUTHORIZED: Final = "AUTHORIZED"
DEAUTHORIZED: Final = "DEAUTHORIZED"
AUTHORIZING: Final = "AUTHORIZING"

State = Literal["AUTHORIZED", "DEAUTHORIZED", "AUTHORIZING"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS connection_states (
    name TEXT PRIMARY KEY,
    authorization_type TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_at REAL NOT NULL
);
"""

register_schema("targets.api_destination.state", SCHEMA)


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """One connection's last recorded state."""

    name: str
    authorization_type: str
    state: str
    reason: str
    changed_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (epoch seconds)."""
        return asdict(self)


def record_state(db: StateStore, state: ConnectionState) -> None:
    """Write ``state`` (blocking; a short write)."""
    def write(conn: SqlConnection) -> None:
        conn.execute(
            "INSERT INTO connection_states (name, authorization_type, state, reason, changed_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "authorization_type = excluded.authorization_type, state = excluded.state, "
            "reason = excluded.reason, changed_at = excluded.changed_at",
            (state.name, state.authorization_type, state.state, state.reason, state.changed_at),
        )

    db.write(write)


def read_states(db: StateStore) -> dict[str, ConnectionState]:
    """Every recorded state, by connection name."""
    db.ensure_schema(SCHEMA)
    rows = db.read(
        lambda conn: conn.execute(
            "SELECT name, authorization_type, state, reason, changed_at FROM connection_states"
        ).fetchall()
    )
    return {row[0]: ConnectionState(*row) for row in rows}


def now() -> float:
    """The time states are stamped with."""
    return time.time()
