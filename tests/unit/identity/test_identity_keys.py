"""Signing keys: stored in the database, published as a JWKS, rotated without breaking tokens."""

from __future__ import annotations

from typing import Any

import jwt
from identity_helpers import FakeClock, reused_key
from jwt.algorithms import RSAAlgorithm

from clientevents.identity.keys import KeyRing
from clientevents.store.engine import Database


def ring(db: Database, clock: FakeClock, retention: float = 3900.0) -> KeyRing:
    return KeyRing(db, retention_secs=retention, clock=clock, new_key=reused_key,
                   reload_interval_secs=10.0)


def test_first_start_creates_one_key_and_publishes_it(db: Database, clock: FakeClock) -> None:
    keys = ring(db, clock)
    jwks = keys.jwks()
    assert len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
    assert "d" not in jwk and "p" not in jwk  # never the private parts
    assert jwk["kid"] == keys.current().kid
    # The private key is in the store as PEM.
    pem = db.read(lambda c: c.execute("SELECT private_pem FROM signing_keys").fetchone()[0])
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")


def test_a_second_instance_reuses_the_stored_key(db: Database, clock: FakeClock) -> None:
    first, second = ring(db, clock), ring(db, clock)
    assert first.current().kid == second.current().kid
    assert db.read(lambda c: c.execute("SELECT COUNT(*) FROM signing_keys").fetchone()[0]) == 1


def test_signed_tokens_verify_with_the_published_key(db: Database, clock: FakeClock) -> None:
    keys = ring(db, clock)
    token = keys.sign({"sub": "x"})
    header = jwt.get_unverified_header(token)
    public: Any = RSAAlgorithm.from_jwk(keys.jwks()["keys"][0])
    assert header["kid"] == keys.current().kid
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"sub": "x"}


def test_rotation_keeps_the_old_key_until_its_tokens_expired(
    db: Database, clock: FakeClock
) -> None:
    keys = ring(db, clock, retention=3900)
    old_kid = keys.current().kid
    old_token = keys.sign({"sub": "x"})
    # A distinct key for the rotation (the reused pool cycles, so skip to another one).
    new = keys.rotate()
    while new.kid == old_kid:
        new = keys.rotate()
    assert keys.current().kid == new.kid
    kids = [k["kid"] for k in keys.jwks()["keys"]]
    assert kids[0] == new.kid and old_kid in kids
    assert keys.verification_key(old_kid) is not None
    old_public: Any = keys.verification_key(jwt.get_unverified_header(old_token)["kid"])
    assert jwt.decode(old_token, old_public, algorithms=["RS256"]) == {"sub": "x"}
    clock.advance(3901)
    assert old_kid not in [k["kid"] for k in keys.jwks()["keys"]]
    assert keys.verification_key(old_kid) is None


def test_rotation_in_another_process_is_seen(db: Database, clock: FakeClock) -> None:
    here, there = ring(db, clock), ring(db, clock)
    before = here.current().kid
    rotated = there.rotate()
    while rotated.kid == before:
        rotated = there.rotate()
    token = there.sign({"sub": "y"})
    # An unknown kid makes the other instance reload the table (at most once a second)...
    clock.advance(1)
    public: Any = here.verification_key(rotated.kid)
    assert public is not None
    assert jwt.decode(token, public, algorithms=["RS256"])
    # ...and after the reload interval it signs with the new key too.
    clock.advance(11)
    assert here.current().kid == rotated.kid
