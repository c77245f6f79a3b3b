"""The deployment files in ``deploy/`` stay true: valid YAML, and every ``clientevents``
command line they hold (systemd ``ExecStart``, container ``command``) names a real command and
only options it has."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from clientevents.cli import main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAML_FILES = sorted([*DEPLOY.glob("*.yaml"), *DEPLOY.glob("kubernetes/*.yaml")])
UNITS = sorted(DEPLOY.glob("systemd/*.service"))


def _check_command(argv: list[str], where: str) -> str:
    """Check a ``clientevents ...`` command line against the CLI; return the command name."""
    assert Path(argv[0]).name == "clientevents", f"{where}: {argv[0]} is not clientevents"
    name = argv[1]
    command = main.commands.get(name)  # type: ignore[attr-defined]
    assert isinstance(command, click.Command), f"{where}: no command {name!r}"
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    known |= {opt for param in command.params for opt in getattr(param, "secondary_opts", [])}
    flags = [arg.split("=")[0] for arg in argv[2:] if arg.startswith("--")]
    assert flags, f"{where}: no options given"
    for flag in flags:
        assert flag in known, f"{where}: {name} has no option {flag}"
    # and click parses it (types and ranges included)
    ctx = command.make_context(name, list(argv[2:]), resilient_parsing=False)
    ctx.close()
    return name


def _commands(node: Any) -> list[list[str]]:
    """Every ``command`` list under ``node`` whose first word is clientevents."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "command" and isinstance(value, list) and value \
                    and str(value[0]).endswith("clientevents"):
                found.append([str(v) for v in value])
            else:
                found += _commands(value)
    elif isinstance(node, list):
        for item in node:
            found += _commands(item)
    return found


def test_there_are_deploy_files() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in [*YAML_FILES, *UNITS]}
    assert {"systemd/clientevents-gateway.service", "systemd/clientevents-worker.service",
            "compose.yaml", "kubernetes/gateway.yaml", "kubernetes/worker.yaml"} <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_yaml_files_parse_and_run_real_commands(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents
    commands = [c for d in documents for c in _commands(d)]
    assert commands, f"{path.name} runs no clientevents command"
    names = {_check_command(c, path.name) for c in commands}
    assert names <= {"gateway", "worker", "serve"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_units_run_real_commands(path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(path.read_text())
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    argv = shlex.split(unit["Service"]["ExecStart"])
    name = _check_command(argv, path.name)
    assert path.name == f"clientevents-{name}.service"
    assert unit["Service"]["Restart"] in ("always", "on-failure")
