"""``--json`` of the commands that work on this machine's data folder (secrets, connections,
console accounts), parsed; their text output, read the way people read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from clientevents.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "blueprint.yaml"


def _run(data: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--data-dir", str(data)], input=stdin)


def _json(data: Path, *args: str, stdin: str | None = None) -> Any:
    result = _run(data, *args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_secrets_as_json_never_show_the_value(tmp_path: Path) -> None:
    secret = '{"username": "agent@example.com", "apiToken": "tok-0123456789"}'
    stored = _json(tmp_path, "secrets", "set", "proto/zendesk", stdin=secret)
    assert stored["name"] == "proto/zendesk" and stored["replaced"] is False
    assert stored["kind"] == "json" and sorted(stored["keys"]) == ["apiToken", "username"]
    assert _json(tmp_path, "secrets", "set", "proto/zendesk", stdin=secret)["replaced"] is True
    described = _json(tmp_path, "secrets", "get", "proto/zendesk")
    assert described["size"] == len(secret) and described["key_id"] == stored["key_id"]
    [listed] = _json(tmp_path, "secrets", "list")
    assert listed["name"] == "proto/zendesk"
    table = _run(tmp_path, "secrets", "list").stdout
    assert table.splitlines()[0].split() == ["NAME", "UPDATED", "VALUE"]
    assert _json(tmp_path, "secrets", "delete", "proto/zendesk") == {"deleted": "proto/zendesk"}
    assert _json(tmp_path, "secrets", "list") == []
    everything = "".join(_run(tmp_path, *args).output for args in (
        ["secrets", "list"], ["secrets", "get", "proto/zendesk"]))
    assert "tok-0123456789" not in everything + json.dumps(stored) + json.dumps(described)


def test_connections_as_json(tmp_path: Path) -> None:
    _json(tmp_path, "secrets", "set", "proto/zendesk", stdin='{"username": "u", "apiToken": "t"}')
    config = ["--config", str(EXAMPLE)]
    [connection] = _json(tmp_path, "connections", "list", *config)
    assert connection["name"] == "zendesk" and connection["authorization_type"] == "basic"
    assert connection["state"] == "AUTHORIZING"  # the workers have not checked it yet
    described = _json(tmp_path, "connections", "describe", "zendesk", *config)
    assert described["credentials"] == {
        "username": "***", "username_source": "secret proto/zendesk, key username",
        "password": "***", "password_source": "secret proto/zendesk, key apiToken"}
    assert [d["name"] for d in described["api_destinations"]] == ["zendesk_tickets"]
    text = _run(tmp_path, "connections", "describe", "zendesk", *config).stdout
    assert "used by" in text and "(from secret proto/zendesk, key apiToken)" in text


def test_console_accounts_as_json(tmp_path: Path) -> None:
    _json(tmp_path, "secrets", "set", "x/y", stdin="v")  # creates the database
    added = _json(tmp_path, "console", "add-user", "ops", "--role", "viewer", "--password",
                  "a long passphrase")
    assert added == {"username": "ops", "role": "viewer", "updated": False}
    [user] = _json(tmp_path, "console", "list-users")
    assert user["username"] == "ops" and user["role"] == "viewer" and user["locked_until"] is None
    link = _json(tmp_path, "console", "sign-in-link", "--url", "http://127.0.0.1:8080")
    assert link["url"].startswith("http://127.0.0.1:8080/console/#signin=")
    assert link["expires_at"] > 0
    assert _json(tmp_path, "console", "remove-user", "ops") == {"removed": "ops"}
    assert _run(tmp_path, "console", "list-users").stdout.startswith("No console users yet")
