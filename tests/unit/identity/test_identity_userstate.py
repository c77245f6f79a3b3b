"""The per-request user check's cache: read once, read again as soon as any writer changed a
user's state (another connection stands for another process), never caches a refusal."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from identity_helpers import FakeClock, login, signed_up
from store_helpers import OtherConnection

from clientevents.identity.authenticator import Authenticator
from clientevents.identity.principal import AuthError
from clientevents.identity.userpool import UserPool
from clientevents.identity.userstate import IDENTITY_CHANNEL, UserStateCache
from clientevents.store.engine import Database


def _session(pool: UserPool, tmp_path: Path, name: str = "alice") -> tuple[str, str]:
    sub = signed_up(pool, tmp_path, name, email=None)
    login(pool, name)
    (jti,) = pool.db.read(lambda c: c.execute(
        "SELECT origin_jti FROM refresh_tokens WHERE sub = ?", (sub,)).fetchone())
    return sub, jti


def _other_process(db: Database, sql: str, *params: object) -> None:
    """A write by another connection, as another process would make it; returns once this
    process could know (on PostgreSQL: its notification arrived, or half a second passed when
    the write changed no user's state)."""
    before = db.change_token(IDENTITY_CHANNEL)
    conn = OtherConnection(db)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()
    if db.dialect.name != "sqlite":
        deadline = time.monotonic() + 0.5
        while db.change_token(IDENTITY_CHANNEL) == before and time.monotonic() < deadline:
            time.sleep(0.01)


def test_a_state_is_read_once_while_nothing_changes(pool: UserPool, tmp_path: Path) -> None:
    sub, jti = _session(pool, tmp_path)
    states = UserStateCache(pool.db)
    first = states.get(sub, jti)
    assert first is not None and first.enabled and not first.revoked
    for _ in range(5):
        assert states.get(sub, jti) == first
    assert states.reads == 1


def test_another_writers_disable_and_sign_out_are_seen_on_the_next_check(
    pool: UserPool, tmp_path: Path
) -> None:
    sub, jti = _session(pool, tmp_path)
    states = UserStateCache(pool.db)
    assert states.get(sub, jti) is not None
    _other_process(pool.db, "UPDATE users SET enabled = 0 WHERE sub = ?", sub)
    disabled = states.get(sub, jti)
    assert disabled is not None and not disabled.enabled
    _other_process(pool.db, "UPDATE users SET enabled = 1 WHERE sub = ?", sub)
    assert states.get(sub, jti) is not None
    _other_process(pool.db, "UPDATE refresh_tokens SET revoked_at = 1 WHERE origin_jti = ?", jti)
    revoked = states.get(sub, jti)
    assert revoked is not None and revoked.revoked
    _other_process(pool.db, "DELETE FROM users WHERE sub = ?", sub)
    assert states.get(sub, jti) is None


def test_refusals_are_never_cached(pool: UserPool, tmp_path: Path) -> None:
    sub, jti = _session(pool, tmp_path)
    states = UserStateCache(pool.db)
    _other_process(pool.db, "UPDATE users SET enabled = 0 WHERE sub = ?", sub)
    for _ in range(3):
        state = states.get(sub, jti)
        assert state is not None and not state.enabled
    assert states.get("no-such-user", jti) is None
    assert states.reads == 4


def test_unrelated_commits_keep_the_cache(pool: UserPool, tmp_path: Path, db: Database) -> None:
    sub, jti = _session(pool, tmp_path)
    states = UserStateCache(pool.db)
    states.get(sub, jti)
    # A failed login, an event appended: other commits, but no user's state changed.
    _other_process(pool.db, "UPDATE users SET modified_at = modified_at + 1 WHERE sub = ?", sub)
    _other_process(pool.db, "INSERT INTO sign_in_failures (username_key, failures, "
                   "last_failed_at, locked_until, forget_at) VALUES ('alice', 3, 1, NULL, 9e9)")
    _other_process(pool.db, "CREATE TABLE IF NOT EXISTS other_work (v INTEGER)")
    _other_process(pool.db, "INSERT INTO other_work VALUES (1)")
    states.get(sub, jti)
    assert states.reads == 1


def test_the_cache_is_bounded(pool: UserPool, tmp_path: Path) -> None:
    sessions = [_session(pool, tmp_path, f"user{i}") for i in range(4)]
    states = UserStateCache(pool.db, max_entries=2)
    for sub, jti in sessions:
        states.get(sub, jti)
    assert len(states._states) == 2
    states.get(*sessions[-1])
    assert states.reads == 4
    with pytest.raises(ValueError, match="max_entries must be 0 or more"):
        UserStateCache(pool.db, max_entries=-1)


def test_a_sign_out_in_the_pool_reaches_a_cached_authentication(
    pool: UserPool, clock: FakeClock, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    token = login(pool)["AccessToken"]
    auth = Authenticator(user_pool=pool, clock=clock)
    asyncio.run(auth.authenticate(token))
    asyncio.run(auth.authenticate(token))
    assert auth.user_states is not None and auth.user_states.reads == 1
    pool.global_sign_out(token)
    with pytest.raises(AuthError) as caught:
        asyncio.run(auth.authenticate(token))
    assert caught.value.reason == "revoked"


def test_the_token_cache_keeps_within_its_memory_budget(
    pool: UserPool, clock: FakeClock, tmp_path: Path
) -> None:
    signed_up(pool, tmp_path)
    tokens = [login(pool)["AccessToken"] for _ in range(6)]
    one = 3 * len(tokens[0]) + 1024
    auth = Authenticator(user_pool=pool, cache_bytes=int(one * 2.5), clock=clock)
    for token in tokens:
        asyncio.run(auth.authenticate(token))
    assert len(auth._cache) == 2
    assert auth.cache_bytes <= int(one * 2.5)
    assert list(auth._cache) == tokens[-2:]  # the oldest went first
    asyncio.run(auth.authenticate(tokens[0]))  # still valid: verified again
    assert list(auth._cache) == [tokens[-1], tokens[0]]
