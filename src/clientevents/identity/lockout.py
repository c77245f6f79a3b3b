"""Failed sign-ins and the lockout they cause, per username, claimed before the password check.

Cognito's rule: the first :data:`FREE_FAILURES` - 1 failed sign-ins cost nothing; from the fifth
on, each failure locks the username out for 1, 2, 4, ... seconds, at most :data:`MAX_LOCK_SECS`
(15 minutes). A failure more than 15 minutes after both the previous failure and the end of the
last lock starts the count afresh; a successful sign-in or a password reset resets it.

**Claim, then verify.** A sign-in first *claims* an attempt in one write transaction
(:func:`claim`): if the username is locked the claim is refused, else the attempt is counted as
a failure (and the lock that failure earns is set) before the password is even looked at; a
correct password then forgives it (:func:`forgive`). Claims of one username are serialised
across threads and processes, by the database's write lock on SQLite and by a lock per table
and username key held until the claim commits on PostgreSQL (whose writers in several
processes run at once), so however many sign-ins arrive at once no more attempts are ever
evaluated than the rule allows — counting after the check let 45 of 101 concurrent wrong
passwords through.

The state is keyed by :func:`~clientevents.identity.usernames.username_key`, not by user: an
unknown username is counted and locked exactly like a real one, so the lockout answer
(``Password attempts exceeded``) tells nothing about which users exist. Rows are dropped once
they no longer matter (``forget_at``), so guessing random names leaves no lasting trace.

The functions work on any table of :data:`FAILURES_COLUMNS`' shape named in :data:`TABLES`:
the user pool's ``sign_in_failures`` (the default) and the console's
``console_sign_in_failures`` (owned by ``admin/accounts.py``), so both sign-ins follow one rule
and neither can lock the other's names out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clientevents.store.port import SqlConnection

__all__ = [
    "FAILURES_COLUMNS",
    "FREE_FAILURES",
    "MAX_LOCK_SECS",
    "TABLES",
    "Failures",
    "claim",
    "forgive",
    "lock_secs",
    "state",
]

FREE_FAILURES: Final = 5
MAX_LOCK_SECS: Final = 900.0

FAILURES_COLUMNS: Final = """
    username_key   TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failed_at REAL NOT NULL,
    locked_until   REAL,
    forget_at      REAL NOT NULL
"""
"""The columns of a failures table (``CREATE TABLE ... (<these>)``)."""

TABLES: Final = frozenset({"sign_in_failures", "console_sign_in_failures"})
"""The failures tables these functions may use (their names go into SQL text)."""


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"{name!r} is not a sign-in failures table ({', '.join(sorted(TABLES))})")
    return name


def lock_secs(failures: int) -> float:
    """How long the ``failures``-th consecutive failure locks the username out."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(2.0 ** min(failures - FREE_FAILURES, 30), MAX_LOCK_SECS)


@dataclass(frozen=True, slots=True)
class Failures:
    """The failed sign-ins counted against a username."""

    count: int
    last_failed_at: float
    locked_until: float | None


def state(conn: SqlConnection, key: str, *,
          table: str = "sign_in_failures") -> Failures | None:
    """The failures counted against username key ``key`` (``None``: none)."""
    row = conn.execute(
        f"SELECT failures, last_failed_at, locked_until FROM {_table(table)} "
        "WHERE username_key = ?",
        (key,),
    ).fetchone()
    return None if row is None else Failures(int(row[0]), float(row[1]), row[2])


def claim(conn: SqlConnection, key: str, now: float, *,
          table: str = "sign_in_failures") -> bool:
    """Count one sign-in attempt as a failure before it is checked; ``False``: locked out."""
    conn.dialect.lock(conn, f"{_table(table)}:{key}")  # held until the claim commits
    conn.execute(f"DELETE FROM {_table(table)} WHERE forget_at < ?", (now,))
    previous = state(conn, key, table=table)
    failures = 0
    if previous is not None:
        if previous.locked_until is not None and previous.locked_until > now:
            return False
        quiet_since = max(previous.last_failed_at, previous.locked_until or 0.0)
        if now - quiet_since <= MAX_LOCK_SECS:
            failures = previous.count
    failures += 1
    lock = lock_secs(failures)
    locked_until = now + lock if lock > 0 else None
    conn.execute(
        f"INSERT INTO {_table(table)} "
        "(username_key, failures, last_failed_at, locked_until, forget_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (username_key) DO UPDATE SET failures = excluded.failures, "
        "last_failed_at = excluded.last_failed_at, locked_until = excluded.locked_until, "
        "forget_at = excluded.forget_at",
        (key, failures, now, locked_until, max(now, locked_until or now) + MAX_LOCK_SECS),
    )
    return True


def forgive(conn: SqlConnection, key: str, *, table: str = "sign_in_failures") -> None:
    """Forget the failures of ``key`` (after a correct password or a password reset)."""
    conn.execute(f"DELETE FROM {_table(table)} WHERE username_key = ?", (key,))
