"""User records: the ``users`` rows and how they read as Cognito attributes.

Functions taking a ``conn`` run inside :meth:`StateStore.write` or :meth:`StateStore.read`.
Usernames compare by :func:`~clientevents.identity.usernames.username_key` (case and Unicode
forms folded); a user keeps the spelling it signed up with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Final

from clientevents.identity.usernames import username_key
from clientevents.store.port import SqlConnection

__all__ = [
    "CONFIRMED",
    "STANDARD_ATTRIBUTES",
    "UNCONFIRMED",
    "UserRecord",
    "delete_user",
    "insert_user",
    "load_by_sub",
    "load_by_username",
    "update_user",
]

UNCONFIRMED: Final = "UNCONFIRMED"
CONFIRMED: Final = "CONFIRMED"
RESET_REQUIRED: Final = "RESET_REQUIRED"

CLIENT_ID_ATTRIBUTE: Final = "custom:clientId"

STANDARD_ATTRIBUTES: Final = frozenset(
    {
        "address", "birthdate", "email", "family_name", "gender", "given_name", "locale",
        "middle_name", "name", "nickname", "phone_number", "picture", "preferred_username",
        "profile", "updated_at", "website", "zoneinfo",
    }
)
"""The attributes a user may set at sign-up (Cognito's standard attributes)."""

_COLUMNS = (
    "sub, username, password_hash, attributes, client_id, status, enabled, email_verified, "
    "created_at, modified_at"
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user of the pool, as stored."""

    sub: str
    username: str
    password_hash: str
    attributes: dict[str, str] = field(default_factory=dict)
    client_id: str | None = None
    status: str = UNCONFIRMED
    enabled: bool = True
    email_verified: bool = False
    created_at: float = 0.0
    modified_at: float = 0.0

    @property
    def key(self) -> str:
        """The username's key (what lookups compare)."""
        return username_key(self.username)

    @property
    def email(self) -> str | None:
        return self.attributes.get("email")

    @property
    def confirmed(self) -> bool:
        return self.status == CONFIRMED

    def cognito_attributes(self, names: frozenset[str] | None = None) -> list[dict[str, str]]:
        """``[{"Name": ..., "Value": ...}]`` as GetUser and AdminGetUser answer them."""
        pairs: list[tuple[str, str]] = [("sub", self.sub)]
        pairs.extend(sorted(self.attributes.items()))
        if self.email is not None:
            pairs.append(("email_verified", "true" if self.email_verified else "false"))
        if self.client_id is not None:
            pairs.append((CLIENT_ID_ATTRIBUTE, self.client_id))
        return [
            {"Name": name, "Value": value}
            for name, value in pairs
            if names is None or name in names
        ]

    def changed(self, **changes: Any) -> UserRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def _row_to_user(row: tuple[Any, ...] | None) -> UserRecord | None:
    if row is None:
        return None
    attributes = json.loads(row[3])
    return UserRecord(
        sub=row[0],
        username=row[1],
        password_hash=row[2],
        attributes=attributes if isinstance(attributes, dict) else {},
        client_id=row[4],
        status=row[5],
        enabled=bool(row[6]),
        email_verified=bool(row[7]),
        created_at=row[8],
        modified_at=row[9],
    )


def load_by_username(conn: SqlConnection, username: str) -> UserRecord | None:
    """The user ``username`` names (any case or Unicode form), or ``None``.

    Should several users share the key (created by a version that folded only ASCII case), the
    one with exactly this spelling wins, else the oldest.
    """
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE username_key = ? "
        f"ORDER BY username = ?{conn.dialect.binary} DESC, created_at LIMIT 1",
        (username_key(username), username),
    ).fetchone()
    return _row_to_user(row)


def load_by_sub(conn: SqlConnection, sub: str) -> UserRecord | None:
    """The user whose ``sub`` is ``sub``, or ``None``."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE sub = ?", (sub,)).fetchone()
    return _row_to_user(row)


def list_users(
    conn: SqlConnection, *, after: str | None, limit: int
) -> list[UserRecord]:
    """Users ordered by username (case-insensitively), starting after ``after``."""
    if after is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM users ORDER BY username LIMIT ?", (limit,)
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM users WHERE username > ? ORDER BY username LIMIT ?",
            (after, limit),
        ).fetchall()
    return [user for user in map(_row_to_user, rows) if user is not None]


def insert_user(conn: SqlConnection, user: UserRecord) -> bool:
    """Insert ``user``; ``False`` when the username (its key) is taken (nothing written)."""
    key = user.key
    cursor = conn.execute(
        f"INSERT INTO users ({_COLUMNS}, username_key) "
        "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM users WHERE username_key = ?) ON CONFLICT DO NOTHING",
        (
            user.sub, user.username, user.password_hash, json.dumps(user.attributes),
            user.client_id, user.status, int(user.enabled), int(user.email_verified),
            user.created_at, user.modified_at, key, key,
        ),
    )
    return cursor.rowcount == 1


def update_user(conn: SqlConnection, sub: str, **columns: Any) -> bool:
    """Set ``columns`` on user ``sub``; ``False`` when there is no such user."""
    allowed = {
        "password_hash", "client_id", "status", "enabled", "email_verified", "modified_at",
    }
    unknown = set(columns) - allowed
    if unknown:
        raise ValueError(f"Cannot update user columns {sorted(unknown)}.")
    assignments = ", ".join(f"{name} = ?" for name in columns)
    values = [int(v) if isinstance(v, bool) else v for v in columns.values()]
    cursor = conn.execute(f"UPDATE users SET {assignments} WHERE sub = ?", (*values, sub))
    return cursor.rowcount == 1


def delete_user(conn: SqlConnection, sub: str) -> bool:
    """Delete user ``sub`` with its sessions (cascade); its name's codes are the caller's."""
    return conn.execute("DELETE FROM users WHERE sub = ?", (sub,)).rowcount == 1
