"""``--json`` of the commands whose other tests read their text: parsed here."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from clientevents.cli import main
from clientevents.config import default_settings, validate_settings
from clientevents.config.loader import parse_yaml
from clientevents.identity.keys import KeyRing
from clientevents.store.engine import Database

ROOT = Path(__file__).resolve().parents[3]


def test_validate_reports_each_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("buses: [{name: b}]\nrules: [{name: r, bus: nope}]\n")
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(main, ["validate", str(ROOT / "examples" / "blueprint.yaml"),
                                       str(broken), str(missing), "--json"])
    assert result.exit_code == 2  # one file could not be read
    report = json.loads(result.stdout)
    assert report["valid"] is False
    good, bad, unreadable = report["files"]
    assert good["valid"] is True and good["defines"]["rules"] == 2
    assert bad["valid"] is False and bad["readable"] is True
    assert {p["path"] for p in bad["problems"]} == {"rules[0].event_pattern", "rules[0].targets"}
    assert unreadable["readable"] is False
    assert "the file does not exist" in unreadable["problems"][0]["message"]


def test_validate_names_the_unset_variables_first(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("region: '${env:CE_TEST_A}'\n"
                    "streams: [{name: s, api_keys: ['${env:CE_TEST_B}']}]\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first == (f"{path} needs environment variables that are not set: CE_TEST_A, "
                     "CE_TEST_B. Set them (export NAME=value) and run again.")


def test_the_full_example_needs_only_its_secrets() -> None:
    text = (ROOT / "examples" / "full.yaml").read_text()
    data, _ = parse_yaml(text)
    secrets = {"CLICKS_KEY": "k", "SMTP_PASSWORD": "p", "CLIENTEVENTS_ADMIN_SECRET_ACCESS_KEY": "s"}
    validate_settings(data, environ=secrets)  # the rest has defaults
    for name in secrets:
        assert name in text.split("account:")[0]  # and the header names each one


def test_init_admin_key_rotate_keys_and_schema(tmp_path: Path) -> None:
    runner = CliRunner()
    written = json.loads(runner.invoke(main, ["init", str(tmp_path / "c.yaml"),
                                              "--json"]).stdout)
    assert written["file"] == str(tmp_path / "c.yaml") and written["bytes"] > 1000
    key = json.loads(runner.invoke(main, ["users", "admin-key", "--data-dir", str(tmp_path),
                                          "--json"]).stdout)
    assert key["access_key_id"].startswith("AKCE") and len(key["secret_access_key"]) == 40
    with Database(tmp_path / "clientevents.db") as db:
        before = KeyRing(db, retention_secs=3900).current().kid
    rotated = json.loads(runner.invoke(main, ["users", "rotate-keys", "--data-dir",
                                              str(tmp_path), "--json"]).stdout)
    assert rotated["previous"] == before and rotated["current"] != before
    schema = json.loads(runner.invoke(main, ["config", "schema", "--json"]).stdout)
    assert schema["title"] == "clientevents configuration"
    assert default_settings().model_dump(mode="json")  # the schema's model loads the default
