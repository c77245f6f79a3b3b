"""The per-request user check, cached in each process and invalidated by any process's change.

Every request authenticated by the user pool must see a sign-out, a disable or a deletion that
committed before it, in whichever process it was made. Reading the user and the session from
the database on every request does that, at the price of a query per request. Instead:

- triggers on ``users`` (``enabled``, ``client_id``, deletion) and ``refresh_tokens``
  (``revoked_at``) bump one counter, ``identity_changes.version``, in the same transaction as
  the change, whoever makes it (the user pool, the admin API, a future command);
- each process keeps the states it read, tagged with the version they were read under;
- per request it asks the store's change token for :data:`IDENTITY_CHANNEL` (no table is read);
  only when that moved does it read the counter, and only when the counter moved does it
  forget what it cached.

On SQLite the token is the thread's read connection's ``PRAGMA data_version`` (SQLite answers
whether any other connection committed since the last ask). The event log's commits move it
too, so under load the counter is read about once per commit, not per request. A commit that
changes a user's state is on disk before its caller is answered, so the next request, in any
process, sees ``data_version`` move, then the counter, and reads the state afresh.

On PostgreSQL the triggers also ``NOTIFY`` the channel in the same transaction, and the token
counts the notifications a listener connection received: a cached state costs no round trip.
The bound: a change is seen by another process once its notification arrives there (the
commit, then one network hop; PostgreSQL delivers notifications only of committed
transactions, in commit order). While the listener is disconnected the token changes at every
ask, so nothing is served from the cache until it listens again (and it forgets everything
when it reconnects).

States that refuse (unknown user, disabled, revoked) are never cached; the cache holds at most
``max_entries`` states, the oldest dropped first.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from clientevents.identity.schema import IDENTITY_DDL  # registered first: the triggers need it
from clientevents.identity.sessions import SessionState, session_state
from clientevents.store.engine import register_schema
from clientevents.store.port import StateStore

__all__ = [
    "DEFAULT_MAX_ENTRIES", "IDENTITY_CHANNEL", "STATE_DDL", "STATE_DDL_POSTGRES", "UserStateCache",
]

DEFAULT_MAX_ENTRIES = 100_000
"""States cached per process: about 300 bytes each, so about 30 MB when full."""

STATE_DDL = """
CREATE TABLE IF NOT EXISTS identity_changes (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO identity_changes (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TRIGGER IF NOT EXISTS users_state_changed AFTER UPDATE OF enabled, client_id ON users
BEGIN
    UPDATE identity_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS users_deleted AFTER DELETE ON users
BEGIN
    UPDATE identity_changes SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS sessions_revoked AFTER UPDATE OF revoked_at ON refresh_tokens
BEGIN
    UPDATE identity_changes SET version = version + 1 WHERE id = 1;
END;
"""

#: PostgreSQL: the same counter, kept by plpgsql triggers that also notify the change.
STATE_DDL_POSTGRES = """
CREATE TABLE IF NOT EXISTS identity_changes (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO identity_changes (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION identity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_changes SET version = version + 1 WHERE id = 1;
    PERFORM pg_notify(current_schema() || ':identity', '');
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER users_state_changed AFTER UPDATE OF enabled, client_id ON users
    FOR EACH ROW EXECUTE FUNCTION identity_changed();
CREATE OR REPLACE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION identity_changed();
CREATE OR REPLACE TRIGGER sessions_revoked AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW EXECUTE FUNCTION identity_changed();
"""

#: The change channel the identity triggers notify.
IDENTITY_CHANNEL = "identity"

register_schema("identity_changes", STATE_DDL, postgres=STATE_DDL_POSTGRES)

_VERSION_SQL = "SELECT version FROM identity_changes WHERE id = 1"


class _Seen:
    __slots__ = ("token",)

    def __init__(self) -> None:
        self.token: object = None


class UserStateCache:
    """What :func:`session_state` answers, cached until any process changes a user's state.

    Example::

        states = UserStateCache(db)
        state = states.get(sub, origin_jti)     # None: no such user

    Thread-safe; each thread checks its own read connection.
    """

    def __init__(self, db: StateStore, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be 0 or more, not {max_entries!r}.")
        self.db = db
        db.ensure_schema(
            IDENTITY_DDL + STATE_DDL,
            postgres=db.dialect.ddl(IDENTITY_DDL) + STATE_DDL_POSTGRES,
        )
        self.max_entries = max_entries
        self._states: dict[tuple[str, str], SessionState] = {}
        self._version = -1  # the counter the cached states were read under
        # the last change token seen: per thread on SQLite (data_version is per connection,
        # and each thread reads on its own), once for the process on PostgreSQL
        self._seen: Any = threading.local() if db.dialect.name == "sqlite" else _Seen()
        #: Whether a read of the store is a network round trip (then asyncio callers make it
        #: on a worker thread, see :meth:`aget`).
        self.remote = db.dialect.name != "sqlite"
        self.reads = 0  # states read from the database (tests, metrics)

    def cached(self, sub: str, origin_jti: str) -> SessionState | None:
        """The cached state of ``sub``'s session when no change was signalled since it was
        read, without reading the store (``None``: ask :meth:`get`)."""
        if getattr(self._seen, "token", None) != self.db.change_token(IDENTITY_CHANNEL):
            return None
        return self._states.get((sub, origin_jti))

    async def aget(self, sub: str, origin_jti: str) -> SessionState | None:
        """:meth:`get` for the event loop: a cached state at once; a read of a remote store
        on a worker thread (a local SQLite read stays on the loop: it costs less than the
        hand-off)."""
        state = self.cached(sub, origin_jti)
        if state is not None:
            return state
        if self.remote:
            return await asyncio.to_thread(self.get, sub, origin_jti)
        return self.get(sub, origin_jti)

    def get(self, sub: str, origin_jti: str) -> SessionState | None:
        """The state of ``sub`` and its session ``origin_jti``; ``None`` when there is no
        such user."""
        version = self._current_version()
        key = (sub, origin_jti)
        state = self._states.get(key)
        if state is not None:
            return state
        state = self.db.read(lambda conn: session_state(conn, sub, origin_jti))
        self.reads += 1
        if (
            state is not None
            and state.enabled
            and not state.revoked
            and self.max_entries
            and version == self._version
        ):
            states = self._states
            if len(states) >= self.max_entries:
                del states[next(iter(states))]
            states[key] = state
        return state

    def forget(self) -> None:
        """Drop every cached state (the next request of each user reads it afresh)."""
        self._states.clear()

    def _current_version(self) -> int:
        seen = self._seen
        token = self.db.change_token(IDENTITY_CHANNEL)
        if getattr(seen, "token", None) == token:
            return self._version
        (version,) = self.db.read(lambda conn: conn.execute(_VERSION_SQL).fetchone())
        if version != self._version:
            self._states.clear()
            self._version = version
        seen.token = token
        return int(version)
