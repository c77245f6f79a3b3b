"""Confirmation codes: six digits, stored as Argon2id hashes, short-lived, few attempts.

One code per user and purpose (``sign_up`` or ``forgot_password``); sending a new one replaces
the old. Rules:

- a sign-up code is valid for 24 hours, a password-reset code for 1 hour (Cognito's);
- :data:`MAX_ATTEMPTS` wrong guesses burn the code (``TooManyFailedAttemptsException`` until a
  new code is requested), and every guess is counted *before* it is checked, so concurrent
  guesses cannot exceed the limit;
- at most :data:`MAX_SENDS_PER_HOUR` codes per user and purpose an hour
  (``LimitExceededException``).

The hash keeps a stolen database file from revealing live codes (each guess costs an Argon2id
evaluation); the attempt limit is what defends the online API.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import Final

from clientevents.identity.errors import CognitoError, Messages

__all__ = [
    "CODE_TTL_SECS",
    "MAX_ATTEMPTS",
    "MAX_SENDS_PER_HOUR",
    "StoredCode",
    "consume_attempt",
    "delete_code",
    "new_code",
    "store_code",
]

SIGN_UP: Final = "sign_up"
FORGOT_PASSWORD: Final = "forgot_password"

CODE_TTL_SECS: Final = {SIGN_UP: 24 * 3600.0, FORGOT_PASSWORD: 3600.0}
MAX_ATTEMPTS: Final = 5
MAX_SENDS_PER_HOUR: Final = 10
SEND_WINDOW_SECS: Final = 3600.0


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


@dataclass(frozen=True, slots=True)
class StoredCode:
    """A code row as a guess sees it (``attempts`` includes the guess being checked)."""

    code_hash: str
    expires_at: float
    attempts: int


def store_code(
    conn: sqlite3.Connection, sub: str, purpose: str, code_hash: str, now: float
) -> None:
    """Replace the user's code for ``purpose``; refuse past the hourly send limit."""
    row = conn.execute(
        "SELECT sends, window_start FROM codes WHERE sub = ? AND purpose = ?", (sub, purpose)
    ).fetchone()
    sends, window_start = 1, now
    if row is not None and now - row[1] < SEND_WINDOW_SECS:
        if row[0] >= MAX_SENDS_PER_HOUR:
            raise CognitoError("LimitExceededException", Messages.SEND_LIMIT)
        sends, window_start = row[0] + 1, row[1]
    conn.execute(
        "INSERT OR REPLACE INTO codes "
        "(sub, purpose, code_hash, created_at, expires_at, attempts, sends, window_start) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        (sub, purpose, code_hash, now, now + CODE_TTL_SECS[purpose], sends, window_start),
    )


def consume_attempt(conn: sqlite3.Connection, sub: str, purpose: str) -> StoredCode | None:
    """Count one guess against the user's code and return it; ``None`` when there is none."""
    conn.execute(
        "UPDATE codes SET attempts = attempts + 1 WHERE sub = ? AND purpose = ?", (sub, purpose)
    )
    row = conn.execute(
        "SELECT code_hash, expires_at, attempts FROM codes WHERE sub = ? AND purpose = ?",
        (sub, purpose),
    ).fetchone()
    return None if row is None else StoredCode(row[0], row[1], row[2])


def delete_code(conn: sqlite3.Connection, sub: str, purpose: str, code_hash: str) -> bool:
    """Delete the code that was just matched; ``False`` when it was replaced meanwhile."""
    cursor = conn.execute(
        "DELETE FROM codes WHERE sub = ? AND purpose = ? AND code_hash = ?",
        (sub, purpose, code_hash),
    )
    return cursor.rowcount == 1
