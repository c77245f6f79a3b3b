"""``clientevents init``: the embedded default as a commented file, generated from the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from clientevents.cli import main
from clientevents.cli.init import init_text
from clientevents.config import default_settings, load_config
from clientevents.config.annotated import commented_yaml
from clientevents.config.defaults import BLUEPRINT


def test_init_writes_a_file_validate_accepts_and_equal_to_the_default(tmp_path: Path) -> None:
    path = tmp_path / "clientevents.yaml"
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}" in result.output
    assert load_config(path) == default_settings()
    check = CliRunner().invoke(main, ["validate", str(path)])
    assert check.exit_code == 0, check.output
    text = path.read_text()
    # Commented: the header, a description above keys, defaults shown as comments.
    assert text.startswith("# clientevents configuration: the embedded default")
    assert "# Event buses.\nbuses:\n" in text
    assert "# server: {host: 127.0.0.1, port: 8080" in text


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mine\n")
    result = CliRunner().invoke(main, ["init", str(path)])
    assert result.exit_code == 1 and "--force" in result.output
    assert path.read_text() == "mine\n"
    assert CliRunner().invoke(main, ["init", str(path), "--force", "--json"]).exit_code == 0
    assert load_config(path) == default_settings()


def test_init_to_standard_output() -> None:
    result = CliRunner().invoke(main, ["init", "-"])
    assert result.exit_code == 0
    assert result.stdout == init_text()


def test_the_file_follows_the_blueprint_data(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    # Given another engineer adds a bus to the embedded default...
    changed: dict[str, Any] = {**BLUEPRINT, "buses": [*BLUEPRINT["buses"], {"name": "extra"}]}
    monkeypatch.setattr("clientevents.cli.init.BLUEPRINT", changed)
    path = tmp_path / "c.yaml"
    path.write_text(init_text())
    # ...then init writes it without a change to init.
    assert load_config(path).bus_names() == ["client_event_bus", "extra"]


@pytest.mark.parametrize("name", ["blueprint.yaml", "full.yaml"])
def test_commented_yaml_reads_back_as_the_same_data(name: str) -> None:
    root = Path(__file__).resolve().parents[3]
    data = yaml.safe_load((root / "examples" / name).read_text())
    again = yaml.safe_load(commented_yaml(data))
    assert again == data


def test_awkward_strings_survive() -> None:
    data = {"rules": [{"name": "r", "bus": "b", "description": "on: #1 \"quoted\" 'x'\tend",
                       "event_pattern": {"detail": {"k": ["yes", "2024-01-31", "a\nb"]}},
                       "targets": [{"id": "t", "type": "log", "path": "-", "input": "{}"}]}],
            "buses": [{"name": "b"}]}
    assert yaml.safe_load(commented_yaml(data)) == data
