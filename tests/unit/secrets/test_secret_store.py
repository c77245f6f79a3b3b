"""The encrypted secret store, its master key and redaction."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clientevents.secrets import (
    MasterKey,
    MasterKeyError,
    Redactor,
    SecretError,
    SecretNotFound,
    SecretStore,
    SecretUnreadable,
    load_master_key,
)
from clientevents.store.engine import Database

ZENDESK = '{"username": "agent@example.com/token", "apiToken": "zd-Secret-Token-42"}'


@pytest.fixture
def db(state_store: Database) -> Iterator[Database]:
    """A fresh store, on SQLite and on PostgreSQL."""
    yield state_store


def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_master_key(tmp_path, create=True, environ={})
    path = tmp_path / "secrets.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_master_key(tmp_path, environ={}).key == first.key
    assert len(first.key) == 32
    assert base64.b64encode(first.key).decode() not in repr(first)


def test_no_key_anywhere_is_an_error_naming_the_ways_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="CLIENTEVENTS_SECRETS_KEY"):
        load_master_key(tmp_path, environ={})
    assert not (tmp_path / "secrets.key").exists()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    load_master_key(tmp_path, create=True, environ={})
    os.chmod(tmp_path / "secrets.key", 0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(tmp_path, environ={})


def test_the_environment_key_wins_and_must_be_32_bytes(tmp_path: Path) -> None:
    raw = os.urandom(32)
    text = base64.b64encode(raw).decode()
    key = load_master_key(tmp_path, environ={"CLIENTEVENTS_SECRETS_KEY": text})
    assert key.key == raw and key.source == "CLIENTEVENTS_SECRETS_KEY"
    with pytest.raises(MasterKeyError, match="32 bytes"):
        load_master_key(tmp_path, environ={"CLIENTEVENTS_SECRETS_KEY": "c2hvcnQ="})
    keyfile = tmp_path / "elsewhere.key"
    keyfile.write_text(base64.b64encode(raw).decode())
    keyfile.chmod(0o600)
    from_file = load_master_key(tmp_path, environ={"CLIENTEVENTS_SECRETS_KEY_FILE": str(keyfile)})
    assert from_file.key == raw


def test_values_are_encrypted_at_rest_and_read_back_by_key(db: Database, tmp_path: Path) -> None:
    store = SecretStore(db, load_master_key(tmp_path, create=True, environ={}))
    assert store.set("proto/zendesk", ZENDESK) is False
    assert store.set("proto/zendesk", ZENDESK) is True
    assert store.value("proto/zendesk", "apiToken") == "zd-Secret-Token-42"
    assert store.value("proto/zendesk") == ZENDESK
    info = store.describe("proto/zendesk")
    assert info is not None and info.kind == "json" and info.keys == ["apiToken", "username"]
    raw = db.read(lambda conn: conn.execute("SELECT * FROM secrets").fetchall())
    assert b"zd-Secret-Token-42" not in repr(raw).encode()
    if db.dialect.name == "sqlite":
        assert b"zd-Secret-Token-42" not in db.path.read_bytes()


def test_missing_names_keys_and_non_json_secrets_are_explained(
    db: Database, tmp_path: Path
) -> None:
    store = SecretStore(db, load_master_key(tmp_path, create=True, environ={}))
    with pytest.raises(SecretNotFound, match="clientevents secrets set proto/zendesk"):
        store.value("proto/zendesk")
    store.set("proto/zendesk", ZENDESK)
    with pytest.raises(SecretNotFound, match=r"no key 'password' \(its keys: apiToken, username\)"):
        store.value("proto/zendesk", "password")
    store.set("plain", "just-text")
    with pytest.raises(SecretNotFound, match="not a JSON object"):
        store.value("plain", "username")
    with pytest.raises(SecretError, match="not a valid secret name"):
        store.set("has space", "x")
    with pytest.raises(SecretError, match="empty"):
        store.set("empty", "")


def test_another_key_or_a_moved_row_does_not_decrypt(db: Database, tmp_path: Path) -> None:
    store = SecretStore(db, load_master_key(tmp_path, create=True, environ={}))
    store.set("a", "value-of-a")
    other = SecretStore(db, MasterKey(os.urandom(32), "test"))
    with pytest.raises(SecretUnreadable, match="does not decrypt") as caught:
        other.value("a")
    assert "value-of-a" not in str(caught.value)
    # The name is bound to the ciphertext: a row copied under another name is refused.
    db.write(lambda conn: conn.execute(
        "INSERT INTO secrets SELECT 'b', nonce, ciphertext, key_id, kind, json_keys, size, "
        "created_at, updated_at FROM secrets WHERE name = 'a'"))
    with pytest.raises(SecretUnreadable):
        store.value("b")


def test_list_describe_and_delete_need_no_key(db: Database, tmp_path: Path) -> None:
    SecretStore(db, load_master_key(tmp_path, create=True, environ={})).set("a", "value-of-a")
    keyless = SecretStore(db, None)
    assert [i.name for i in keyless.list()] == ["a"]
    with pytest.raises(SecretError, match="without its master key"):
        keyless.value("a")
    assert keyless.delete("a") is True
    assert keyless.delete("a") is False


def test_the_redactor_masks_every_known_value_longest_first() -> None:
    redact = Redactor(["zd-Secret-Token-42"])
    redact.add("zd-Secret", "abc")  # too short to mask: left alone
    text = "401 for token zd-Secret-Token-42 and zd-Secret; abc"
    assert redact.redact(text) == "401 for token *** and ***; abc"
    assert len(redact) == 2
