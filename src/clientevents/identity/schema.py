"""The identity tables in the shared SQLite file, and the upgrade of files made by older versions.

``users.attributes`` holds the user's standard attributes as a JSON object (``email``,
``name``...); ``sub``, ``email_verified`` and ``custom:clientId`` live in their own columns.
``users.username_key`` is the name's :func:`~clientevents.identity.usernames.username_key`,
through which every lookup goes. A refresh token row is one sign-in session: its ``origin_jti``
is carried by every access and ID token of the session, so revoking the row revokes them all
(GlobalSignOut). ``pending_codes`` and ``sign_in_failures`` are keyed by username key, whether
or not a user has that name (see ``codes.py`` and ``lockout.py``). ``identity_secrets`` holds
values generated once per data folder (the key of simulated code destinations).

:func:`upgrade` runs when a user pool opens the database, in one write transaction (so two
processes cannot both run it): it adds and fills ``users.username_key`` in files made before it
existed, moves their ``codes`` rows (keyed by user) to ``pending_codes`` and drops ``codes``, and
reports usernames that now share a key. The ``failed_logins``, ``last_failed_at`` and
``locked_until`` columns such files keep are no longer used.
"""

from __future__ import annotations

import secrets

from clientevents.identity.usernames import username_key
from clientevents.store.engine import register_schema
from clientevents.store.port import SqlConnection

__all__ = ["IDENTITY_DDL", "secret", "upgrade"]

IDENTITY_DDL = """
CREATE TABLE IF NOT EXISTS users (
    sub            TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    username_key   TEXT,
    password_hash  TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}',
    client_id      TEXT,
    status         TEXT NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1,
    email_verified INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    modified_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_codes (
    username_key TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    code_hash    TEXT,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    sends        INTEGER NOT NULL DEFAULT 1,
    window_start REAL NOT NULL,
    forget_at    REAL NOT NULL,
    PRIMARY KEY (username_key, purpose)
);
CREATE INDEX IF NOT EXISTS pending_codes_by_forget_at ON pending_codes(forget_at);
CREATE TABLE IF NOT EXISTS sign_in_failures (
    username_key   TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    last_failed_at REAL NOT NULL,
    locked_until   REAL,
    forget_at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_forget_at ON sign_in_failures(forget_at);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    origin_jti TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    sub        TEXT NOT NULL REFERENCES users(sub) ON DELETE CASCADE,
    auth_time  INTEGER NOT NULL,
    issued_at  REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS refresh_tokens_by_sub ON refresh_tokens(sub);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pem   TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    retired_at    REAL,
    publish_until REAL
);
CREATE TABLE IF NOT EXISTS identity_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

register_schema("identity", IDENTITY_DDL)


def upgrade(conn: SqlConnection) -> list[str]:
    """Bring an older file's identity tables up to date (idempotent); return warnings."""
    columns = conn.dialect.columns(conn, "users")
    if "username_key" not in columns:
        conn.execute("ALTER TABLE users ADD COLUMN username_key TEXT")
    rows = conn.execute("SELECT sub, username FROM users WHERE username_key IS NULL").fetchall()
    for sub, name in rows:
        conn.execute("UPDATE users SET username_key = ? WHERE sub = ?", (username_key(name), sub))
    conn.execute("CREATE INDEX IF NOT EXISTS users_by_username_key ON users(username_key)")
    if conn.dialect.table_exists(conn, "codes"):  # a SQLite file of an early release
        conn.execute(
            "INSERT OR REPLACE INTO pending_codes (username_key, purpose, code_hash, created_at, "
            "expires_at, attempts, sends, window_start, forget_at) "
            "SELECT u.username_key, c.purpose, c.code_hash, c.created_at, c.expires_at, "
            "c.attempts, c.sends, c.window_start, max(c.expires_at, c.window_start + 3600) "
            "FROM codes c JOIN users u ON u.sub = c.sub"
        )
        conn.execute("DROP TABLE codes")
    shared: dict[str, list[str]] = {}
    for key, name in conn.execute(
        "SELECT username_key, username FROM users WHERE username_key IN "
        "(SELECT username_key FROM users GROUP BY username_key HAVING count(*) > 1) "
        "ORDER BY username_key, created_at"
    ).fetchall():
        shared.setdefault(key, []).append("'" + str(name).replace("'", "''") + "'")
    return [
        f"Users {', '.join(names)} were created as different users but their names now compare "
        "equal (case and Unicode forms are folded); each still signs in with its exact "
        "spelling, and any other spelling reaches the oldest. Delete all but one of them."
        for names in shared.values()
    ]


def secret(conn: SqlConnection, name: str) -> bytes:
    """The secret called ``name``, generated (32 random bytes) the first time it is asked for."""
    conn.execute(
        "INSERT INTO identity_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, secrets.token_hex(32)),
    )
    row = conn.execute("SELECT value FROM identity_secrets WHERE name = ?", (name,)).fetchone()
    return bytes.fromhex(row[0])
