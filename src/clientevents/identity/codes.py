"""Confirmation codes: six digits, stored as Argon2id hashes, short-lived, few attempts.

One code per username and purpose (``sign_up`` or ``forgot_password``), in table
``pending_codes``; sending a new one replaces the old. Rules:

- a sign-up code is valid for 24 hours, a password-reset code for 1 hour (Cognito's);
- :data:`MAX_ATTEMPTS` wrong guesses burn the code (``TooManyFailedAttemptsException`` until a
  new code is requested), and every guess is counted *before* it is checked, so concurrent
  guesses cannot exceed the limit;
- at most :data:`MAX_SENDS_PER_HOUR` codes per username and purpose an hour; past that no new
  code is made and the last one sent stays valid.

Codes are keyed by :func:`~clientevents.identity.usernames.username_key`, not by user. When the
pool hides which users exist, a code request for an unknown name (or a user that cannot get a
code) stores a code nobody is sent, so the guesses, limits and expiry that follow behave for that
name exactly as for a real user. Rows are dropped once both the code and its send window are
over (``forget_at``).

The hash keeps a stolen database file from revealing live codes (each guess costs an Argon2id
evaluation); the attempt limit is what defends the online API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from clientevents.store.port import SqlConnection

__all__ = [
    "CODE_TTL_SECS",
    "FORGOT_PASSWORD",
    "MAX_ATTEMPTS",
    "MAX_SENDS_PER_HOUR",
    "SIGN_UP",
    "StoredCode",
    "consume_attempt",
    "delete_code",
    "delete_codes",
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
    """A code row as a guess sees it (``attempts`` includes the guess being checked).

    ``code_hash`` is ``None`` when no code is pending (only guesses were counted).
    """

    code_hash: str | None
    expires_at: float
    attempts: int


def store_code(
    conn: SqlConnection,
    key: str,
    purpose: str,
    code_hash: str,
    now: float,
    *,
    fresh: bool = False,
) -> bool:
    """Replace the code of username key ``key`` for ``purpose``; ``False`` past the hourly limit.

    A refused request is still counted (a write, like a stored code), and leaves the last code
    valid. ``fresh`` starts a new send window (a new sign-up).
    """
    conn.execute("DELETE FROM pending_codes WHERE forget_at < ?", (now,))
    row = conn.execute(
        "SELECT sends, window_start FROM pending_codes WHERE username_key = ? AND purpose = ?",
        (key, purpose),
    ).fetchone()
    sends, window_start = 1, now
    if row is not None and not fresh and now - row[1] < SEND_WINDOW_SECS:
        if row[0] >= MAX_SENDS_PER_HOUR:
            conn.execute(
                "UPDATE pending_codes SET sends = sends + 1 WHERE username_key = ? AND purpose = ?",
                (key, purpose),
            )
            return False
        sends, window_start = row[0] + 1, row[1]
    expires_at = now + CODE_TTL_SECS[purpose]
    conn.execute(
        "INSERT INTO pending_codes (username_key, purpose, code_hash, created_at, "
        "expires_at, attempts, sends, window_start, forget_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?) "
        "ON CONFLICT (username_key, purpose) DO UPDATE SET code_hash = excluded.code_hash, "
        "created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0, "
        "sends = excluded.sends, window_start = excluded.window_start, "
        "forget_at = excluded.forget_at",
        (
            key, purpose, code_hash, now, expires_at, sends, window_start,
            max(expires_at, window_start + SEND_WINDOW_SECS),
        ),
    )
    return True


def consume_attempt(conn: SqlConnection, key: str, purpose: str, now: float) -> StoredCode:
    """Count one guess against the code of ``key`` and return the row as the guess sees it.

    A guess where no code is pending is counted too, in a row without a code (``code_hash``
    ``None``): every guess then costs the same write, and a name without a code — an unknown
    user, a user who was never sent one — runs out of attempts like one with a code.
    """
    ttl = CODE_TTL_SECS[purpose]
    row = conn.execute(
        "INSERT INTO pending_codes (username_key, purpose, code_hash, created_at, expires_at, "
        "attempts, sends, window_start, forget_at) VALUES (?, ?, NULL, ?, ?, 1, 0, ?, ?) "
        "ON CONFLICT (username_key, purpose) DO UPDATE SET attempts = pending_codes.attempts + 1 "
        "RETURNING code_hash, expires_at, attempts",
        (key, purpose, now, now + ttl, now, now + ttl),
    ).fetchone()
    return StoredCode(row[0], row[1], row[2])


def delete_code(conn: SqlConnection, key: str, purpose: str, code_hash: str) -> bool:
    """Delete the code that was just matched; ``False`` when it was replaced meanwhile."""
    cursor = conn.execute(
        "DELETE FROM pending_codes WHERE username_key = ? AND purpose = ? AND code_hash = ?",
        (key, purpose, code_hash),
    )
    return cursor.rowcount == 1


def delete_codes(conn: SqlConnection, key: str, purpose: str | None = None) -> None:
    """Delete the codes of ``key`` (for one purpose, or all)."""
    if purpose is None:
        conn.execute("DELETE FROM pending_codes WHERE username_key = ?", (key,))
    else:
        conn.execute(
            "DELETE FROM pending_codes WHERE username_key = ? AND purpose = ?", (key, purpose)
        )
