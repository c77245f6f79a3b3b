"""Where the admin key pair comes from: configuration, environment, or generated once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from clientevents.config.identity import AdminCredentials, IdentitySettings
from clientevents.errors import ConfigError
from clientevents.identity.admin import (
    ACCESS_KEY_ENV,
    ADMIN_CREDENTIALS_FILE,
    SECRET_KEY_ENV,
    admin_credentials,
)


def test_generated_once_then_reused(tmp_path: Path) -> None:
    creds, generated = admin_credentials(IdentitySettings(), tmp_path)
    assert generated
    assert len(creds.access_key_id) == 20 and len(creds.secret_access_key) == 40
    path = tmp_path / ADMIN_CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["access_key_id"] == creds.access_key_id
    again, generated_again = admin_credentials(IdentitySettings(), tmp_path)
    assert again == creds and not generated_again
    assert creds.secret_access_key not in repr(creds)


def test_environment_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    admin_credentials(IdentitySettings(), tmp_path)
    monkeypatch.setenv(ACCESS_KEY_ENV, "AKIDFROMENV")
    monkeypatch.setenv(SECRET_KEY_ENV, "secret-from-env")
    creds, generated = admin_credentials(IdentitySettings(), tmp_path)
    assert (creds.access_key_id, creds.secret_access_key, generated) == (
        "AKIDFROMENV", "secret-from-env", False
    )


def test_configuration_wins_over_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ACCESS_KEY_ENV, "AKIDFROMENV")
    monkeypatch.setenv(SECRET_KEY_ENV, "secret-from-env")
    settings = IdentitySettings(
        admin=AdminCredentials(access_key_id="AKIDCONF", secret_access_key="conf-secret")
    )
    creds, _ = admin_credentials(settings, tmp_path)
    assert creds.access_key_id == "AKIDCONF"
    assert not (tmp_path / ADMIN_CREDENTIALS_FILE).exists()


def test_half_an_environment_pair_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ACCESS_KEY_ENV, "AKIDFROMENV")
    with pytest.raises(ConfigError, match=SECRET_KEY_ENV):
        admin_credentials(IdentitySettings(), tmp_path)


def test_a_broken_file_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / ADMIN_CREDENTIALS_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="delete it"):
        admin_credentials(IdentitySettings(), tmp_path)
