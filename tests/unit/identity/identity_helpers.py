"""Helpers shared by the identity unit tests (a settable clock, sign-up and login shortcuts)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa

from clientevents.config.identity import UserPoolSettings
from clientevents.identity.keys import KeyRing, generate_rsa_key
from clientevents.identity.notifier import latest_code
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.userpool import UserPool
from clientevents.store.engine import Database

PASSWORD = "Passw0rd!"

T = TypeVar("T")


_KEYS = [generate_rsa_key() for _ in range(4)]
_NEXT_KEY = itertools.cycle(_KEYS)


def reused_key() -> rsa.RSAPrivateKey:
    """One of a few RSA keys made once per test run (generating one takes ~100 ms)."""
    return next(_NEXT_KEY)


class FakeClock:
    """A clock tests move by hand (epoch seconds)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, secs: float) -> None:
        self.now += secs


class CountingHasher(PasswordHasher):
    """The real Argon2id hasher (small parameters), counting its work.

    ``evaluations`` counts every hash and verification (the slow part of an answer);
    ``password_checks`` only the verifications against a real stored hash (not the decoy).
    """

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=1024)
        self.evaluations = 0
        self.password_checks = 0
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        with self._lock:
            self.evaluations += 1
        return super().hash(password)

    def verify(self, encoded: str | None, password: str) -> bool:
        with self._lock:
            self.evaluations += 1
            self.password_checks += encoded is not None
        return super().verify(encoded, password)


class CountingDatabase(Database):
    """The real database, noting for each write whether it changed rows (a commit to disk)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes: list[bool] = []

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def counted(conn: sqlite3.Connection) -> T:
            before = conn.total_changes
            result = fn(conn)
            self.writes.append(conn.total_changes > before)
            return result

        return super().write(counted)


def make_pool(
    db: Database,
    data_dir: Path,
    clock: FakeClock,
    hasher: PasswordHasher,
    **settings: object,
) -> UserPool:
    return UserPool(
        db,
        UserPoolSettings.model_validate(settings),
        data_dir=data_dir,
        hasher=hasher,
        keys=KeyRing(db, retention_secs=3900, clock=clock, new_key=reused_key),
        clock=clock,
    )


def code_for(data_dir: Path, username: str) -> str:
    """The last code the file notifier wrote for ``username``."""
    record = latest_code(data_dir, username)
    assert record is not None, f"no code was written for {username}"
    return record["code"]


def signed_up(pool: UserPool, data_dir: Path, username: str = "alice", *, confirm: bool = True,
              email: str | None = "alice@example.com") -> str:
    """Sign ``username`` up (and confirm it); return its sub."""
    attrs = [{"Name": "email", "Value": email}] if email else []
    sub: str = pool.sign_up(username, PASSWORD, attrs)["UserSub"]
    if confirm:
        pool.confirm_sign_up(username, code_for(data_dir, username))
    return sub


def login(pool: UserPool, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
    result = pool.initiate_auth(
        "USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password}
    )
    tokens: dict[str, Any] = result["AuthenticationResult"]
    return tokens
