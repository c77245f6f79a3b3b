"""The names the issues promise to users and to other parts of the project."""

from __future__ import annotations

import importlib

import pytest

PROMISED = {
    "clientevents.patterns": ["EventPattern", "InvalidEventPattern", "Matcher"],
    "clientevents.patterns.reference": ["reference_matches"],
    "clientevents.transform": ["InputTransformer", "TransformError", "apply_input_path"],
    "clientevents.config": ["Settings", "default_settings", "load_config"],
    "clientevents.events.publisher": ["Publisher"],
    "clientevents.log": ["EventLog"],
    "clientevents.routing": ["Router"],
    "clientevents.runtime": ["Runtime"],
    "clientevents.targets.dlq": ["DeadLetterQueue"],
    "clientevents.streams": ["StreamStore"],
    "clientevents.archive": ["Archiver", "Archives", "Replays"],
    "clientevents.identity": ["build_identity"],
    "clientevents.server.app": ["create_app"],
}


@pytest.mark.parametrize("module", sorted(PROMISED))
def test_promised_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    missing = [name for name in PROMISED[module] if not hasattr(mod, name)]
    assert missing == []


def test_errors_are_value_errors() -> None:
    from clientevents.patterns import InvalidEventPattern
    from clientevents.transform import TransformError

    assert issubclass(InvalidEventPattern, ValueError)
    assert issubclass(TransformError, ValueError)


def test_the_cli_has_every_promised_command() -> None:
    from clientevents.cli import main

    assert {"serve", "worker", "validate", "test-pattern", "dlq", "replay"} <= set(main.commands)
    assert {"list", "show", "redrive", "purge"} <= set(main.commands["dlq"].commands)  # type: ignore[attr-defined]
    assert {"start", "status", "cancel", "list"} <= set(main.commands["replay"].commands)  # type: ignore[attr-defined]
    assert {"set", "get", "list", "delete"} <= set(main.commands["secrets"].commands)  # type: ignore[attr-defined]
    assert {"list", "describe"} <= set(main.commands["connections"].commands)  # type: ignore[attr-defined]
