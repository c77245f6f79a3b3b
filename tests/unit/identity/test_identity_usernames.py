"""Usernames compare with case and Unicode forms folded; files from older versions are upgraded."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from identity_helpers import PASSWORD, FakeClock, login, make_pool, signed_up

from clientevents.identity.errors import CognitoError
from clientevents.identity.passwords import PasswordHasher
from clientevents.identity.usernames import username_key
from clientevents.identity.userpool import UserPool
from clientevents.store.engine import Database


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "ALICE"),
        ("ÜNÏCØDÉ", "ünïcødé"),
        ("ünïcødé", "u\u0308ni\u0308cødé"),  # composed and decomposed accents
        ("ＡＬＩＣＥ", "alice"),  # full-width letters
        ("Straße", "STRASSE"),
        ("ǅemal", "DŽEMAL"),
    ],
)
def test_names_that_fold_together_share_a_key(one: str, other: str) -> None:
    assert username_key(one) == username_key(other)


@pytest.mark.parametrize(("one", "other"), [("alice", "alicia"), ("ünïcødé", "unicode")])
def test_different_names_keep_different_keys(one: str, other: str) -> None:
    assert username_key(one) != username_key(other)


def test_a_name_in_another_case_or_form_is_the_same_user(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, "ÜNÏCØDÉ")
    for variant in ("ünïcødé", "u\u0308ni\u0308cødé", "ÜＮÏＣØＤÉ"):
        with pytest.raises(CognitoError) as caught:
            pool.sign_up(variant, PASSWORD)
        assert caught.value.error_type == "UsernameExistsException"
        tokens = login(pool, variant)
        assert tokens["AccessToken"]
        assert pool.admin_get_user(variant)["Username"] == "ÜNÏCØDÉ"  # as signed up
    listed = pool.list_users(filter_text='username = "ünïcødé"')["Users"]
    assert [u["Username"] for u in listed] == ["ÜNÏCØDÉ"]


def test_lockout_and_codes_follow_the_key(pool: UserPool, tmp_path: Path) -> None:
    signed_up(pool, tmp_path, "ÜNÏCØDÉ")
    for variant in ("ünïcødé", "ÜNÏCØDÉ", "u\u0308ni\u0308cødé", "ünïcødé", "ÜNÏCØDÉ"):
        with pytest.raises(CognitoError):
            login(pool, variant, "Wrong-passw0rd")
    with pytest.raises(CognitoError) as caught:
        login(pool, "ünïcødé")
    assert caught.value.message == "Password attempts exceeded"


OLD_DDL = """
CREATE TABLE users (
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
CREATE TABLE codes (
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
"""


def test_a_file_from_before_username_keys_is_upgraded(
    tmp_path: Path, clock: FakeClock, fast_hasher: PasswordHasher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a file written by a version that folded only ASCII case: two users whose names
    # differ only in the case of accented letters, and a pending sign-up code
    path = tmp_path / "clientevents.db"
    password_hash = fast_hasher.hash(PASSWORD)
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_DDL)
        for sub, name, status, created in (
            ("s1", "ÜNÏCØDÉ", "CONFIRMED", 1.0),
            ("s2", "ünïcødé", "CONFIRMED", 2.0),
            ("s3", "Bob", "UNCONFIRMED", 3.0),
        ):
            conn.execute(
                "INSERT INTO users (sub, username, password_hash, status, created_at, "
                "modified_at) VALUES (?, ?, ?, ?, ?, ?)",
                (sub, name, password_hash, status, created, created),
            )
        conn.execute(
            "INSERT INTO codes (sub, purpose, code_hash, created_at, expires_at, window_start) "
            "VALUES ('s3', 'sign_up', ?, ?, ?, ?)",
            (fast_hasher.hash("123456"), clock.now, clock.now + 3600, clock.now),
        )
    conn.close()
    # When a user pool opens it
    db = Database(path)
    try:
        with caplog.at_level(logging.WARNING, logger="clientevents.identity"):
            pool = make_pool(db, tmp_path, clock, fast_hasher)
        # Then the clash is reported, each old user still signs in with its exact spelling,
        # any other spelling reaches the oldest, and the pending code still works
        assert "'ÜNÏCØDÉ', 'ünïcødé'" in caplog.text
        assert pool.admin_get_user("ÜNÏCØDÉ")["UserAttributes"][0]["Value"] == "s1"
        assert pool.admin_get_user("ünïcødé")["UserAttributes"][0]["Value"] == "s2"
        assert pool.admin_get_user("u\u0308ni\u0308cødé")["UserAttributes"][0]["Value"] == "s1"
        login(pool, "ünïcødé")
        pool.confirm_sign_up("BOB", "123456")
        login(pool, "bob")
        tables = db.read(lambda c: {r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")})
        assert "codes" not in tables
        # and opening it again changes nothing
        caplog.clear()
        make_pool(db, tmp_path, clock, fast_hasher)
        assert "'ÜNÏCØDÉ', 'ünïcødé'" in caplog.text  # still two users to sort out
    finally:
        db.close()
