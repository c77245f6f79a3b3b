"""``clientevents users`` commands that read the data folder (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from clientevents.cli import main
from clientevents.identity.keys import KeyRing
from clientevents.identity.notifier import CodeMessage, FileNotifier
from clientevents.store.engine import Database


def test_code_prints_the_latest_code(tmp_path: Path) -> None:
    notifier = FileNotifier(tmp_path)
    notifier.deliver(CodeMessage("alice", "sign_up", "111111", None))
    notifier.deliver(CodeMessage("alice", "forgot_password", "222222", None))
    runner = CliRunner()
    result = runner.invoke(main, ["users", "code", "Alice", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output == "222222\n"
    only_sign_up = runner.invoke(
        main, ["users", "code", "alice", "--purpose", "sign_up", "--data-dir", str(tmp_path)]
    )
    assert only_sign_up.output == "111111\n"


def test_code_explains_when_there_is_none(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["users", "code", "bob", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "No confirmation code for user 'bob'" in result.output
    assert "--data-dir" in result.output


def test_admin_key_prints_a_stable_pair(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["users", "admin-key", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    lines = [line for line in first.output.splitlines() if line.startswith("AWS_")]
    assert lines[0].startswith("AWS_ACCESS_KEY_ID=AKCE")
    stored = json.loads((tmp_path / "admin-credentials.json").read_text())
    assert lines[1] == f"AWS_SECRET_ACCESS_KEY={stored['secret_access_key']}"
    again = runner.invoke(main, ["users", "admin-key", "--data-dir", str(tmp_path)])
    assert [line for line in again.output.splitlines() if line.startswith("AWS_")] == lines


def test_rotate_keys(tmp_path: Path) -> None:
    db = Database(tmp_path / "clientevents.db")
    before = KeyRing(db, retention_secs=3900).current().kid
    db.close()
    result = CliRunner().invoke(main, ["users", "rotate-keys", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"{before} stays in the JWKS" in result.output
    db = Database(tmp_path / "clientevents.db")
    ring = KeyRing(db, retention_secs=3900)
    assert ring.current().kid != before
    assert before in [k["kid"] for k in ring.jwks()["keys"]]
    db.close()


def test_rotate_keys_needs_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["users", "rotate-keys", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "There is no database" in result.output
