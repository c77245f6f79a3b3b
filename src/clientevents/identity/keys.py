"""The user pool's signing keys: RS256 key pairs kept in the store, rotated without breaking tokens.

Every key is a row of ``signing_keys`` (private key as PKCS#8 PEM, public key as a JWK). The
newest key that is not retired signs; :meth:`KeyRing.rotate` adds a new key and retires the old
one, which stays in the JWKS (and keeps verifying) for ``retention_secs`` — the longest token
lifetime plus a margin — so tokens it signed live out their lifetime. The ``kid`` is the key's
RFC 7638 thumbprint.

Several processes share the table: each reloads it at most every ``reload_interval_secs`` and
whenever it meets a ``kid`` it does not know, so a rotation in one process reaches the others.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from clientevents.store.port import SqlConnection, StateStore

__all__ = ["ALGORITHM", "KeyRing", "SigningKey", "generate_rsa_key"]

ALGORITHM = "RS256"
RSA_BITS = 2048


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key pair as stored; ``retired_at`` is ``None`` for the key that signs."""

    kid: str
    private_key: rsa.RSAPrivateKey
    public_jwk: dict[str, str]
    created_at: float
    retired_at: float | None
    publish_until: float | None


def _b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def generate_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (what Cognito signs with)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _new_key_row(key: rsa.RSAPrivateKey) -> tuple[str, str, str]:
    """(kid, private PEM, public JWK JSON) of ``key``."""
    numbers = key.public_key().public_numbers()
    e, n = _b64(numbers.e), _b64(numbers.n)
    thumb_input = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(thumb_input.encode()).digest())
    kid_text = kid.rstrip(b"=").decode("ascii")
    jwk = {"kty": "RSA", "kid": kid_text, "use": "sig", "alg": ALGORITHM, "n": n, "e": e}
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return kid_text, pem, json.dumps(jwk)


class KeyRing:
    """Signs the pool's tokens and publishes the public keys.

    Example::

        ring = KeyRing(db, retention_secs=3600 + 300)
        token = ring.sign({"sub": "..."})
        jwks = ring.jwks()            # {"keys": [...]} for /.well-known/jwks.json
        key = ring.verification_key(kid)
    """

    def __init__(
        self,
        db: StateStore,
        *,
        retention_secs: float,
        reload_interval_secs: float = 10.0,
        clock: Callable[[], float] = time.time,
        new_key: Callable[[], rsa.RSAPrivateKey] = generate_rsa_key,
    ) -> None:
        self._db = db
        self._new_key = new_key
        self._retention = retention_secs
        self._reload_interval = reload_interval_secs
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._made_here: dict[str, rsa.RSAPrivateKey] = {}  # saves re-parsing our own PEM
        self._public: dict[str, Any] = {}
        self._current: SigningKey | None = None
        self._loaded_at = float("-inf")
        self.reload()
        if self._current is None:
            self._create_first()

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Read every published key from the store."""
        now = self._clock()
        rows = self._db.read(
            lambda conn: conn.execute(
                "SELECT kid, private_pem, public_jwk, created_at, retired_at, publish_until "
                "FROM signing_keys WHERE publish_until IS NULL OR publish_until > ? "
                "ORDER BY created_at",
                (now,),
            ).fetchall()
        )
        keys: dict[str, SigningKey] = {}
        current: SigningKey | None = None
        for kid, pem, jwk_text, created_at, retired_at, publish_until in rows:
            known = self._keys.get(kid)
            private = (
                known.private_key
                if known is not None
                else self._made_here.get(kid)
                or serialization.load_pem_private_key(pem.encode("ascii"), password=None)
            )
            if not isinstance(private, rsa.RSAPrivateKey):
                continue
            key = SigningKey(kid, private, json.loads(jwk_text), created_at, retired_at,
                             publish_until)
            keys[kid] = key
            if retired_at is None:
                current = key
        public = {
            kid: (self._public[kid] if kid in self._public else RSAAlgorithm.from_jwk(k.public_jwk))
            for kid, k in keys.items()
        }
        with self._lock:
            self._keys = keys
            self._public = public
            self._current = current
            self._loaded_at = now

    def _maybe_reload(self) -> None:
        if self._clock() - self._loaded_at >= self._reload_interval:
            self.reload()

    def _create_first(self) -> None:
        key = self._new_key()
        kid, pem, jwk = _new_key_row(key)
        self._made_here[kid] = key

        def insert_unless_present(conn: SqlConnection) -> None:
            row = conn.execute(
                "SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1"
            ).fetchone()
            if row is None:  # another process may have created one meanwhile
                conn.execute(
                    "INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (kid, ALGORITHM, pem, jwk, self._clock()),
                )

        self._db.write(insert_unless_present)
        self.reload()

    # -- use --------------------------------------------------------------------------------

    def current(self) -> SigningKey:
        """The key that signs now."""
        self._maybe_reload()
        key = self._current
        if key is None:
            self._create_first()
            key = self._current
        if key is None:  # pragma: no cover - the insert above guarantees a key
            raise RuntimeError("The user pool has no signing key.")
        return key

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWT of ``claims`` with the current key's ``kid`` in its header."""
        key = self.current()
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def verification_key(self, kid: str) -> Any | None:
        """The public key for ``kid``, reloading the store once if ``kid`` is new to us."""
        key = self._public.get(kid)
        if key is None and self._clock() - self._loaded_at >= 1.0:
            self.reload()
            key = self._public.get(kid)
        if key is not None:
            until = self._keys[kid].publish_until if kid in self._keys else None
            if until is not None and until <= self._clock():
                return None
        return key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set: the signing key and the retired keys still in retention."""
        self._maybe_reload()
        now = self._clock()
        return {
            "keys": [
                dict(k.public_jwk)
                for k in sorted(
                    self._keys.values(), key=lambda k: (k.retired_at is not None, -k.created_at)
                )
                if k.publish_until is None or k.publish_until > now
            ]
        }

    def rotate(self) -> SigningKey:
        """Start signing with a new key; the previous ones stay published for the retention."""
        now = self._clock()
        key = self._new_key()
        kid, pem, jwk = _new_key_row(key)
        self._made_here[kid] = key
        retention = self._retention

        def swap(conn: SqlConnection) -> None:
            conn.execute(
                "UPDATE signing_keys SET retired_at = ?, publish_until = ? "
                "WHERE retired_at IS NULL",
                (now, now + retention),
            )
            conn.execute(
                "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until <= ?",
                (now,),
            )
            conn.execute(
                "INSERT INTO signing_keys (kid, alg, private_pem, public_jwk, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kid, ALGORITHM, pem, jwk, now),
            )

        self._db.write(swap)
        self.reload()
        return self.current()
