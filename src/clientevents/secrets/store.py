"""The encrypted secret store: named secrets in the shared database, sealed with AES-256-GCM.

Table ``secrets`` (owned by this module) holds, per name, a random 96-bit nonce and the
ciphertext of the value, bound to its name (the name is the associated data, so a row copied
under another name does not decrypt), with the fingerprint of the key that sealed it. Facts that
are not secret are kept beside it in clear so listing needs no key: whether the value is a JSON
object, its keys, its length.

A value is text; a JSON object value can be read by key (the blueprint's ``proto/zendesk``
holds ``{"username": ..., "apiToken": ...}``). Nothing here logs or returns a value except
:meth:`SecretStore.value`, which the API destination target calls to build requests.

Example::

    store = SecretStore(db, load_master_key(data_dir, create=True))
    store.set("proto/zendesk", '{"username": "agent@example.com/token", "apiToken": "..."}')
    store.value("proto/zendesk", "apiToken")
    store.describe("proto/zendesk")      # SecretInfo: kind, keys, size, times; never the value
"""

from __future__ import annotations

import builtins
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clientevents.secrets.errors import SecretError, SecretNotFound, SecretUnreadable
from clientevents.store.engine import register_schema

if TYPE_CHECKING:
    from clientevents.secrets.keys import MasterKey
    from clientevents.store.port import SqlConnection, StateStore

__all__ = ["NAME_PATTERN", "SCHEMA", "SecretInfo", "SecretStore", "check_name"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    key_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    json_keys TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""

register_schema("secrets.store", SCHEMA)

NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9/_+=.@\-]{1,512}$")
"""Secret names: letters, digits and ``/_+=.@-`` (as AWS Secrets Manager allows), 1 to 512."""

MAX_VALUE_BYTES: Final = 65_536
_AAD_PREFIX: Final = b"clientevents/secret/v1\0"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name.

    Raises:
        SecretError: it is not.
    """
    if not NAME_PATTERN.match(name):
        raise SecretError(
            f"{name[:80]!r} is not a valid secret name: use 1 to 512 letters, digits and "
            "/_+=.@- (for example proto/zendesk)."
        )
    return name


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What can be said of a secret without showing it."""

    name: str
    kind: str
    keys: list[str]
    size: int
    key_id: str
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (epoch seconds)."""
        return asdict(self)


def _shape(value: str) -> tuple[str, list[str]]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "text", []
    if isinstance(parsed, dict):
        return "json", sorted(str(k) for k in parsed)
    return "text", []


class SecretStore:
    """Named secrets, encrypted at rest with the master key.

    Args:
        db: the shared database (the table is created if needed).
        key: the master key; ``None`` allows only what needs no key (list, describe, delete).
    """

    def __init__(self, db: StateStore, key: MasterKey | None) -> None:
        self.db = db
        self.key = key
        db.ensure_schema(SCHEMA)

    def _cipher(self) -> AESGCM:
        if self.key is None:
            raise SecretError("The secret store was opened without its master key.")
        return AESGCM(self.key.key)

    def set(self, name: str, value: str) -> bool:
        """Store ``value`` under ``name``; ``True`` when it replaced an existing secret.

        Raises:
            SecretError: an invalid name, an empty value or one over 64 KiB.
        """
        check_name(name)
        data = value.encode("utf-8")
        if not data:
            raise SecretError(f"The value of secret {name!r} is empty; a secret needs a value.")
        if len(data) > MAX_VALUE_BYTES:
            raise SecretError(
                f"The value of secret {name!r} has {len(data)} bytes; at most "
                f"{MAX_VALUE_BYTES} are allowed."
            )
        cipher = self._cipher()
        assert self.key is not None
        nonce = os.urandom(12)
        sealed = cipher.encrypt(nonce, data, _AAD_PREFIX + name.encode())
        kind, keys = _shape(value)
        now = time.time()
        key_id = self.key.key_id

        def write(conn: SqlConnection) -> bool:
            existed = conn.execute("SELECT 1 FROM secrets WHERE name = ?", (name,)).fetchone()
            conn.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, key_id, kind, json_keys, size, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, "
                "ciphertext = excluded.ciphertext, key_id = excluded.key_id, "
                "kind = excluded.kind, json_keys = excluded.json_keys, size = excluded.size, "
                "updated_at = excluded.updated_at",
                (name, nonce, sealed, key_id, kind, orjson.dumps(keys).decode(), len(data),
                 now, now),
            )
            return existed is not None

        return self.db.write(write)

    def value(self, name: str, key: str | None = None) -> str:
        """The secret's text, or the text of ``key`` in a JSON object secret.

        A non-string JSON value is returned as JSON text.

        Raises:
            SecretNotFound: no such secret, or no such key in it.
            SecretUnreadable: it does not decrypt with this master key.
        """
        row = self.db.read(
            lambda conn: conn.execute(
                "SELECT nonce, ciphertext, key_id FROM secrets WHERE name = ?", (name,)
            ).fetchone()
        )
        if row is None:
            raise SecretNotFound(
                f"Secret {name!r} is not in the secret store; store it with: "
                f"clientevents secrets set {name}"
            )
        nonce, sealed, key_id = row
        try:
            text = self._cipher().decrypt(nonce, sealed, _AAD_PREFIX + name.encode()).decode()
        except (InvalidTag, UnicodeDecodeError):
            this = self.key.key_id if self.key else "none"
            raise SecretUnreadable(
                f"Secret {name!r} does not decrypt with the master key in use (key id {this}; "
                f"the secret was stored with key id {key_id}). Use the key it was stored with, "
                "or store the secret again."
            ) from None
        if key is None:
            return text
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SecretNotFound(
                f"Secret {name!r} is not a JSON object, so it has no key {key!r}; store it as "
                "JSON or leave the key out."
            )
        if key not in parsed:
            keys = ", ".join(sorted(map(str, parsed))) or "none"
            raise SecretNotFound(f"Secret {name!r} has no key {key!r} (its keys: {keys}).")
        item = parsed[key]
        return item if isinstance(item, str) else orjson.dumps(item).decode()

    def describe(self, name: str) -> SecretInfo | None:
        """What is known of ``name`` without decrypting it; ``None`` when there is none."""
        rows = self._rows("WHERE name = ?", (name,))
        return rows[0] if rows else None

    def list(self) -> builtins.list[SecretInfo]:
        """Every secret, by name."""
        return self._rows("ORDER BY name", ())

    def names(self) -> builtins.set[str]:
        """The stored names."""
        return {info.name for info in self.list()}

    def delete(self, name: str) -> bool:
        """Remove ``name``; ``False`` when there was no such secret."""
        return bool(self.db.write(
            lambda conn: conn.execute("DELETE FROM secrets WHERE name = ?", (name,)).rowcount
            == 1
        ))

    def _rows(self, clause: str, params: tuple[Any, ...]) -> builtins.list[SecretInfo]:
        rows = self.db.read(
            lambda conn: conn.execute(
                "SELECT name, kind, json_keys, size, key_id, created_at, updated_at "
                f"FROM secrets {clause}",
                params,
            ).fetchall()
        )
        return [
            SecretInfo(r[0], r[1], list(orjson.loads(r[2])), r[3], r[4], r[5], r[6])
            for r in rows
        ]
