"""The identity tables in the shared SQLite file: users, codes, refresh tokens, signing keys.

``users.attributes`` holds the user's standard attributes as a JSON object (``email``,
``name``...); ``sub``, ``email_verified`` and ``custom:clientId`` live in their own columns.
A refresh token row is one sign-in session: its ``origin_jti`` is carried by every access and
ID token of the session, so revoking the row revokes them all (GlobalSignOut).
"""

from __future__ import annotations

from clientevents.store.engine import register_schema

__all__ = ["IDENTITY_DDL"]

IDENTITY_DDL = """
CREATE TABLE IF NOT EXISTS users (
    sub            TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash  TEXT NOT NULL,
    attributes     TEXT NOT NULL DEFAULT '{}',
    client_id      TEXT,
    status         TEXT NOT NULL,
    enabled        INTEGER NOT NULL DEFAULT 1,
    email_verified INTEGER NOT NULL DEFAULT 0,
    created_at     REAL NOT NULL,
    modified_at    REAL NOT NULL,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    last_failed_at REAL,
    locked_until   REAL
);
CREATE TABLE IF NOT EXISTS codes (
    sub          TEXT NOT NULL REFERENCES users(sub) ON DELETE CASCADE,
    purpose      TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    sends        INTEGER NOT NULL DEFAULT 1,
    window_start REAL NOT NULL,
    PRIMARY KEY (sub, purpose)
);
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
"""

register_schema("identity", IDENTITY_DDL)
